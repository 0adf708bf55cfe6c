import { describe, expect, it } from 'vitest';
import { asAlice, MPI_IMAGE, NODES, writeAliceFile } from './support/cluster.js';
import { ALLREDUCE_JOB, allreduceRanks, jobLine, srunDocker, WORK } from './support/jobs.js';
import { useCluster } from './support/use-cluster.js';

useCluster();

describe('srun srun-docker: mpi4py allreduce across node containers', () => {
  it('runs on 3 nodes: every rank gets the right sum, one rank per node', async () => {
    const run = await srunDocker(['-N3'], [`--script=${ALLREDUCE_JOB}`, '--envlist=SRUN_DOCKER_NOT_SET']);
    expect(run.exitCode, run.all).toBe(0);
    expect(jobLine(run.stdout)).toEqual({ hostlist: 'node1:1,node2:1,node3:1', np: 3, nnodes: 3, host: 'node1' });
    const ranks = allreduceRanks(run.stdout);
    expect(ranks.map((r) => r.rank).sort(), run.all).toEqual([0, 1, 2]);
    for (const r of ranks) expect(r, run.all).toMatchObject({ size: 3, sum: 6, expected: 6, ok: true });
    expect(new Set(ranks.map((r) => r.host))).toEqual(new Set(NODES));
    // one line per fact per job: the memlock limit no daemon here can raise is said once, naming the nodes
    const memlock = run.stderr.split('\n').filter((l) => l.includes('cannot raise the memlock limit'));
    expect(memlock, run.stderr).toHaveLength(1);
    expect(memlock[0]).toMatch(/^srun-docker\[node1 coordinator\] warning: .*\(on 3 nodes: node\[1-3\]\)$/);
    // so is a warning every node finds in the options before its role begins
    const envlist = run.stderr.split('\n').filter((l) => l.includes('SRUN_DOCKER_NOT_SET'));
    expect(envlist, run.stderr).toEqual([
      'srun-docker[node1 coordinator] warning: --envlist names SRUN_DOCKER_NOT_SET, which is not set in your environment; it is left out (on 3 nodes: node[1-3])',
    ]);
  });

  it('--slots_per_node=2: np=6, two ranks on each of the 3 nodes', async () => {
    const run = await srunDocker(['-N3'], [`--script=${ALLREDUCE_JOB}`, '--slots_per_node=2']);
    expect(run.exitCode, run.all).toBe(0);
    expect(jobLine(run.stdout)).toMatchObject({ hostlist: 'node1:2,node2:2,node3:2', np: 6, nnodes: 3 });
    const ranks = allreduceRanks(run.stdout);
    expect(ranks.map((r) => r.rank).sort(), run.all).toEqual([0, 1, 2, 3, 4, 5]);
    for (const r of ranks) expect(r, run.all).toMatchObject({ size: 6, sum: 21, ok: true });
    for (const node of NODES) expect(ranks.filter((r) => r.host === node), `ranks on ${node}`).toHaveLength(2);
  });

  it('srun -N1: no workers, the coordinator runs the job alone', async () => {
    const run = await srunDocker(['-N1'], [`--script=${ALLREDUCE_JOB}`]);
    expect(run.exitCode, run.all).toBe(0);
    const job = jobLine(run.stdout);
    expect(job, run.all).toMatchObject({ np: 1, nnodes: 1 });
    expect(job?.hostlist).toBe(`${job?.host}:1`);
    expect(allreduceRanks(run.stdout), run.all).toEqual([{ rank: 0, size: 1, host: job?.host, sum: 1, expected: 1, ok: true }]);
    expect(run.stderr).not.toMatch(/waiting for \d+ worker/);
  });

  it("srun -N1, 8 jobs in a row: a script that logs in to its own node at once (as one that ssh's to every host of $hostlist does) reaches it every time", async () => {
    const job = await writeAliceFile(`${WORK}/ssh-own-node.sh`, '#!/bin/sh\nssh "${hostlist%%:*}" \'echo "own node answers: $(hostname)"\'\n');
    // one srun step after another in one shell: 8 jobs cost one round trip to the cluster
    const loop = `for i in 1 2 3 4 5 6 7 8; do srun -N1 srun-docker --container=${MPI_IMAGE} --script=${job} || echo "job $i failed: $?"; done`;
    const run = await asAlice(['bash', '-c', loop], { timeoutMs: 180_000 });
    expect(run.exitCode, run.all).toBe(0);
    expect(run.stdout.split('\n').filter((l) => l.startsWith('own node answers: ')), run.all).toHaveLength(8);
    expect(run.all).not.toMatch(/failed|refused/);
  });

  it('--nodelist=node[2-3] on a 3-node step: only node2 and node3 run, node2 coordinates', async () => {
    const run = await srunDocker(['-N3'], [`--script=${ALLREDUCE_JOB}`, '--nodelist=node[2-3]']);
    expect(run.exitCode, run.all).toBe(0);
    expect(jobLine(run.stdout)).toEqual({ hostlist: 'node2:1,node3:1', np: 2, nnodes: 2, host: 'node2' });
    const ranks = allreduceRanks(run.stdout);
    expect(ranks, run.all).toHaveLength(2);
    for (const r of ranks) expect(r, run.all).toMatchObject({ size: 2, sum: 3, ok: true });
    expect(new Set(ranks.map((r) => r.host))).toEqual(new Set(['node2', 'node3']));
    expect(run.stderr).not.toMatch(/srun-docker\[node1 /);
  });
});
