import { join, resolve } from 'node:path';
import type { Allocation } from '../slurm/allocation.js';
import { parseDockopts, type DockOptions } from './dockopts.js';
import { jobDirFor, nodeSshdConfigPath, type JobDir } from './jobdir.js';
import { defaultContainerName, jobLabels } from './labels.js';
import type { RunOptions } from './run-options.js';
import { InternalError, UsageError } from '../platform/errors.js';
import { masterPortCandidates, sshdPortCandidates } from './ports.js';

/** The original launcher's fixed port, kept for its --sshconfigdir mode (users' ~/.ssh/config names it). */
export const ORIGINAL_SSHD_PORT = 12345;

export interface HostFacts {
  cwd: string;
  user: string;
  home: string;
  env: Record<string, string | undefined>;
  /** Whether the script file has an execute bit (else it is run with bash). */
  scriptExecutable: boolean;
  /** This srun-docker process (`host:pid:start`), labelled on its containers for cleanups to tell live from crashed. */
  launcher?: string;
}

/** Everything one node will do, decided before anything is created. */
export interface LaunchPlan {
  node: string;
  role: 'coordinator' | 'worker';
  nodes: string[];
  jobId: string;
  stepId: string;
  image: string;
  jobDir: JobDir;
  port: number;
  /**
   * sshd's ports to try in order when the first is taken (ports.ts), `port` first; only `port` when
   * the user chose it (--sshdport, or --sshconfigdir's): an explicit port stays exactly that.
   */
  sshdPortCandidates: number[];
  /** MASTER_PORT's candidates for this job step; the coordinator takes the first free one on its node. */
  masterPortCandidates: number[];
  /** The first of them (what --dry-run shows). */
  masterPort: number;
  containerName: string;
  labels: Record<string, string>;
  /** The user's --sshconfigdir (original mode), or undefined for zero set-up. */
  sshconfigdir?: string;
  /** This node's sshd_config: its own in the job dir (zero set-up), or the user's. */
  sshdConfig: string;
  scriptPath: string;
  scriptCommand: string[];
  /** Directories the container must see besides the home (cwd, --sshconfigdir); the script's is decided with the image (scriptMount). */
  neededPaths: string[];
  envlist: Record<string, string>;
  dockopts: DockOptions;
  warnings: string[];
}

/** Pure: options + allocation + host facts → the plan. Throws UsageError on bad input. */
export function buildLaunchPlan(options: RunOptions, allocation: Allocation, host: HostFacts): LaunchPlan {
  if (allocation.role === 'idle') throw new InternalError('an idle task has no launch plan');
  const dockopts = parseDockopts(options.dockopts, host.env);
  const jobDir = jobDirFor(host.home, allocation.jobId, allocation.stepId);
  const sshconfigdir = options.sshconfigdir === undefined ? undefined : resolve(host.cwd, options.sshconfigdir);
  const scriptPath = resolve(host.cwd, options.script);
  const { values: envlist, missing } = envlistValues(options.envlist, host.env);
  const userGpus = (dockopts.hostConfig.DeviceRequests ?? []).length > 0;
  if (allocation.gpusUnknown !== undefined && !userGpus) throw gpusUnknownError(allocation.nodeName, allocation.gpusUnknown);
  if (!userGpus && envlist.CUDA_VISIBLE_DEVICES !== undefined && allocation.gpus.length > 0) {
    // the host's ids mean nothing inside: the container sees its GPUs as 0..n-1
    envlist.CUDA_VISIBLE_DEVICES = allocation.gpus.map((_, i) => String(i)).join(',');
  }
  const masterPorts = masterPortCandidates(allocation.jobId, allocation.stepId);
  const chosenPort = options.sshdport ?? (sshconfigdir ? ORIGINAL_SSHD_PORT : undefined);
  const sshdPorts = chosenPort === undefined ? sshdPortCandidates(allocation.jobId, allocation.stepId) : [chosenPort];
  return {
    node: allocation.nodeName,
    role: allocation.role,
    nodes: allocation.nodes,
    jobId: allocation.jobId,
    stepId: allocation.stepId,
    image: options.container,
    jobDir,
    port: sshdPorts[0] ?? ORIGINAL_SSHD_PORT,
    sshdPortCandidates: sshdPorts,
    masterPortCandidates: masterPorts,
    masterPort: masterPorts[0] ?? 0,
    containerName: options.dockname ?? defaultContainerName(host.user, allocation.jobId, allocation.stepId),
    labels: jobLabels({ ...allocation, user: host.user, node: allocation.nodeName, role: allocation.role, jobDir: jobDir.root, launcher: host.launcher }),
    sshconfigdir,
    sshdConfig: sshconfigdir ? join(sshconfigdir, 'sshd_config') : nodeSshdConfigPath(jobDir, allocation.nodeName),
    scriptPath,
    scriptCommand: host.scriptExecutable ? [scriptPath, ...options.scriptArgs] : ['bash', scriptPath, ...options.scriptArgs],
    neededPaths: [host.cwd, ...(sshconfigdir ? [sshconfigdir] : [])],
    envlist,
    dockopts,
    warnings: missing.map((name) => `--envlist names ${name}, which is not set in your environment; it is left out`),
  };
}

/** SLURM gave the step GPUs here but no variable names them surely: handing any ids over could be someone else's GPUs. */
function gpusUnknownError(node: string, unknown: NonNullable<Allocation['gpusUnknown']>): UsageError {
  const count = unknown.count === undefined ? 'GPUs' : `${unknown.count} GPU(s)`;
  return new UsageError(
    `SLURM gave this step ${count} on ${node} but no variable names which (${unknown.looked}) — ` +
      'pass --dockopts="--gpus device=ID,..." with their physical ids, or --dockopts="--gpus all" on a node that is yours alone',
  );
}

function envlistValues(names: readonly string[], env: Record<string, string | undefined>) {
  const values: Record<string, string> = {};
  const missing: string[] = [];
  for (const name of names) {
    const value = env[name];
    if (value === undefined) missing.push(name);
    else values[name] = value;
  }
  return { values, missing };
}

