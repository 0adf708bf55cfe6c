import { describe, expect, it } from 'vitest';
import { asAlice, MPI_IMAGE, writeAliceFile } from './support/cluster.js';
import { sbatch, waitForJob, WORK } from './support/jobs.js';
import { useCluster } from './support/use-cluster.js';

useCluster();

/**
 * The container gets what SLURM gave the step (issue 16): dockerd makes it outside the step's
 * cgroup, so srun-docker hands the step's CPUs (the task plugin's affinity, TaskPlugin=task/affinity
 * on this cluster) and memory over itself. Nodes have 2 CPUs.
 */

const CPUS_SCRIPT = `${WORK}/resources/cpus.sh`;
const cpusOf = (text: string, who: string): string | undefined => new RegExp(`^${who} cpus=(\\S+)$`, 'm').exec(text)?.[1];

async function scripts(): Promise<void> {
  await writeAliceFile(
    CPUS_SCRIPT,
    [
      '#!/bin/bash',
      'echo "container cpus=$(awk \'/^Cpus_allowed_list/ {print $2}\' /proc/self/status)"',
      'echo "container memory=$(cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max)"',
      // with a rendezvous directory: wait (bounded) until the other job is running too, so the two overlap for sure
      'if [ -n "$RENDEZVOUS" ]; then',
      '  touch "$RENDEZVOUS/$SLURM_JOB_ID"',
      '  for i in $(seq 1 120); do [ "$(ls "$RENDEZVOUS" | wc -l)" -ge 2 ] && break; sleep 0.5; done',
      '  echo "rendezvous peers=$(ls "$RENDEZVOUS" | wc -l)"',
      'fi',
    ].join('\n') + '\n',
  );
}

/** The launcher's own task line and then srun-docker, in one srun task. */
const launch = (extra = ''): string =>
  `echo "task cpus=$(awk '/^Cpus_allowed_list/ {print $2}' /proc/self/status)"; ` +
  `echo "step id=\${SLURM_STEP_ID-unset} mem=\${SLURM_MEM_PER_NODE-unset}/\${SLURM_MEM_PER_CPU-unset}"; srun-docker --container=${MPI_IMAGE} --script=${CPUS_SCRIPT} ${extra}`;

describe('CPUs and memory of the step reach the container', () => {
  it('srun -c1 inside sbatch --mem=300: the container\'s cpuset is the task\'s one CPU, its memory limit 300 MiB', async () => {
    await scripts();
    // the memory variables come from the allocation: sbatch and salloc export them, a bare srun (Slurm 22.05) sets none
    const id = await sbatch(['-N1', '-w', 'node1', '-c1', '--mem=300', '--wrap', `srun bash -c '${launch().replace(/'/g, "'\\''")}'`]);
    const job = await waitForJob(id, 120_000);
    expect({ state: job.state, exitCode: job.exitCode }, job.output).toEqual({ state: 'COMPLETED', exitCode: 0 });
    const task = cpusOf(job.output, 'task');
    expect(task, job.output).toMatch(/^[01]$/); // bound to one of node1's two CPUs, not to 0-1
    expect(cpusOf(job.output, 'container'), job.output).toBe(task);
    expect(job.output).toMatch(/^step id=\d+ mem=300\/unset$/m);
    expect(job.output).toContain(`container memory=${300 * 1024 ** 2}`);
  });

  it('two 1-CPU jobs at once on one 2-CPU node: their containers get different CPUs', async () => {
    await scripts();
    const rendezvous = `${WORK}/resources/rendezvous-${Date.now()}`;
    await asAlice(['mkdir', '-p', rendezvous]);
    const submit = (): Promise<string> =>
      sbatch(['-N1', '-w', 'node1', '-c1', `--export=ALL,RENDEZVOUS=${rendezvous}`, '--wrap', `srun bash -c '${launch('--envlist=RENDEZVOUS,SLURM_JOB_ID').replace(/'/g, "'\\''")}'`]);
    const ids = [await submit(), await submit()];
    const jobs = await Promise.all(ids.map((id) => waitForJob(id, 170_000)));
    const outputs = jobs.map((j) => j.output).join('\n----\n');
    for (const job of jobs) {
      expect({ state: job.state, exitCode: job.exitCode }, job.output).toEqual({ state: 'COMPLETED', exitCode: 0 });
      expect(job.output, 'the two jobs ran at the same time').toContain('rendezvous peers=2');
      expect(cpusOf(job.output, 'container'), job.output).toBe(cpusOf(job.output, 'task'));
    }
    const cpus = jobs.map((j) => cpusOf(j.output, 'container'));
    expect(new Set(cpus).size, outputs).toBe(2);
    expect(cpus.every((c) => c === '0' || c === '1'), outputs).toBe(true);
    await asAlice(['rm', '-rf', rendezvous]);
  });

  it('the batch step has no SLURM_STEP_ID, an srun step a number (the rule for SLURM_JOB_GPUS)', async () => {
    const id = await sbatch(['-N1', '--wrap', 'echo "batch id=${SLURM_STEP_ID-unset}"; srun bash -c \'echo "srun id=${SLURM_STEP_ID-unset}"\'']);
    const job = await waitForJob(id, 60_000);
    expect(job.output).toMatch(/^batch id=unset$/m);
    expect(job.output).toMatch(/^srun id=0$/m);
  });
});
