import { beforeAll, describe, expect, it } from 'vitest';
import { asAlice, MPI_IMAGE, NODES, onCluster, writeAliceFile, type Result } from './support/cluster.js';
import {
  containersOn,
  errorLines,
  jobDirs,
  jobName,
  jobState,
  msUntilClean,
  msUntilNoContainer,
  occupyPort,
  processes,
  runningJobId,
  scancel,
  srunInBackground,
  startDockerd,
  stopDockerd,
  waitForContainers,
} from './support/faults.js';
import { sbatch, waitForJob, waitUntil, WORK, readBatchOutput } from './support/jobs.js';
import { useCluster } from './support/use-cluster.js';

useCluster();

/**
 * Faults injected into real runs on the 3-node cluster. Every case measures how long until
 * everything was clean (no container on any node, no job directory) and prints it, so a slow
 * teardown shows in the log before it becomes a failure.
 */

const SLEEP_JOB = `${WORK}/faults-sleep.sh`;
const MPI_SLEEP_JOB = `${WORK}/faults-mpi-sleep.sh`;
// long enough that the second job's containers are up before the first job ends, even on a busy machine
const MPI_OVERLAP_JOB = `${WORK}/faults-mpi-overlap.sh`;
/** Readiness deadline for the never-ready cases: short, so a node nobody names would show as ~30 s. */
const TIMEOUT_S = 30;

function measured(fault: string, ms: number, detail = '', output = ''): void {
  console.log(`[faults] ${fault}: clean after ${(ms / 1000).toFixed(1)} s${detail ? ` — ${detail}` : ''}`);
  // what the user saw: srun-docker's errors and warnings about the fault, and Slurm's own lines
  const seen = output.split('\n').filter((l) => /^srun-docker(\[[^\]]+\])?: error|^srun: |^slurmstepd|CANCELLED| warning: (SIGTERM|the coordinator)/.test(l));
  for (const line of seen) console.log(`[faults]   | ${line}`);
}

function srunDockerArgs(script: string, extra: readonly string[] = [], image = MPI_IMAGE): string[] {
  return ['srun-docker', `--container=${image}`, `--script=${script}`, ...extra];
}

beforeAll(async () => {
  await writeAliceFile(SLEEP_JOB, '#!/bin/bash\necho "job started on $(hostname)"\nsleep 300\n');
  // the job's exit code is mpirun's, so a lost node shows in srun's exit code
  await writeAliceFile(
    MPI_SLEEP_JOB,
    '#!/bin/bash\necho "job started: hostlist=$hostlist"\nmpirun --oversubscribe -H "$hostlist" -np "$np" sleep 60\nrc=$?\necho "mpirun exited with $rc"\nexit $rc\n',
  );
  // ~25 s of MPI: every rank sleeps, then an allreduce proves all ranks were still there
  await writeAliceFile(
    MPI_OVERLAP_JOB,
    [
      '#!/bin/bash',
      'set -euo pipefail',
      'echo "job: port=$sshdport hostlist=$hostlist np=$np"',
      'exec mpirun --oversubscribe -H "$hostlist" -np "$np" python3 -c \'',
      'import time',
      'from mpi4py import MPI',
      'c = MPI.COMM_WORLD',
      'time.sleep(25)',
      'print(f"rank={c.rank} sum={c.allreduce(c.rank + 1)}", flush=True)',
      "'",
      '',
    ].join('\n'),
  );
});

describe('scancel of a running job', () => {
  it('sbatch + srun: scancel removes every container and the job directory within 20 s; the job is CANCELLED', async () => {
    const name = jobName('faults-scancel-sbatch');
    const id = await sbatch(['-J', name, '-N3', '--wrap', `srun ${srunDockerArgs(SLEEP_JOB).join(' ')}`]);
    await waitUntil('the job script to start', 90_000, async () =>
      (await readBatchOutput(id)).includes('job started') ? true : undefined,
    );
    await waitForContainers('one container on every node', 10_000);
    expect(await jobDirs()).toEqual([`${id}.0`]);

    const cancelled = Date.now();
    await scancel(id);
    const cleanMs = await msUntilClean(cancelled, 20_000);
    const job = await waitForJob(id, 60_000);
    measured('scancel (sbatch)', cleanMs, `${job.state} ${job.exitCode}:${job.signal}`, job.output);
    expect(job.state, job.output).toBe('CANCELLED');
    // every node gets the SIGTERM; the coordinator says it once for all of them
    expect(job.output.split('\n').filter((l) => l.includes('SIGTERM received')), job.output).toEqual([
      'srun-docker[node1 coordinator] warning: SIGTERM received: removing containers',
    ]);
    // what Slurm itself prints for the cancelled job and its step
    expect(job.output).toMatch(new RegExp(`\\*\\*\\* (JOB ${id}|STEP ${id}\\.0) ON node1 CANCELLED AT `));
    expect(cleanMs).toBeLessThan(20_000);
  });

  it('interactive srun: scancel of its job ends srun with 143, "Job step aborted" and STEP CANCELLED, all clean within 20 s', async () => {
    const name = jobName('faults-scancel-srun');
    const run = srunInBackground(['-J', name, '-N3', ...srunDockerArgs(SLEEP_JOB)]);
    const id = await runningJobId(name);
    await waitForContainers('one container on every node', 90_000);
    await waitUntil('the job script to start', 60_000, async () =>
      (await processes('node1')).some((p) => p.args.includes(`sleep 300`)) ? true : undefined,
    );

    const cancelled = Date.now();
    await scancel(id);
    const cleanMs = await msUntilClean(cancelled, 20_000);
    const result = await run;
    // COMPLETING while slurmd finishes the step; then its final state
    const state = await waitUntil('the job to reach its final state', 60_000, async () => {
      const now = await jobState(id);
      return now.state === 'COMPLETING' || now.state === 'RUNNING' ? undefined : now;
    });
    measured('scancel (interactive srun)', cleanMs, `srun exit ${result.exitCode}, job ${state.state} ${state.exitCode}`, result.all);
    expect(result.exitCode, result.all).toBe(143);
    expect(result.stderr).toContain('srun: Job step aborted');
    expect(result.stderr).toMatch(new RegExp(`\\*\\*\\* STEP ${id}\\.0 ON node1 CANCELLED AT `));
    expect(result.stderr).toContain('srun-docker[node1 coordinator] warning: SIGTERM received: removing containers');
    expect(result.stderr).toMatch(/srun: error: node1: task 0: Exited with exit code 143/);
    expect(state.state).toBe('CANCELLED');
    expect(cleanMs).toBeLessThan(20_000);
  });
});

describe('a worker that never becomes ready: the coordinator names it at once', () => {
  /** srun -N3 with --timeout=30; the run must fail naming node3 and leave nothing. */
  async function expectNode3Named(image: string, reason: RegExp, fault: string, nodesWithDocker: readonly string[] = NODES): Promise<Result> {
    const started = Date.now();
    const run = await asAlice(['srun', '-N3', ...srunDockerArgs(SLEEP_JOB, [`--timeout=${TIMEOUT_S}`], image)], { timeoutMs: 120_000 });
    const ranMs = Date.now() - started;
    const cleanMs = await msUntilClean(started, 10_000, nodesWithDocker);
    measured(fault, cleanMs, `srun exit ${run.exitCode} after ${(ranMs / 1000).toFixed(1)} s`, run.all);
    expect(run.exitCode, run.all).not.toBe(0);
    expect(run.stderr).toMatch(/srun: error: node1: task 0: Exited with exit code 1/);
    // exactly one readiness error, naming node3 (and only node3) and why
    const readiness = errorLines(run.stderr).filter((l) => l.includes('never became ready'));
    expect(readiness, run.all).toHaveLength(1);
    expect(readiness[0]).toMatch(/1 node\(s\) never became ready \(waited up to 30 s\): node3 \(node3 failed: /);
    expect(readiness[0]).toMatch(reason);
    expect(readiness[0]).not.toMatch(/node[12] \(/);
    // named as soon as node3 reported it: well before the deadline, never much after it
    expect(ranMs, run.all).toBeLessThan((TIMEOUT_S + 5) * 1000);
    return run;
  }

  it('(a) the image is missing on node3 only', async () => {
    const tag = 'srun-docker/mpi:only12';
    try {
      for (const node of ['node1', 'node2']) await onCluster(node, ['docker', 'tag', MPI_IMAGE, tag], { user: 'root' });
      const run = await expectNode3Named(tag, /image srun-docker\/mpi:only12 is not on this node and could not be pulled \(not present on node3/, 'image missing on node3');
      expect(errorLines(run.stderr)).toContain(
        'srun-docker[node3 worker]: error: image srun-docker/mpi:only12 is not on this node and could not be pulled (not present on node3 and --pull=never) — check the name, or load it with docker load',
      );
    } finally {
      for (const node of ['node1', 'node2']) await onCluster(node, ['docker', 'rmi', tag], { user: 'root' });
    }
  });

  /**
   * `tag` is the MPI image on every node but `without`, where its /usr/sbin/sshd is one that cannot
   * start (it says so and exits): that node's container starts, and its sshd cannot. (An image with
   * no sshd at all gets the built-in one.) The tag is removed from every node afterwards.
   */
  async function withoutSshdOn(without: string, tag: string, test: () => Promise<void>): Promise<void> {
    try {
      for (const node of NODES.filter((n) => n !== without)) await onCluster(node, ['docker', 'tag', MPI_IMAGE, tag], { user: 'root' });
      const make = await onCluster(
        without,
        [
          'sh',
          '-c',
          'docker run --name faults-nosshd --entrypoint sh "$1" -c \'printf "#!/bin/sh\\necho \\"sshd: fatal: this sshd cannot start\\" >&2\\nexit 255\\n" >/usr/sbin/sshd\' && docker commit faults-nosshd "$2" && docker rm faults-nosshd',
          'sh',
          MPI_IMAGE,
          tag,
        ],
        { user: 'root', timeoutMs: 120_000 },
      );
      expect(make.exitCode, make.all).toBe(0);
      await test();
    } finally {
      for (const node of NODES) await onCluster(node, ['docker', 'rmi', tag], { user: 'root' });
    }
  }

  it("(b) sshd cannot start on node3 (the image's sshd there fails at once)", async () => {
    await withoutSshdOn('node3', 'srun-docker/mpi:nosshd', async () => {
      await expectNode3Named('srun-docker/mpi:nosshd', /the container on node3 stopped \(sshd: sshd: fatal: this sshd cannot start\)/, 'sshd cannot start on node3');
    });
  });

  it("(b') sshd cannot start on node1, the coordinator: it says so before any job runs, nothing left", async () => {
    const tag = 'srun-docker/mpi:nosshd1';
    await withoutSshdOn('node1', tag, async () => {
      const started = Date.now();
      const run = await asAlice(['srun', '-N3', ...srunDockerArgs(SLEEP_JOB, [`--timeout=${TIMEOUT_S}`], tag)], { timeoutMs: 120_000 });
      const ranMs = Date.now() - started;
      const cleanMs = await msUntilClean(started, 10_000, NODES);
      measured('sshd cannot start on node1 (the coordinator)', cleanMs, `srun exit ${run.exitCode} after ${(ranMs / 1000).toFixed(1)} s`, run.all);
      expect(run.stderr).toMatch(/srun: error: node1: task 0: Exited with exit code 1/);
      expect(errorLines(run.stderr)).toContainEqual(expect.stringMatching(/^srun-docker\[node1 coordinator\]: error: the container on node1 stopped \(sshd: sshd: fatal: this sshd cannot start\)/));
      // the job never ran, and the coordinator did not wait for its deadline
      expect(run.all).not.toContain('job started');
      expect(ranMs, run.all).toBeLessThan(TIMEOUT_S * 1000);
    });
  });

  it("(c) node3's Docker daemon is down", async () => {
    const dockerd = await stopDockerd('node3');
    try {
      const run = await expectNode3Named(MPI_IMAGE, /Docker daemon not answering at \/var\/run\/docker\.sock/, 'Docker daemon down on node3', ['node1', 'node2']);
      expect(errorLines(run.stderr)).toContainEqual(expect.stringMatching(/^srun-docker\[node3 worker\]: error: Docker daemon not answering at \/var\/run\/docker\.sock \(.*\) — start it/));
    } finally {
      await startDockerd('node3', dockerd);
    }
    expect(await containersOn('node3')).toEqual([]);
  });
});

describe('a worker container dies while the job runs', () => {
  it('docker rm -f on node2: mpirun notices, srun exits non-zero, everything is removed', async () => {
    const name = jobName('faults-worker-dies');
    const started = Date.now();
    const run = srunInBackground(['-J', name, '-N3', ...srunDockerArgs(MPI_SLEEP_JOB)], 180_000);
    const id = await runningJobId(name);
    // every rank's `sleep 60` runs: mpirun has its daemons on all three nodes
    await waitUntil('a rank on every node', 90_000, async () => {
      const ranks = await Promise.all(NODES.map(async (n) => (await processes(n)).some((p) => p.user === 'alice' && p.args === 'sleep 60')));
      return ranks.every(Boolean) ? true : undefined;
    });
    const container = `srun-docker-alice-${id}.0`;
    expect((await containersOn('node2')).map((c) => c.name)).toEqual([container]);

    const killed = Date.now();
    const rm = await onCluster('node2', ['docker', 'rm', '-f', container], { user: 'root' });
    expect(rm.exitCode, rm.all).toBe(0);
    const result = await run;
    const endedMs = Date.now() - killed;
    const cleanMs = await msUntilClean(killed, 20_000);
    measured('worker container removed while the job ran', cleanMs, `srun exit ${result.exitCode} ${(endedMs / 1000).toFixed(1)} s after the fault (job ran ${((killed - started) / 1000).toFixed(1)} s)`, result.all);
    expect(result.exitCode, result.all).not.toBe(0);
    expect(result.stdout).toMatch(/mpirun exited with [1-9]\d*/);
    expect(result.stderr).toContain('srun-docker[node2 worker]: error: the container on node2 stopped');
    expect(result.stderr).toMatch(/srun: error: node2: task 1: Exited with exit code 1/);
    expect(result.stderr).toMatch(/srun: error: node1: task 0: Exited with exit code [1-9]/);
    expect(endedMs, 'the run ends long before the job script would have (60 s)').toBeLessThan(30_000);
  });
});

describe('the coordinator killed with SIGKILL', () => {
  it('workers leave within seconds (their channel closes), node1\'s container too (its control FIFO), cleanup finds nothing left', async () => {
    const name = jobName('faults-kill9');
    const run = srunInBackground(['-J', name, '-N3', ...srunDockerArgs(SLEEP_JOB)], 180_000);
    const id = await runningJobId(name);
    await waitForContainers('one container on every node', 90_000);
    await waitUntil('the job script to start', 60_000, async () =>
      (await processes('node1')).some((p) => p.args.includes('sleep 300')) ? true : undefined,
    );
    const coordinator = (await processes('node1')).filter(
      (p) => p.user === 'alice' && /^node \S*\/srun-docker /.test(p.args) && p.args.includes(`--script=${SLEEP_JOB}`),
    );
    expect(coordinator, 'one srun-docker process on node1').toHaveLength(1);
    const pid = coordinator[0]?.pid ?? 0;

    const killed = Date.now();
    await onCluster('node1', ['kill', '-9', String(pid)], { user: 'root' });
    const workersMs = await msUntilClean(killed, 25_000, ['node2', 'node3']);
    const node1Ms = await msUntilNoContainer('node1', killed, 30_000);
    const result = await run;
    const cleanMs = await msUntilClean(killed, 10_000);
    measured('coordinator SIGKILLed: workers + job dir', workersMs);
    measured('coordinator SIGKILLed: node1 container (control FIFO)', node1Ms, `srun exit ${result.exitCode}`, result.all);
    expect(result.stderr).toMatch(/srun: error: node1: task 0: Killed/);
    expect(result.stderr).toMatch(/srun-docker\[node[23] worker\] warning: the coordinator node1 is gone \(control channel closed\); removing this node's container and the job's keys/);
    expect(result.exitCode).not.toBe(0);
    // the kernel closes a killed process's connections: the workers hear it at once
    expect(workersMs).toBeLessThan(10_000);
    // node1's own container: its control FIFO's end (the kernel closes it for the killed process)
    expect(node1Ms).toBeLessThan(10_000);
    expect(cleanMs).toBeLessThan(15_000);
    expect((await jobState(id)).state).not.toBe('RUNNING');

    // the next run's housekeeping (here by hand, on every node) finds nothing left to remove
    const cleanup = await asAlice(['srun', '-N3', 'srun-docker', 'cleanup'], { timeoutMs: 60_000 });
    expect(cleanup.exitCode, cleanup.all).toBe(0);
    expect(cleanup.stdout.split('\n').filter((l) => l.startsWith('removed'))).toEqual(Array(3).fill('removed 0 container(s), 0 job director(y/ies)'));
  });
});

describe('two jobs of the same user on the same nodes', () => {
  it('two sbatch -N3 -n3 -c1 jobs run at the same time, both succeed, with different ports and names', async () => {
    const wrap = `srun ${srunDockerArgs(MPI_OVERLAP_JOB).join(' ')}`;
    const ids = [
      await sbatch(['-J', jobName('faults-two-a'), '-N3', '-n3', '-c1', '--wrap', wrap]),
      await sbatch(['-J', jobName('faults-two-b'), '-N3', '-n3', '-c1', '--wrap', wrap]),
    ];
    // both RUNNING at once, with two containers on every node
    await waitUntil('both jobs running', 60_000, async () => {
      const states = await Promise.all(ids.map(async (id) => (await jobState(id)).state));
      return states.every((s) => s === 'RUNNING') ? true : undefined;
    });
    await waitForContainers('two containers on every node', 60_000, 2);
    const names = await Promise.all(NODES.map(async (n) => (await containersOn(n)).map((c) => c.name).sort()));
    for (const perNode of names) expect(perNode).toEqual(ids.map((id) => `srun-docker-alice-${id}.0`).sort());

    const jobs = await Promise.all(ids.map((id) => waitForJob(id, 120_000)));
    const ports = jobs.map((job) => /^job: port=(\d+)/m.exec(job.output)?.[1]);
    console.log(`[faults] two jobs at once: ${jobs.map((j, i) => `${j.id} ${j.state} ${j.exitCode}:${j.signal} port ${ports[i] ?? '?'}`).join(', ')}`);
    for (const job of jobs) {
      expect({ state: job.state, exitCode: job.exitCode }, job.output).toEqual({ state: 'COMPLETED', exitCode: 0 });
      const sums = [...job.output.matchAll(/^rank=(\d) sum=(\d+)$/gm)].map((m) => `${m[1] ?? ''}:${m[2] ?? ''}`).sort();
      expect(sums, job.output).toEqual(['0:6', '1:6', '2:6']);
    }
    expect(ports.every((p) => p !== undefined)).toBe(true);
    expect(ports[0]).not.toBe(ports[1]);
  });

  it('--sshdport of a port taken on node2: a clear line naming the port and node2, nothing left', async () => {
    const port = 15_999;
    const release = await occupyPort('node2', port);
    try {
      const started = Date.now();
      const run = await asAlice(['srun', '-N3', ...srunDockerArgs(SLEEP_JOB, [`--sshdport=${port}`, `--timeout=${TIMEOUT_S}`])], { timeoutMs: 120_000 });
      const cleanMs = await msUntilClean(started, 10_000);
      const line = `srun-docker[node2 worker]: error: port ${port} is already in use on node2 — pass another --sshdport, or leave it out to use one derived from the job id`;
      measured('--sshdport taken on node2', cleanMs, `srun exit ${run.exitCode}`, run.all);
      expect(run.exitCode, run.all).not.toBe(0);
      expect(errorLines(run.stderr), run.all).toContain(line);
      expect(errorLines(run.stderr).find((l) => l.includes('never became ready'))).toContain(`node2 (node2 failed: port ${port} is already in use on node2`);
      expect(cleanMs).toBeLessThan(TIMEOUT_S * 1000);
    } finally {
      await release();
    }
  });
});

describe('bad input on the cluster', () => {
  it('a nonexistent image: one line from each node naming it, exit 1, nothing left', async () => {
    const started = Date.now();
    const run = await asAlice(['srun', '-N3', ...srunDockerArgs(SLEEP_JOB, [], 'srun-docker/nope:1')], { timeoutMs: 120_000 });
    const cleanMs = await msUntilClean(started, 10_000);
    measured('nonexistent image', cleanMs, `srun exit ${run.exitCode}`, run.all);
    expect(run.exitCode, run.all).toBe(1);
    // every node checks its own image before anything else, so each names itself and nothing is waited for
    const lines = errorLines(run.stderr);
    expect(new Set(lines), run.all).toEqual(
      new Set(
        ['node1 coordinator', 'node2 worker', 'node3 worker'].map(
          (where) =>
            `srun-docker[${where}]: error: image srun-docker/nope:1 is not on this node and could not be pulled (not present on ${where.split(' ')[0] ?? ''} and --pull=never) — check the name, or load it with docker load`,
        ),
      ),
    );
  });

  it('a malformed SLURM_STEP_NODELIST: one line, exit 2 on every node, nothing created', async () => {
    // srun sets SLURM_STEP_NODELIST for its tasks itself; env(1) in the task overrides it
    const started = Date.now();
    const run = await asAlice(['srun', '-N3', 'env', 'SLURM_STEP_NODELIST=node[1-', ...srunDockerArgs(SLEEP_JOB)], { timeoutMs: 60_000 });
    const cleanMs = await msUntilClean(started, 10_000);
    measured('malformed SLURM_STEP_NODELIST', cleanMs, `srun exit ${run.exitCode}`, run.all);
    expect(run.exitCode, run.all).toBe(2);
    const lines = errorLines(run.stderr);
    expect(lines, run.all).toHaveLength(3); // one per node: each task says it once
    expect(new Set(lines)).toEqual(
      new Set(['srun-docker: error: SLURM_STEP_NODELIST: malformed host list "node[1-": missing "]" at position 7 — use the SLURM form dgx[01-04,07]']),
    );
    for (const node of NODES) expect(run.stderr).toContain(`srun: error: ${node}: task`);
  });
});
