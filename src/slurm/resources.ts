/**
 * The step's CPUs and memory on this node, for the container: dockerd creates it outside the step's
 * cgroup, so SLURM's confinement does not reach it unless srun-docker hands it over.
 */

type Env = Record<string, string | undefined>;

export interface StepResources {
  /** `CpusetCpus`: this task's CPU affinity (set by SLURM's task plugin), when narrower than the node's CPUs. */
  cpuset?: string;
  /** `Memory` in bytes: the step's memory on this node. */
  memoryBytes?: number;
}

export interface ResourceFacts {
  /** This process's `Cpus_allowed_list` (/proc/self/status), when readable. */
  cpusAllowed?: string;
  /** The node's online CPUs (/sys/devices/system/cpu/online), when readable. */
  cpusOnline?: string;
  /** This node's index in the step's node list (for SLURM_STEP_TASKS_PER_NODE). */
  nodeIndex: number;
  gpuCount: number;
}

const MIB = 1024 ** 2;

/** Pure: from SLURM's variables and the facts read at the edge. */
export function stepResources(env: Env, facts: ResourceFacts): StepResources {
  const cpus = parseCpuList(facts.cpusAllowed);
  const online = parseCpuList(facts.cpusOnline);
  const narrower = cpus !== undefined && (online === undefined || cpus.length < online.length || cpus.some((c) => !online.includes(c)));
  const cpuset = narrower ? formatCpuList(cpus) : undefined;
  const memoryBytes = stepMemoryMiB(env, facts, cpus?.length);
  return { ...(cpuset !== undefined ? { cpuset } : {}), ...(memoryBytes !== undefined ? { memoryBytes: memoryBytes * MIB } : {}) };
}

/**
 * SLURM_MEM_PER_NODE; else SLURM_MEM_PER_CPU × the step's CPUs here (its tasks here × CPUs per task,
 * else SLURM_CPUS_ON_NODE, else the affinity's CPUs); else SLURM_MEM_PER_GPU × this node's GPUs. All in MiB.
 * 0 means "all of the node's memory" to SLURM: no limit.
 */
function stepMemoryMiB(env: Env, facts: ResourceFacts, affinityCpus: number | undefined): number | undefined {
  const perNode = positive(env['SLURM_MEM_PER_NODE']);
  if (perNode !== undefined) return perNode;
  const perCpu = positive(env['SLURM_MEM_PER_CPU']);
  if (perCpu !== undefined) {
    const cpus = stepCpusOnNode(env, facts.nodeIndex) ?? positive(env['SLURM_CPUS_ON_NODE']) ?? affinityCpus;
    return cpus === undefined ? undefined : perCpu * cpus;
  }
  const perGpu = positive(env['SLURM_MEM_PER_GPU']);
  return perGpu !== undefined && facts.gpuCount > 0 ? perGpu * facts.gpuCount : undefined;
}

/** This node's tasks of the step (SLURM_STEP_TASKS_PER_NODE, `2(x3),1`) × SLURM_CPUS_PER_TASK (default 1). */
function stepCpusOnNode(env: Env, nodeIndex: number): number | undefined {
  const perNode = expandTasksPerNode(env['SLURM_STEP_TASKS_PER_NODE']);
  const tasks = perNode?.[nodeIndex];
  if (tasks === undefined) return undefined;
  return tasks * (positive(env['SLURM_CPUS_PER_TASK']) ?? 1);
}

/** `2(x3),1` → [2, 2, 2, 1]; undefined when unset or malformed. */
export function expandTasksPerNode(value: string | undefined): number[] | undefined {
  if (value === undefined || value.trim() === '') return undefined;
  const out: number[] = [];
  for (const part of value.split(',')) {
    const match = /^\s*(\d+)(?:\(x(\d+)\))?\s*$/.exec(part);
    if (match === null) return undefined;
    const repeat = Number(match[2] ?? '1');
    if (repeat > 100_000) return undefined;
    for (let i = 0; i < repeat; i++) out.push(Number(match[1]));
  }
  return out;
}

/** `0-3,8,10-11` → sorted CPU numbers; undefined when unset or malformed. */
export function parseCpuList(text: string | undefined): number[] | undefined {
  if (text === undefined || text.trim() === '') return undefined;
  const cpus = new Set<number>();
  for (const part of text.trim().split(',')) {
    const match = /^(\d+)(?:-(\d+))?$/.exec(part.trim());
    if (match === null) return undefined;
    const from = Number(match[1]);
    const to = Number(match[2] ?? match[1]);
    if (to < from || to - from > 65_536) return undefined;
    for (let c = from; c <= to; c++) cpus.add(c);
  }
  return [...cpus].sort((a, b) => a - b);
}

/** [0,1,2,3,8] → `0-3,8`: the form Docker's CpusetCpus takes. */
export function formatCpuList(cpus: readonly number[]): string {
  const ranges: string[] = [];
  for (let i = 0; i < cpus.length; ) {
    let j = i;
    while (j + 1 < cpus.length && cpus[j + 1] === (cpus[j] ?? 0) + 1) j++;
    ranges.push(i === j ? String(cpus[i]) : `${cpus[i]}-${cpus[j]}`);
    i = j + 1;
  }
  return ranges.join(',');
}

/** The `Cpus_allowed_list:` line of /proc/self/status. */
export function cpusAllowedFromStatus(status: string | undefined): string | undefined {
  return /^Cpus_allowed_list:\s*(\S+)\s*$/m.exec(status ?? '')?.[1];
}

function positive(value: string | undefined): number | undefined {
  const v = value?.trim() ?? '';
  if (!/^\d+[MmGg]?$/.test(v)) return undefined;
  const n = Number.parseInt(v, 10) * (/[Gg]$/.test(v) ? 1024 : 1);
  return n > 0 ? n : undefined;
}
