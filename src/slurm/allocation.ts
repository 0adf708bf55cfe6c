/**
 * This task's place in the job, computed from the environment SLURM gives it.
 * Pure: the environment, hostname and pid are passed in.
 */
import { UsageError } from '../platform/errors.js';
import { expandHostlist } from './hostlist.js';
import { stepGpus } from './gpus.js';
import { stepResources, type StepResources } from './resources.js';

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
  /** Physical GPU ids (or UUIDs) SLURM gave this step on this node ([] when none): see slurm/gpus.ts. */
  gpus: string[];
  /** The step has GPUs here but no variable names them surely: what was looked at (the plan refuses, unless --dockopts --gpus). */
  gpusUnknown?: { count: number | undefined; looked: string };
  /** The step's CPUs and memory on this node ({} outside SLURM: a laptop run is not confined). */
  resources: StepResources;
}

export interface AllocationInput {
  env: Record<string, string | undefined>;
  hostname: string;
  pid: number;
  /** --nodelist option, compressed form allowed. */
  nodelist?: string;
  /** Read at the edge: this process's CPU affinity and the node's online CPUs (slurm/resources.ts). */
  cpus?: { allowed?: string; online?: string };
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
    ...gpusOf(env, true),
  };
  const resources = stepResources(env, {
    cpusAllowed: input.cpus?.allowed,
    cpusOnline: input.cpus?.online,
    nodeIndex: stepNodes.indexOf(nodeName),
    gpuCount: base.gpus.length,
  });
  const localId = nonEmpty(env['SLURM_LOCALID']);
  if (localId !== undefined && localId !== '0') {
    return { ...base, resources, role: 'idle', idleReason: `local task ${localId} of this node; only task 0 acts` };
  }
  return { ...base, resources, ...roleOf(nodeName, nodes) };
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
    ...gpusOf(input.env, false),
    resources: {},
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

function gpusOf(env: AllocationInput['env'], inSlurm: boolean): Pick<Allocation, 'gpus' | 'gpusUnknown'> {
  const found = stepGpus(env, inSlurm);
  if (found.kind === 'ids') return { gpus: found.ids };
  if (found.kind === 'none') return { gpus: [] };
  return { gpus: [], gpusUnknown: { count: found.count, looked: found.looked } };
}

function shortName(hostname: string): string {
  return hostname.split('.')[0] || hostname;
}

function nonEmpty(value: string | undefined): string | undefined {
  const v = value?.trim();
  return v === undefined || v === '' ? undefined : v;
}
