/**
 * This task's place in the job, computed from the environment SLURM gives it.
 * Pure: the environment, hostname and pid are passed in.
 */
import { UsageError } from './errors.js';
import { expandHostlist } from './hostlist.js';

export type Role = 'coordinator' | 'worker' | 'idle';

export interface Allocation {
  /** false when SLURM_JOB_ID is unset: one-node local mode. */
  inSlurm: boolean;
  /** SLURM_JOB_ID, or `local-<pid>` outside SLURM. */
  jobId: string;
  /** SLURM_STEP_ID, or '0' (also when unset in SLURM, e.g. a batch script). */
  stepId: string;
  /** The nodes that take part, in order; nodes[0] is the coordinator. */
  nodes: string[];
  nodeName: string;
  /** 'idle' = this task does nothing and exits 0. */
  role: Role;
  idleReason?: string;
  /** GPU ids SLURM gave this node ([] when none). */
  gpus: string[];
}

export interface AllocationInput {
  env: Record<string, string | undefined>;
  hostname: string;
  pid: number;
  /** --nodelist option, compressed form allowed. */
  nodelist?: string;
}

const NODELIST_VARS = ['SLURM_STEP_NODELIST', 'SLURM_JOB_NODELIST', 'SLURM_NODELIST'] as const;

export function allocationFromEnv(input: AllocationInput): Allocation {
  const { env } = input;
  const jobId = nonEmpty(env['SLURM_JOB_ID']);
  if (jobId === undefined) return localAllocation(input);

  const { name: listVar, value: listValue } = stepNodelist(env);
  const stepNodes = expandNamed(listVar, listValue);
  const nodeName = thisNode(env, input.hostname, stepNodes);
  if (!stepNodes.includes(nodeName)) {
    throw new UsageError(
      `this node "${nodeName}" is not in ${listVar}="${listValue}" — ` +
        'run srun-docker as a task of the job (srun or sbatch) on one of its nodes',
    );
  }
  const nodes = restrict(stepNodes, input.nodelist, `${listVar}="${listValue}"`);
  const base = {
    inSlurm: true,
    jobId,
    stepId: nonEmpty(env['SLURM_STEP_ID']) ?? '0',
    nodes,
    nodeName,
    gpus: slurmGpus(env),
  };
  const localId = nonEmpty(env['SLURM_LOCALID']);
  if (localId !== undefined && localId !== '0') {
    return { ...base, role: 'idle', idleReason: `local task ${localId} of this node; only task 0 acts` };
  }
  return { ...base, ...roleOf(nodeName, nodes) };
}

/** Outside SLURM the local host is a one-node allocation, so a script can be tried on a laptop. */
function localAllocation(input: AllocationInput): Allocation {
  const nodeName = shortName(input.hostname);
  const nodes = restrict([nodeName], input.nodelist, `the local host "${nodeName}" (not in SLURM)`);
  return {
    inSlurm: false,
    jobId: `local-${input.pid}`,
    stepId: '0',
    nodes,
    nodeName,
    gpus: cudaDevices(input.env) ?? [],
    ...roleOf(nodeName, nodes),
  };
}

function stepNodelist(env: AllocationInput['env']): { name: string; value: string } {
  for (const name of NODELIST_VARS) {
    const value = nonEmpty(env[name]);
    if (value !== undefined) return { name, value };
  }
  throw new UsageError(
    `SLURM_JOB_ID is set but none of ${NODELIST_VARS.join(', ')} is — ` +
      'run srun-docker through srun or sbatch, or unset SLURM_JOB_ID to run on this host alone',
  );
}

function expandNamed(source: string, list: string): string[] {
  try {
    return expandHostlist(list);
  } catch (err) {
    if (err instanceof UsageError) throw new UsageError(`${source}: ${err.message}`, { cause: err });
    throw err;
  }
}

/** SLURMD_NODENAME is authoritative; the hostname may be a FQDN while SLURM uses the short name. */
function thisNode(env: AllocationInput['env'], hostname: string, stepNodes: string[]): string {
  const slurmd = nonEmpty(env['SLURMD_NODENAME']);
  if (slurmd !== undefined) return slurmd;
  const short = shortName(hostname);
  return !stepNodes.includes(short) && stepNodes.includes(hostname) ? hostname : short;
}

/** --nodelist keeps its own order: the user chose who coordinates. */
function restrict(stepNodes: string[], nodelist: string | undefined, stepDesc: string): string[] {
  if (nodelist === undefined) return stepNodes;
  const wanted = [...new Set(expandNamed('--nodelist', nodelist))];
  const unknown = wanted.filter((n) => !stepNodes.includes(n));
  if (unknown.length > 0) {
    throw new UsageError(
      `--nodelist names ${unknown.join(', ')}, not in this step's nodes ${stepDesc} — ` +
        'pick --nodelist from the allocated nodes',
    );
  }
  return wanted;
}

function roleOf(nodeName: string, nodes: string[]): Pick<Allocation, 'role' | 'idleReason'> {
  if (!nodes.includes(nodeName)) {
    return { role: 'idle', idleReason: `node ${nodeName} is not in --nodelist` };
  }
  return { role: nodes[0] === nodeName ? 'coordinator' : 'worker' };
}

/** SLURM_JOB_GPUS holds host GPU ids, which the Docker daemon (outside the job's cgroup) needs. */
function slurmGpus(env: AllocationInput['env']): string[] {
  const jobGpus = commaList(env['SLURM_JOB_GPUS']);
  if (jobGpus.length > 0) return jobGpus;
  const cuda = cudaDevices(env);
  if (cuda !== undefined) return cuda;
  const onNode = env['SLURM_GPUS_ON_NODE']?.trim() ?? '';
  const count = /^\d+$/.test(onNode) ? Number(onNode) : 0;
  return Array.from({ length: count }, (_, i) => String(i));
}

/** Slurm sets 'NoDevFiles' when the job has the gres but no device files. */
function cudaDevices(env: AllocationInput['env']): string[] | undefined {
  const value = env['CUDA_VISIBLE_DEVICES']?.trim();
  if (value === undefined || value === '' || value === 'NoDevFiles') return undefined;
  const ids = commaList(value);
  return ids.length > 0 ? ids : undefined;
}

function commaList(value: string | undefined): string[] {
  return (value ?? '').split(',').map((s) => s.trim()).filter((s) => s !== '');
}

function shortName(hostname: string): string {
  return hostname.split('.')[0] || hostname;
}

function nonEmpty(value: string | undefined): string | undefined {
  const v = value?.trim();
  return v === undefined || v === '' ? undefined : v;
}
