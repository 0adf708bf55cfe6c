import { join, resolve } from 'node:path';
import type { Allocation } from './allocation.js';
import { parseDockopts, type DockOptions } from './dockopts.js';
import { jobDirFor, nodeSshdConfigPath, type JobDir } from './jobdir.js';
import { defaultContainerName, jobLabels } from './labels.js';
import type { RunOptions } from './options.js';
import { defaultSshdPort, masterPort } from './ports.js';

/** The original launcher's fixed port, kept for its --sshconfigdir mode (users' ~/.ssh/config names it). */
export const ORIGINAL_SSHD_PORT = 12345;

export interface HostFacts {
  cwd: string;
  user: string;
  home: string;
  env: Record<string, string | undefined>;
  /** Whether the script file has an execute bit (else it is run with bash). */
  scriptExecutable: boolean;
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
  if (allocation.role === 'idle') throw new Error('an idle task has no launch plan');
  const dockopts = parseDockopts(options.dockopts, host.env);
  const jobDir = jobDirFor(host.home, allocation.jobId, allocation.stepId);
  const sshconfigdir = options.sshconfigdir === undefined ? undefined : resolve(host.cwd, options.sshconfigdir);
  const scriptPath = resolve(host.cwd, options.script);
  const { values: envlist, missing } = envlistValues(options.envlist, host.env);
  return {
    node: allocation.nodeName,
    role: allocation.role,
    nodes: allocation.nodes,
    jobId: allocation.jobId,
    stepId: allocation.stepId,
    image: options.container,
    jobDir,
    port: options.sshdport ?? (sshconfigdir ? ORIGINAL_SSHD_PORT : defaultSshdPort(allocation.jobId, allocation.stepId)),
    masterPort: masterPort(allocation.jobId),
    containerName: options.dockname ?? defaultContainerName(host.user, allocation.jobId, allocation.stepId),
    labels: jobLabels({ ...allocation, user: host.user, node: allocation.nodeName, role: allocation.role, jobDir: jobDir.root }),
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

