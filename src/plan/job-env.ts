import type { JobDir } from './jobdir.js';

export interface NodeSlots {
  node: string;
  slots: number;
}

export interface JobEnvInput {
  nodes: readonly NodeSlots[];
  port: number;
  masterPort: number;
  dir: JobDir;
  /** The user's --sshconfigdir in the original mode; undefined in zero set-up mode. */
  sshconfigdir?: string;
  scriptPath: string;
  scriptArgs: readonly string[];
  /** --envlist names with their values from the caller's environment. */
  envlist: Record<string, string>;
  /** PATH of the image, so the job's PATH keeps it and puts the ssh wrapper first. */
  imagePath: string;
  /** The caller is root (so is the job): Open MPI refuses root unless told it is meant. */
  asRoot?: boolean;
  /** The coordinator's address as the workers reach it (a SLURM node name need not resolve); else its node name. */
  masterAddr?: string;
}

/** Pure: every variable injected into the job script's environment. */
export function buildJobEnv(input: JobEnvInput): Record<string, string> {
  const { nodes, dir } = input;
  const zeroSetup = input.sshconfigdir === undefined;
  const envlistNames = Object.keys(input.envlist);
  return {
    ...mpiDefaults(envlistNames),
    ...(input.asRoot ? { OMPI_ALLOW_RUN_AS_ROOT: '1', OMPI_ALLOW_RUN_AS_ROOT_CONFIRM: '1' } : {}),
    ...(zeroSetup ? { PATH: `${dir.binDir}:${input.imagePath}`, OMPI_MCA_plm_rsh_agent: dir.sshWrapper } : {}),
    hostlist: hostlist(nodes),
    np: String(nodes.reduce((sum, n) => sum + n.slots, 0)),
    NNODES: String(nodes.length),
    NODE_RANK: '0',
    HOSTFILE: dir.hostfile,
    ...launcherVariables(nodes, dir),
    MASTER_ADDR: input.masterAddr ?? nodes[0]?.node ?? '',
    MASTER_PORT: String(input.masterPort),
    sshconfigdir: input.sshconfigdir ?? dir.root,
    sshdport: String(input.port),
    scriptpath: input.scriptPath,
    remainargs: input.scriptArgs.join(':'),
    ...(envlistNames.length > 0 ? { ENVLIST: envlistNames.join(',') } : {}),
    // the user's own values win over every default above
    ...input.envlist,
  };
}

/**
 * What the other launchers read: MPICH/Intel MPI's hydra picks its host file up from the environment,
 * DeepSpeed reads the Open MPI format, torchrun needs its per-node process count.
 */
function launcherVariables(nodes: readonly NodeSlots[], dir: JobDir): Record<string, string> {
  return {
    HOSTFILE_MPICH: dir.mpichHostfile,
    HYDRA_HOST_FILE: dir.mpichHostfile,
    I_MPI_HYDRA_HOST_FILE: dir.mpichHostfile,
    DEEPSPEED_HOSTFILE: dir.hostfile,
    NPROC_PER_NODE: String(nodes[0]?.slots ?? 1),
  };
}

/** Every host file the job gets, by path: Open MPI / DeepSpeed (`node slots=N`), MPICH / Intel MPI (`node:N`). */
export function hostfiles(nodes: readonly NodeSlots[], dir: JobDir): Map<string, string> {
  return new Map([
    [dir.hostfile, openMpiHostfile(nodes)],
    [dir.mpichHostfile, nodes.map((n) => `${n.node}:${n.slots}\n`).join('')],
  ]);
}

/** `node1:8,node2:8`: mpirun -H and horovodrun -H. */
export function hostlist(nodes: readonly NodeSlots[]): string {
  return nodes.map((n) => `${n.node}:${n.slots}`).join(',');
}

/** OpenMPI hostfile (also DeepSpeed's format): `node1 slots=8`. */
export function openMpiHostfile(nodes: readonly NodeSlots[]): string {
  return nodes.map((n) => `${n.node} slots=${n.slots}\n`).join('');
}

/**
 * Keep Open MPI off docker0 and loopback: host networking shows the host's bridges too. Open MPI
 * refuses an include list and an exclude list set together, so a user's own `_if_include` (passed
 * with --envlist) drops the matching exclude default.
 */
function mpiDefaults(userNames: readonly string[]): Record<string, string> {
  const defaults: Record<string, string> = {};
  for (const framework of ['btl_tcp', 'oob_tcp']) {
    if (!userNames.includes(`OMPI_MCA_${framework}_if_include`)) defaults[`OMPI_MCA_${framework}_if_exclude`] = 'lo,docker0';
  }
  return defaults;
}

/**
 * Pure: the job's variables as lines sh sources (`export K='v'`), every value quoted as it is. A name
 * sh cannot export can only be an --envlist name; those are in the container's environment already.
 */
export function jobEnvScript(env: Record<string, string>, cwd?: string): string {
  // the container may start elsewhere (node-spec.ts: a directory the daemon cannot reach); where it
  // cannot change into it, the job does not run
  const cd = cwd === undefined ? '' : `cd -- ${shellQuoted(cwd)} || exit 1\n`;
  return cd + Object.entries(env)
    .filter(([name]) => isShellName(name))
    .map(([name, value]) => `export ${name}=${shellQuoted(value)}\n`)
    .join('');
}

function shellQuoted(value: string): string {
  return `'${value.replaceAll("'", "'\\''")}'`;
}

/** A name sh can export (and sshd's SetEnv can set): letters, digits and `_`, not starting with a digit. */
export function isShellName(name: string): boolean {
  return /^[A-Za-z_][A-Za-z0-9_]*$/.test(name);
}
