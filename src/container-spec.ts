import type Docker from 'dockerode';
import { dirname, isAbsolute, resolve } from 'node:path';
import { UsageError } from './errors.js';
import type { DockOptions } from './dockopts.js';
import { mergeHostConfig } from './dockopts.js';
import type { Identity } from './identity.js';

export const SHM_BYTES = 1024 ** 3;
export const STACK_BYTES = 64 * 1024 ** 2;

/** The original launcher's defaults: GPU/RDMA jobs need unlimited locked memory and a big stack. */
export const DEFAULT_ULIMITS: readonly Docker.Ulimit[] = [
  { Name: 'memlock', Soft: -1, Hard: -1 },
  { Name: 'stack', Soft: STACK_BYTES, Hard: STACK_BYTES },
];

export interface ContainerSpecInput {
  name: string;
  image: string;
  identity: Identity;
  cwd: string;
  passwdFile: string;
  groupFile: string;
  /** Directories the container must see besides the home (cwd, --sshconfigdir, the script's where the image has no such directory). */
  neededPaths: readonly string[];
  /** The script, mounted as a file (read-only) where its directory is one of the image's own: the image's directory stays the image's. */
  scriptFile?: string;
  /** More read-only binds (the built-in ssh: ssh/builtin.ts). */
  extraBinds?: readonly string[];
  datamnts: readonly string[];
  /** K=V pairs: --envlist values; the job's own variables are added per exec. */
  env: readonly string[];
  dockopts: DockOptions;
  privileged: boolean;
  ibdevices: boolean;
  gpus: readonly string[];
  labels: Record<string, string>;
  /** sshd and its watchdog (see container-command.ts). */
  command: { Entrypoint: string[]; Cmd: string[] };
  /** Default ulimits the daemon could not raise on this host: left out (and warned about once). */
  droppedDefaultUlimits: readonly string[];
}

/** Pure: the full Docker Engine API create options for one node's container. */
export function buildContainerSpec(input: ContainerSpecInput): Docker.ContainerCreateOptions {
  const { identity } = input;
  const base: Docker.HostConfig = {
    NetworkMode: 'host',
    Binds: [
      `${identity.home}:${identity.home}`,
      `${input.passwdFile}:/etc/passwd:ro`,
      `${input.groupFile}:/etc/group:ro`,
      ...extraBinds(identity.home, input.neededPaths, input.scriptFile),
      ...(input.extraBinds ?? []),
      ...input.datamnts.map(dataMountBind),
    ],
    ShmSize: SHM_BYTES,
    // a container whose watchdog ended it leaves nothing behind
    AutoRemove: true,
    Ulimits: DEFAULT_ULIMITS.filter((u) => !input.droppedDefaultUlimits.includes(u.Name ?? '')).map((u) => ({ ...u })),
    GroupAdd: identity.groups.map(String),
    Privileged: input.privileged,
    ...(input.ibdevices ? infinibandConfig() : {}),
    ...(input.gpus.length > 0 ? { DeviceRequests: [gpuRequest(input.gpus)] } : {}),
  };
  return {
    name: input.name,
    Image: input.image,
    User: `${identity.uid}:${identity.gid}`,
    WorkingDir: input.cwd,
    Env: [`HOME=${identity.home}`, `USER=${identity.user}`, `LOGNAME=${identity.user}`, ...input.env, ...input.dockopts.env],
    Labels: { ...input.dockopts.labels, ...input.labels },
    // sshd under its watchdog is the container's life; the image's own entrypoint is not run
    ...input.command,
    HostConfig: mergeHostConfig(base, input.dockopts.hostConfig),
  };
}

/** --datamnts entries: `/data` (same path inside), `src:dst` or `src:dst:ro`. */
export function dataMountBind(entry: string): string {
  const parts = entry.split(':');
  const [src, dst, mode] = parts;
  if (src === undefined || !isAbsolute(src) || parts.length > 3 || (dst !== undefined && !isAbsolute(dst))) {
    throw new UsageError(`--datamnts entry "${entry}" is not an absolute path or src:dst[:ro] — e.g. --datamnts=/data,/scratch:/scratch:ro`);
  }
  if (mode !== undefined && mode !== 'ro' && mode !== 'rw') {
    throw new UsageError(`--datamnts entry "${entry}": mode must be ro or rw`);
  }
  return [src, dst ?? src, ...(mode ? [mode] : [])].join(':');
}

/** Mounts for needed paths outside the home (which is mounted whole), one per distinct top path; the script file where none covers it. */
function extraBinds(home: string, paths: readonly string[], scriptFile: string | undefined): string[] {
  const outside = [...new Set(paths.map((p) => resolve(p)))].filter((p) => !isWithin(p, home) && p !== '/');
  const tops = outside.filter((p) => !outside.some((q) => q !== p && isWithin(p, q)));
  const file = scriptFile === undefined || isWithin(scriptFile, home) || tops.some((t) => isWithin(scriptFile, t)) ? [] : [`${scriptFile}:${scriptFile}:ro`];
  return [...tops.map((p) => `${p}:${p}`), ...file];
}

function isWithin(path: string, dir: string): boolean {
  return path === dir || path.startsWith(dir.endsWith('/') ? dir : `${dir}/`);
}

function infinibandConfig(): Docker.HostConfig {
  return {
    CapAdd: ['IPC_LOCK'],
    Devices: [{ PathOnHost: '/dev/infiniband', PathInContainer: '/dev/infiniband', CgroupPermissions: 'rwm' }],
  };
}

/** The GPUs SLURM gave this node, by id, through the NVIDIA container runtime's device request. */
export function gpuRequest(gpus: readonly string[]): Docker.DeviceRequest {
  return { Driver: 'nvidia', DeviceIDs: [...gpus], Capabilities: [['gpu']] };
}

/**
 * Where the script is reachable in the container: its directory, unless the image has a directory of
 * that name (then the file alone, so that `--script=/bin/true` does not hide the image's /bin).
 */
export function scriptMount(scriptPath: string, dirInImage: boolean): { neededPaths: string[]; scriptFile?: string } {
  return dirInImage ? { neededPaths: [], scriptFile: scriptPath } : { neededPaths: [dirname(scriptPath)] };
}
