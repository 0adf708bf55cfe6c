/** Every container srun-docker creates carries these, so cleanup finds leftovers by label. */
export const LABELS = {
  managed: 'srun-docker',
  job: 'srun-docker.job',
  step: 'srun-docker.step',
  user: 'srun-docker.user',
  node: 'srun-docker.node',
  role: 'srun-docker.role',
  jobDir: 'srun-docker.jobdir',
  probe: 'srun-docker.probe',
  /** The srun-docker process that made it (`host:pid:start`): a cleanup tells a live job from a crashed one by it. */
  launcher: 'srun-docker.launcher',
} as const;

export function jobLabels(input: {
  jobId: string;
  stepId: string;
  user: string;
  node: string;
  role: string;
  jobDir: string;
  launcher?: string;
}): Record<string, string> {
  return {
    [LABELS.managed]: 'true',
    [LABELS.job]: input.jobId,
    [LABELS.step]: input.stepId,
    [LABELS.user]: input.user,
    [LABELS.node]: input.node,
    [LABELS.role]: input.role,
    [LABELS.jobDir]: input.jobDir,
    ...(input.launcher === undefined ? {} : { [LABELS.launcher]: input.launcher }),
  };
}

/** Docker names allow [a-zA-Z0-9][a-zA-Z0-9_.-]*. */
export function defaultContainerName(user: string, jobId: string, stepId: string): string {
  return `srun-docker-${user}-${jobId}.${stepId}`.replace(/[^a-zA-Z0-9_.-]/g, '_');
}
