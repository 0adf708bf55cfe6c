import type Docker from 'dockerode';
import { dirname, isAbsolute, resolve } from 'node:path';
import { UsageError } from '../platform/errors.js';
import type { DockOptions } from '../plan/dockopts.js';
import { mergeHostConfig } from '../plan/dockopts.js';
import type { EngineFacts } from '../docker/engine.js';
import type { Identity } from './identity.js';
import type { StepResources } from '../slurm/resources.js';

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
  /** Directories the container must see besides the home (cwd, --sshconfigdir, the script's where the image has no such directory). */
  neededPaths: readonly string[];
  /** The script, mounted as a file (read-only) where its directory is one of the image's own: the image's directory stays the image's. */
  scriptFile?: string;
  /** The node's own files, when they are mounted (container.ts: passwd, group, the built-in ssh). */
  fileBinds: readonly string[];
  datamnts: readonly string[];
  /** K=V pairs: --envlist values; the job's own variables are added per exec. */
  env: readonly string[];
  dockopts: DockOptions;
  privileged: boolean;
  ibdevices: boolean;
  /** Physical GPU ids (or UUIDs) of this step on this node (slurm/gpus.ts). */
  gpus: readonly string[];
  /** The step's CPUs and memory on this node (slurm/resources.ts). */
  resources: StepResources;
  /** Docker or Podman, root or rootless: decides the GPU request and the user namespace. */
  engine: EngineFacts;
  labels: Record<string, string>;
  /** sshd and its watchdog (see container-command.ts). */
  command: { Entrypoint: string[]; Cmd: string[] };
  /** Default ulimits the daemon could not raise on this host: left out (and warned about once). */
  droppedDefaultUlimits: readonly string[];
}

/** Pure: the full Docker Engine API create options for one node's container. */
export function buildContainerSpec(input: ContainerSpecInput): Docker.ContainerCreateOptions {
  const { identity } = input;
  const userGpus = userGpuRequests(input.dockopts) !== undefined;
  const base: Docker.HostConfig = {
    NetworkMode: 'host',
    Binds: [
      `${identity.home}:${identity.home}`,
      ...input.fileBinds,
      ...extraBinds(identity.home, input.neededPaths, input.scriptFile),
      ...input.datamnts.map(dataMountBind),
    ],
    ShmSize: SHM_BYTES,
    // a container whose watchdog ended it leaves nothing behind
    AutoRemove: true,
    // rootless Podman drops ulimits without a word (node-container.ts warns, or refuses the user's)
    ...(input.engine.kind === 'podman' && input.engine.rootless
      ? {}
      : { Ulimits: DEFAULT_ULIMITS.filter((u) => !input.droppedDefaultUlimits.includes(u.Name ?? '')).map((u) => ({ ...u })) }),
    GroupAdd: identity.groups.map(String),
    Privileged: input.privileged,
    ...(input.ibdevices ? infinibandConfig() : {}),
    ...(userGpus ? {} : gpuConfig(input.gpus, input.engine)),
    ...resourceConfig(input.resources, input.engine, input.dockopts.hostConfig),
    ...usernsConfig(input.engine),
  };
  return {
    name: input.name,
    Image: input.image,
    User: `${identity.uid}:${identity.gid}`,
    WorkingDir: input.cwd,
    Env: containerEnv(input),
    Labels: { ...input.dockopts.labels, ...input.labels },
    // sshd under its watchdog is the container's life; the image's own entrypoint is not run
    ...input.command,
    HostConfig: mergeHostConfig(base, input.dockopts.hostConfig),
  };
}

/**
 * Pure: the variables srun-docker sets in a node's container (Docker puts them over the image's own):
 * the user's names, --envlist, the GPUs, --dockopts -e. The node's ssh sessions get them too
 * (session-shell.ts), as the container's own processes do.
 */
export function containerEnv(input: Pick<ContainerSpecInput, 'identity' | 'env' | 'dockopts' | 'gpus'>): string[] {
  const { identity } = input;
  return [
    `HOME=${identity.home}`,
    `USER=${identity.user}`,
    `LOGNAME=${identity.user}`,
    ...input.env,
    ...visibleDevicesEnv(userGpuRequests(input.dockopts), input.gpus),
    ...input.dockopts.env,
  ];
}

/** The user's --gpus, which wins over the GPUs SLURM gave (they asked for it by name). */
function userGpuRequests(dockopts: DockOptions): Docker.DeviceRequest[] | undefined {
  const requests = dockopts.hostConfig.DeviceRequests ?? [];
  return requests.length > 0 ? requests : undefined;
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

/**
 * The path of a --datamnts entry mounted read-write at its own path (`/data`, `/data:/data:rw`): a
 * mount of a directory above it, at the same path, gives the job the same files. Undefined for others.
 */
export function samePathDataMount(entry: string): string | undefined {
  const [src, dst, mode] = dataMountBind(entry).split(':');
  return src === dst && mode !== 'ro' ? src : undefined;
}

/** Mounts for needed paths outside the home (which is mounted whole), one per distinct top path; the script file where none covers it. */
function extraBinds(home: string, paths: readonly string[], scriptFile: string | undefined): string[] {
  const outside = [...new Set(paths.map((p) => resolve(p)))].filter((p) => !isWithin(p, home) && p !== '/');
  const tops = outside.filter((p) => !outside.some((q) => q !== p && isWithin(p, q)));
  const file = scriptFile === undefined || isWithin(scriptFile, home) || tops.some((t) => isWithin(scriptFile, t)) ? [] : [`${scriptFile}:${scriptFile}:ro`];
  return [...tops.map((p) => `${p}:${p}`), ...file];
}

/** Whether `path` is `dir` or below it. */
export function isWithin(path: string, dir: string): boolean {
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

/** Docker: the NVIDIA device request. Podman: its CDI names (`nvidia.com/gpu=4`), which its compatible API takes as driver "cdi". */
function gpuConfig(gpus: readonly string[], engine: EngineFacts): Docker.HostConfig {
  if (gpus.length === 0) return {};
  if (engine.kind === 'podman') return { DeviceRequests: [{ Driver: 'cdi', DeviceIDs: gpus.map((id) => `nvidia.com/gpu=${id}`) }] };
  return { DeviceRequests: [gpuRequest(gpus)] };
}

/**
 * NVIDIA_VISIBLE_DEVICES names the same GPUs as the request (the NVIDIA runtime reads it, and an
 * image's own `all` must not hand a node's every GPU to a step that has none: `void`). With the
 * user's --gpus it follows theirs. CUDA_VISIBLE_DEVICES is left unset: the container sees only its
 * GPUs, numbered from 0.
 */
function visibleDevicesEnv(userRequests: Docker.DeviceRequest[] | undefined, gpus: readonly string[]): string[] {
  if (userRequests === undefined) return [`NVIDIA_VISIBLE_DEVICES=${gpus.length > 0 ? gpus.join(',') : 'void'}`];
  const ids = userRequests.flatMap((r) => r.DeviceIDs ?? []);
  if (ids.length > 0) return [`NVIDIA_VISIBLE_DEVICES=${ids.join(',')}`];
  return userRequests.some((r) => r.Count === -1) ? ['NVIDIA_VISIBLE_DEVICES=all'] : [];
}

/**
 * The step's cpuset and memory, each unless the user's --dockopts sets it (they win in the merge)
 * or the engine cannot apply it (node-container.ts says so once). Swap is not more than memory, as
 * SLURM's own cgroup allows none by default.
 */
function resourceConfig(resources: StepResources, engine: EngineFacts, user: Docker.HostConfig): Docker.HostConfig {
  const config: Docker.HostConfig = {};
  if (resources.cpuset !== undefined && engine.cpuset) config.CpusetCpus = resources.cpuset;
  if (resources.memoryBytes !== undefined && engine.memoryLimit && user.Memory === undefined) {
    config.Memory = resources.memoryBytes;
    config.MemorySwap = resources.memoryBytes;
  }
  return config;
}

/**
 * Files the job writes into the home must be the user's on the host. Rootless Podman: keep-id maps
 * the user's uid to itself. A root daemon with userns-remap: the host's user namespace for this
 * container. Rootless Docker: its root is the user, so the container runs as 0:0 (identity-map.ts).
 */
function usernsConfig(engine: EngineFacts): Docker.HostConfig {
  if (engine.kind === 'podman' && engine.rootless) return { UsernsMode: 'keep-id' };
  if (engine.usernsRemap && !engine.rootless) return { UsernsMode: 'host' };
  return {};
}

/**
 * Where the script is reachable in the container. A path the image has itself (`--script=/bin/bash`,
 * `/usr/bin/python3`) is the image's own: nothing is mounted, the image's program runs (a host's
 * binary would need the host's libraries). Else its directory, unless the image has a directory of
 * that name: then the file alone, so that `/usr/local/bin/train.sh` does not hide the image's
 * /usr/local/bin.
 */
export function scriptMount(scriptPath: string, inImage: { file: boolean; dir: boolean }): { neededPaths: string[]; scriptFile?: string } {
  if (inImage.file) return { neededPaths: [] };
  return inImage.dir ? { neededPaths: [], scriptFile: scriptPath } : { neededPaths: [dirname(scriptPath)] };
}
