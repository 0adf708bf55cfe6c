import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { ALIASED_NODES, asAlice, clusterNodeNamesMode, MPI_IMAGE, NODES, writeAliceFile } from './support/cluster.js';
import { allreduceRanks, EXAMPLES, WORK } from './support/jobs.js';
import { useCluster } from './support/use-cluster.js';

useCluster();

/**
 * SLURM node names that are not host names (issue 16): under CLUSTER_NODENAMES=aliased (up.sh) the
 * nodes are NodeName=sn1..sn3 with NodeHostname=node1..node3 and NodeAddr their addresses, and no
 * /etc/hosts or DNS on the cluster, the containers' included, knows sn1..sn3. The job still gets
 * those names in its hostlist, and `ssh sn2` and `mpirun -H $hostlist` reach the right nodes through
 * the job's ssh config (HostName, HostKeyAlias), with MASTER_ADDR an address.
 */
const mode = clusterNodeNamesMode();
const why = mode === 'aliased' ? '' : ` (skipped: this cluster has ${mode} node names; CLUSTER_NODENAMES=aliased runs it)`;
if (why !== '') console.log(`[aliased] node names that are not host names${why}`);

const JOB = `${WORK}/aliased-names.sh`;
/** The job's own copy: the container sees the home (and the script's directory), not the checkout. */
const ALLREDUCE = `${WORK}/aliased-allreduce.py`;

describe.skipIf(mode !== 'aliased')(`SLURM node names that resolve nowhere${why}`, () => {
  beforeAll(async () => {
    await writeAliceFile(ALLREDUCE, readFileSync(`${EXAMPLES}/allreduce.py`, 'utf8'));
    await writeAliceFile(
      JOB,
      [
        '#!/bin/bash',
        'set -u',
        'echo "job: hostlist=$hostlist np=$np on $(hostname)"',
        'for n in sn1 sn2 sn3; do',
        '  if getent hosts "$n" >/dev/null; then echo "name $n: resolves"; else echo "name $n: unresolved"; fi',
        'done',
        // what torchrun does with it: getaddrinfo
        'python3 -c \'import socket, sys; socket.getaddrinfo(sys.argv[1], None); print("master: " + sys.argv[1] + " resolves")\' "$MASTER_ADDR" || echo "master: $MASTER_ADDR unresolved"',
        'for n in sn2 sn3; do echo "ssh $n: $(ssh "$n" hostname 2>&1)"; done',
        'echo "include: ${OMPI_MCA_btl_tcp_if_include:-none} exclude: ${OMPI_MCA_btl_tcp_if_exclude:-none}"',
        `exec mpirun --oversubscribe -H "$hostlist" -np "$np" python3 ${ALLREDUCE}`,
        '',
      ].join('\n'),
    );
  }, 60_000);

  /** The facts every run of JOB must show, whatever Open MPI was told about interfaces. */
  function expectReachedByAlias(output: string): void {
    expect(output).toContain('job: hostlist=sn1:1,sn2:1,sn3:1 np=3 on node1');
    for (const n of ALIASED_NODES) expect(output).toContain(`name ${n}: unresolved`);
    expect(output).toMatch(/^master: \d+\.\d+\.\d+\.\d+ resolves$/m);
    expect(output).toContain('ssh sn2: node2');
    expect(output).toContain('ssh sn3: node3');
    const ranks = allreduceRanks(output);
    expect(ranks.map((r) => r.rank).sort(), output).toEqual([0, 1, 2]);
    for (const r of ranks) expect(r, output).toMatchObject({ size: 3, sum: 6, ok: true });
    expect(new Set(ranks.map((r) => r.host))).toEqual(new Set(NODES));
  }

  it('srun -N3: the hostlist holds the SLURM names, ssh and mpirun reach every node by them, MASTER_ADDR resolves', async () => {
    const run = await asAlice(['srun', '-N3', 'srun-docker', `--container=${MPI_IMAGE}`, `--script=${JOB}`], { timeoutMs: 180_000 });
    expect(run.exitCode, run.all).toBe(0);
    expectReachedByAlias(run.stdout);
    expect(run.stdout).toContain('include: none exclude: lo,docker0');
    // the worker roles are named by SLURM's names too
    expect(run.stderr).not.toMatch(/error/i);
  });

  it("the user's OMPI_MCA_btl_tcp_if_include (--envlist) replaces the exclude default: no clash, the job runs", async () => {
    const run = await asAlice(
      [
        'env',
        'OMPI_MCA_btl_tcp_if_include=eth0',
        'OMPI_MCA_oob_tcp_if_include=eth0',
        'srun',
        '-N3',
        'srun-docker',
        `--container=${MPI_IMAGE}`,
        `--script=${JOB}`,
        '--envlist=OMPI_MCA_btl_tcp_if_include,OMPI_MCA_oob_tcp_if_include',
      ],
      { timeoutMs: 180_000 },
    );
    expect(run.exitCode, run.all).toBe(0);
    expectReachedByAlias(run.stdout);
    expect(run.stdout).toContain('include: eth0 exclude: none');
  });
});
