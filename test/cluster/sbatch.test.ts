import { describe, expect, it } from 'vitest';
import { asAliceOk, MPI_IMAGE, NODES, onCluster, writeAliceFile } from './support/cluster.js';
import { ALLREDUCE_JOB, allreduceRanks, EXAMPLES, jobLine, sbatch, sbatchAndWait, waitForJob, waitUntil, WORK, readBatchOutput } from './support/jobs.js';
import { useCluster } from './support/use-cluster.js';

useCluster();

const SRUN_DOCKER = `srun-docker --container=${MPI_IMAGE} --script=${ALLREDUCE_JOB}`;

describe('sbatch: srun srun-docker inside a batch job', () => {
  it('sbatch -N3 --wrap "srun srun-docker ...": COMPLETED 0:0, all 3 ranks right on 3 nodes', async () => {
    const job = await sbatchAndWait(['-N3', '--wrap', `srun ${SRUN_DOCKER}`]);
    expect({ state: job.state, exitCode: job.exitCode }, job.output).toEqual({ state: 'COMPLETED', exitCode: 0 });
    expectAllreduceOnAllNodes(job.output);
  });

  it('sbatch examples/sbatch-mpi.sh: COMPLETED 0:0, all 3 ranks right on 3 nodes', async () => {
    const job = await sbatchAndWait([`--export=ALL,SRUN_DOCKER_EXAMPLES=${EXAMPLES}`, `${EXAMPLES}/sbatch-mpi.sh`]);
    expect({ state: job.state, exitCode: job.exitCode }, job.output).toEqual({ state: 'COMPLETED', exitCode: 0 });
    expectAllreduceOnAllNodes(job.output);
  });

  it('a step on part of the allocation (srun -N2 --exclude=node1): the hostlist names only its nodes', async () => {
    const job = await sbatchAndWait(['-N3', '--wrap', `srun -N2 --exclude=node1 ${SRUN_DOCKER}`]);
    expect({ state: job.state, exitCode: job.exitCode }, job.output).toEqual({ state: 'COMPLETED', exitCode: 0 });
    expect(jobLine(job.output)).toEqual({ hostlist: 'node2:1,node3:1', np: 2, nnodes: 2, host: 'node2' });
    const ranks = allreduceRanks(job.output);
    for (const r of ranks) expect(r, job.output).toMatchObject({ size: 2, sum: 3, ok: true });
    expect(new Set(ranks.map((r) => r.host))).toEqual(new Set(['node2', 'node3']));
  });
});

function expectAllreduceOnAllNodes(output: string): void {
  expect(jobLine(output), output).toMatchObject({ hostlist: 'node1:1,node2:1,node3:1', np: 3 });
  const ranks = allreduceRanks(output);
  expect(ranks.map((r) => r.rank).sort(), output).toEqual([0, 1, 2]);
  for (const r of ranks) expect(r, output).toMatchObject({ size: 3, sum: 6, ok: true });
  expect(new Set(ranks.map((r) => r.host))).toEqual(new Set(NODES));
}

describe('scancel', () => {
  it('scancel of a running batch job removes the containers on every node', async () => {
    const script = await writeAliceFile(`${WORK}/sleep.sh`, '#!/bin/bash\necho "job started"\nsleep 120\n');
    const id = await sbatch(['-N3', '--wrap', `srun srun-docker --container=${MPI_IMAGE} --script=${script}`]);
    await waitUntil('the job script to start', 90_000, async () =>
      (await readBatchOutput(id)).includes('job started') ? true : undefined,
    );
    expect(await containersPerNode(), 'one container per node while the job runs').toEqual([1, 1, 1]);
    const cancelled = Date.now();
    await asAliceOk(['scancel', id]);
    // scancel: SIGTERM, then SIGKILL after KillWait (30 s); the containers must be gone well before that
    await waitUntil('all containers removed', 30_000, async () => ((await containersPerNode()).every((n) => n === 0) ? true : undefined));
    const goneMs = Date.now() - cancelled;
    const job = await waitForJob(id, 60_000);
    expect(job.state, job.output).toBe('CANCELLED');
    expect(job.output).toMatch(/SIGTERM received: removing containers/);
    expect(goneMs, 'containers gone before KillWait').toBeLessThan(30_000);
  });
});

async function containersPerNode(): Promise<number[]> {
  return Promise.all(
    NODES.map(async (node) => {
      const ps = await onCluster(node, ['docker', 'ps', '-aq'], { user: 'root', timeoutMs: 30_000 });
      return ps.stdout.split('\n').filter((l) => l.trim() !== '').length;
    }),
  );
}
