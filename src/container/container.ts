import type Docker from 'dockerode';
import { dirname, join } from 'node:path';
import { LaunchError } from '../platform/errors.js';
import type { ContainerFile, ContainerFiles, DockerClient, ImageFacts, PullEvent } from '../docker/client.js';
import { firstLine } from '../docker/dockerode-client.js';
import { ImageNotFoundError } from '../docker/errors.js';
import type { FileSystem } from '../platform/fs.js';
import { mergeGroup, mergePasswd, type Identity } from './identity.js';
import type { Logger } from '../platform/log.js';
import type { PullPolicy } from '../plan/run-options.js';
import { LABELS } from '../plan/labels.js';
import { builtinBind } from '../ssh/builtin.js';

/** The image present locally (pulled when the policy allows), with its config, and whether it was pulled. */
export async function ensureImage(
  docker: DockerClient,
  image: string,
  policy: PullPolicy,
  onProgress: (event: PullEvent) => void,
  node: string,
): Promise<{ facts: ImageFacts; pulled: boolean }> {
  const present = policy === 'always' ? undefined : await docker.inspectImage(image);
  if (present !== undefined) return { facts: present, pulled: false };
  if (policy === 'never') throw new ImageNotFoundError(image, `not present on ${node} and --pull=never`);
  await docker.pullImage(image, onProgress);
  const pulled = await docker.inspectImage(image);
  if (pulled === undefined) throw new ImageNotFoundError(image, 'the pull finished but the image is not there');
  return { facts: pulled, pulled: true };
}

/**
 * How a node's own files (its passwd and group, the built-in ssh) reach its container: bind-mounted
 * from the job directory and the package, or written into the created container by the daemon
 * (putFiles). Mounting costs nothing at the start; writing in costs the daemon a mount of the
 * container's file system (~50 ms), but needs nothing on the host: a root daemon cannot reach a file
 * in the 0700 job directory, or a package in the home, on NFS exported with root_squash (the default).
 */
export type FileDelivery = 'mount' | 'put';

/** The node's files either way: what putFiles writes, and the `host:container:ro` binds of the same. */
export interface NodeFiles {
  put: ContainerFiles[];
  binds: string[];
}

/**
 * Pure: the binds of a node's own files when they are mounted: its passwd and group from its private
 * folder (where prepareNode writes them), the built-in ssh from this host when it is used.
 */
export function ownFileBinds(privateDir: string, builtinPath: string | undefined): string[] {
  const etc = USER_FILE_NAMES.map((name) => `${join(privateDir, name)}:/etc/${name}:ro`);
  return builtinPath === undefined ? etc : [...etc, builtinBind(builtinPath)];
}

/** The files userFiles makes, by their names in /etc. */
const USER_FILE_NAMES = ['passwd', 'group'] as const;

/** Whether a failed start was the daemon unable to reach one of these bind sources (it names the path). */
export function mountOfOwnFailed(error: unknown, binds: readonly string[]): boolean {
  const message = startErrorText(error);
  return binds.some((bind) => message.includes(bind.split(':')[0] ?? bind));
}

/** A failed start's words, its cause's too (where the daemon's answer is). */
export function startErrorText(error: unknown): string {
  return error instanceof Error ? `${error.message} ${error.cause instanceof Error ? error.cause.message : ''}` : String(error);
}

/** /etc/passwd and /etc/group for the container: the image's own entries plus the caller's. */
export async function userFiles(docker: DockerClient, image: ImageRef, identity: Identity, fs: FileSystem, labels: Record<string, string>): Promise<(ContainerFile & { content: string })[]> {
  const files = await imageUserFiles(docker, image, fs, labels);
  const content = { passwd: mergePasswd(files.passwd, identity), group: mergeGroup(files.group, identity) };
  return USER_FILE_NAMES.map((name) => ({ name, content: content[name], mode: 0o644 }));
}

export interface ImageRef {
  name: string;
  /** Content-addressed: the same id is the same /etc/passwd, on every node and in every job. */
  id: string;
  /** Where the image's entries are kept once read (the user's own, on the shared home). */
  cacheDir: string;
}

/**
 * The image's own passwd and group, read once per image id (a throwaway container is created and
 * removed to read them, ~0.2 s) and then taken from the cache by every node and later job.
 */
async function imageUserFiles(docker: DockerClient, image: ImageRef, fs: FileSystem, labels: Record<string, string>) {
  const dir = join(image.cacheDir, image.id.replace(/[^a-zA-Z0-9]/g, '_'));
  const [passwd, group] = await Promise.all([fs.readFile(join(dir, 'passwd')), fs.readFile(join(dir, 'group'))]);
  if (passwd !== undefined && group !== undefined) return { passwd, group };
  const files = await docker.readImageFiles(image.name, ['/etc/passwd', '/etc/group'], { ...labels, [LABELS.probe]: 'true' });
  const read = { passwd: files.get('/etc/passwd') ?? '', group: files.get('/etc/group') ?? '' };
  await fs.mkdir(dir, 0o700);
  await Promise.all([fs.writeFile(join(dir, 'passwd'), read.passwd, 0o600), fs.writeFile(join(dir, 'group'), read.group, 0o600)]);
  return read;
}

/**
 * Which of `paths` the image has, looked up without running it (a throwaway container, created and
 * removed, ~0.2 s) once per image id and path, then taken from the cache beside its passwd.
 */
export async function imagePaths(docker: DockerClient, image: ImageRef, paths: readonly string[], fs: FileSystem, labels: Record<string, string>): Promise<Set<string>> {
  const file = join(image.cacheDir, image.id.replace(/[^a-zA-Z0-9]/g, '_'), 'paths.json');
  const cached = parseCache(await fs.readFile(file));
  const unknown = paths.filter((p) => cached[p] === undefined);
  if (unknown.length > 0) {
    const found = await docker.imagePathsPresent(image.name, unknown, { ...labels, [LABELS.probe]: 'true' });
    for (const p of unknown) cached[p] = found.has(p);
    await fs.mkdir(dirname(file), 0o700);
    await fs.writeFile(file, JSON.stringify(cached), 0o600);
  }
  return new Set(paths.filter((p) => cached[p] === true));
}

function parseCache(text: string | undefined): Record<string, boolean> {
  try {
    const parsed: unknown = JSON.parse(text ?? '{}');
    return typeof parsed === 'object' && parsed !== null ? (parsed as Record<string, boolean>) : {};
  } catch {
    return {};
  }
}

/**
 * A container of the same name from an earlier run of this user is stale (names are unique per job
 * step) and is removed; someone else's container of that name is never touched.
 */
export async function removeStaleNamed(docker: DockerClient, name: string, user: string, log: Logger): Promise<void> {
  const existing = await docker.inspectContainer(name);
  if (existing === undefined) return;
  if (existing.labels[LABELS.user] !== user) {
    throw new LaunchError(`a container named ${name} already exists and was not started by srun-docker for ${user} — pass another --dockname`);
  }
  log.info(`removing stale container ${name} (job ${existing.labels[LABELS.job] ?? '?'})`);
  await docker.removeContainer(existing.id);
}

const RLIMIT_NAMES: Record<string, string> = { '3': 'stack', '8': 'memlock' };

/** Default limits this node's daemon could not raise before, and how to remember new ones. */
export interface LimitMemory {
  known: readonly string[];
  remember: (dropped: readonly string[]) => Promise<void>;
}

function cannotRaise(limit: string): string {
  return (
    `the Docker daemon cannot raise the ${limit} limit here; containers start with the daemon's ${limit} limit ` +
    `(to set one that fits: --dockopts="--ulimit ${limit}=SOFT:HARD", or raise the daemon's LimitMEMLOCK/LimitSTACK)`
  );
}

/**
 * Creates and starts the container. Where the daemon cannot raise a default limit (rootless engines,
 * hosts whose hard memlock limit is fixed) the container is recreated without that default and one
 * warning says so; a limit the user asked for is never dropped.
 */
export async function createAndStart(
  docker: DockerClient,
  build: (droppedDefaults: readonly string[]) => Docker.ContainerCreateOptions,
  explicitUlimits: readonly string[],
  warnOnce: (key: string, message: string) => void,
  limits: LimitMemory = { known: [], remember: async () => undefined },
  /** Runs between create and start, on each container made (the coordinator attaches to its own). */
  beforeStart: (id: string) => Promise<void> = async () => undefined,
): Promise<string> {
  // defaults this daemon refused in an earlier run are left out at once: no failed start each time
  const dropped = limits.known.filter((name) => !explicitUlimits.includes(name));
  dropped.forEach((limit) => warnOnce(`ulimit-${limit}`, cannotRaise(limit)));
  for (;;) {
    const id = await docker.createContainer(build(dropped));
    try {
      await beforeStart(id);
      await docker.startContainer(id);
      if (dropped.some((name) => !limits.known.includes(name))) await limits.remember(dropped);
      return id;
    } catch (error) {
      await docker.removeContainer(id);
      const message = error instanceof Error ? error.message : String(error);
      const limit = failedRlimit(message);
      if (limit === undefined) throw new LaunchError(`container did not start: ${firstLine(message)}`, { cause: error });
      if (explicitUlimits.includes(limit)) {
        throw new LaunchError(
          `the --dockopts ulimit ${limit} cannot be applied by the Docker daemon on this node (${firstLine(message)}) — lower it, or have the daemon's limit raised`,
          { cause: error },
        );
      }
      if (dropped.includes(limit)) throw new LaunchError(`container did not start: ${firstLine(message)}`, { cause: error });
      dropped.push(limit);
      warnOnce(`ulimit-${limit}`, cannotRaise(limit));
    }
  }
}

function failedRlimit(message: string): string | undefined {
  const match = /rlimit type (\d+)/.exec(message);
  if (match?.[1] !== undefined) return RLIMIT_NAMES[match[1]];
  if (/rlimit/i.test(message)) return 'memlock';
  return undefined;
}
