/**
 * Which physical GPUs SLURM gave this step on this node. dockerd runs outside the step's cgroup, so
 * whatever ids it is handed are the GPUs the container gets, whoever owns them: only ids that are
 * surely this step's on this node are used, never ids made up from a count.
 */

type Env = Record<string, string | undefined>;

export type StepGpus =
  /** Physical ids (or UUIDs), and the variable they were read from. */
  | { kind: 'ids'; ids: string[]; from: string }
  | { kind: 'none' }
  /** The step has GPUs here but no variable names them surely: what was looked at, for the error line. */
  | { kind: 'unknown'; count: number | undefined; looked: string };

/**
 * SLURM_STEP_GPUS (this step's physical ids on this node) first. SLURM_JOB_GPUS only in the batch or
 * interactive step, where the job's GPUs on this node are the step's: srun copies the batch host's
 * value into every task of a step, where it names another node's GPUs, or the whole job's.
 * CUDA_VISIBLE_DEVICES only when it cannot be ConstrainDevices' renumbering (0..n-1): UUIDs, or ids
 * that are not 0..n-1. Outside SLURM, CUDA_VISIBLE_DEVICES is the user's own choice of physical ids.
 */
export function stepGpus(env: Env, inSlurm: boolean): StepGpus {
  const cuda = cudaDevices(env);
  if (!inSlurm) return cuda === undefined ? { kind: 'none' } : { kind: 'ids', ids: cuda, from: 'CUDA_VISIBLE_DEVICES' };
  const step = commaList(env['SLURM_STEP_GPUS']);
  if (step.length > 0) return { kind: 'ids', ids: step, from: 'SLURM_STEP_GPUS' };
  const job = commaList(env['SLURM_JOB_GPUS']);
  if (job.length > 0 && isBatchOrInteractiveStep(env)) return { kind: 'ids', ids: job, from: 'SLURM_JOB_GPUS' };
  if (cuda !== undefined && !mayBeRenumbered(cuda)) return { kind: 'ids', ids: cuda, from: 'CUDA_VISIBLE_DEVICES' };
  const onNode = count(env['SLURM_GPUS_ON_NODE']);
  if (cuda === undefined && (onNode ?? 0) === 0) return { kind: 'none' };
  return { kind: 'unknown', count: onNode ?? cuda?.length, looked: lookedAt(env) };
}

/**
 * The batch step and salloc's interactive step have no SLURM_STEP_ID (slurmstepd sets it only for
 * numbered steps; their reserved ids are negative as an int), srun's steps a number. Some tools set
 * the names themselves, and a reserved id may show as its unsigned value (0xfffffff0 and up).
 */
export function isBatchOrInteractiveStep(env: Env): boolean {
  const id = env['SLURM_STEP_ID']?.trim() ?? '';
  if (id === '' || id === 'batch' || id === 'interactive') return true;
  return /^\d+$/.test(id) && Number(id) >= 0xfffffff0 && Number(id) !== 0xfffffffc; // 0xfffffffc: extern
}

/** ConstrainDevices renumbers to exactly 0..n-1; anything else is not its work. */
function mayBeRenumbered(ids: readonly string[]): boolean {
  return ids.every((id, index) => id === String(index));
}

/** Slurm sets 'NoDevFiles' when the job has the gres but no device files. */
function cudaDevices(env: Env): string[] | undefined {
  const value = env['CUDA_VISIBLE_DEVICES']?.trim();
  if (value === undefined || value === '' || value === 'NoDevFiles') return undefined;
  const ids = commaList(value);
  return ids.length > 0 ? ids : undefined;
}

function lookedAt(env: Env): string {
  const shown = (name: string): string => `${name}=${env[name] === undefined ? '(unset)' : `"${env[name] ?? ''}"`}`;
  return ['SLURM_STEP_GPUS', 'SLURM_JOB_GPUS', 'SLURM_STEP_ID', 'CUDA_VISIBLE_DEVICES', 'SLURM_GPUS_ON_NODE'].map(shown).join(' ');
}

function count(value: string | undefined): number | undefined {
  const v = value?.trim() ?? '';
  return /^\d+$/.test(v) ? Number(v) : undefined;
}

function commaList(value: string | undefined): string[] {
  return (value ?? '').split(',').map((s) => s.trim()).filter((s) => s !== '');
}
