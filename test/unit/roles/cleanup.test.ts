import { describe, expect, it } from 'vitest';
import { cleanupStale, type CleanupInput } from '../../../src/roles/cleanup.js';
import type { ContainerFacts } from '../../../src/docker/client.js';
import { jobDirFor } from '../../../src/plan/jobdir.js';
import { jobLabels, LABELS } from '../../../src/plan/labels.js';
import type { Liveness } from '../../../src/roles/liveness.js';
import { FakeDocker, fakeLogger, MemoryFs } from '../fakes.js';

const HOME = '/home/alice';
const NOW = 10_000_000_000;

/** Processes of this host that run (`vm:PID:START` tokens); a coordinator channel that answers, by job step. */
function liveness(alive: string[] = [], answering: string[] = [], unknown: string[] = []): Liveness & { asked: string[] } {
  const asked: string[] = [];
  return {
    asked,
    ownToken: 'vm:1:1',
    processAlive: (token) => (token.startsWith('vm:') ? alive.includes(token) : undefined),
    coordinatorAnswers: (node, jobId, stepId) => {
      asked.push(`${node}/${jobId}.${stepId}`);
      const step = `${jobId}.${stepId}`;
      return Promise.resolve(unknown.includes(step) ? undefined : answering.includes(step));
    },
  };
}

/** A job-step container of `user` on this node, made by the launcher `launcher`. */
function container(jobId: string, stepId = '0', extra: Partial<ContainerFacts> & { user?: string; launcher?: string } = {}): ContainerFacts {
  const { user = 'alice', launcher = `vm:${jobId}:1`, ...rest } = extra;
  const root = jobDirFor(HOME, jobId, stepId).root;
  return {
    id: `id-${jobId}.${stepId}`,
    name: `srun-docker-${user}-${jobId}.${stepId}`,
    running: true,
    exitCode: 0,
    labels: jobLabels({ jobId, stepId, user, node: 'n1', role: 'worker', jobDir: root, launcher }),
    createdSeconds: NOW / 1000 - 3600,
    ...rest,
  };
}

function probe(name: string, ageSeconds: number, jobId = '900'): ContainerFacts {
  const c = container(jobId);
  return { ...c, id: `probe-${name}`, name, running: false, labels: { ...c.labels, [LABELS.probe]: 'true' }, createdSeconds: NOW / 1000 - ageSeconds };
}

/** A job dir whose coordinator wrote who it is (on `node`, as process `token`). */
function jobDir(fs: MemoryFs, jobId: string, coordinator: { node: string; token: string } | undefined, stepId = '0'): string {
  const dir = jobDirFor(HOME, jobId, stepId);
  fs.put(dir.secret, 'ab\n', NOW);
  if (coordinator !== undefined) fs.put(dir.coordinator, JSON.stringify({ ...coordinator, jobId, stepId }), NOW);
  return dir.root;
}

function setup(containers: ContainerFacts[], live = liveness()) {
  const docker = new FakeDocker();
  docker.containers = containers;
  const fs = new MemoryFs(() => NOW);
  const log = fakeLogger();
  const input = (o: Partial<CleanupInput> = {}): CleanupInput => ({
    docker, fs, log, user: 'alice', home: HOME, liveness: live, now: () => NOW, all: false, jobDirs: true, ...o,
  });
  return { docker, fs, log, input };
}

describe('cleanupStale: containers', () => {
  it('removes a container whose srun-docker process is gone from this host, keeps one whose process runs', async () => {
    const { docker, input } = setup([container('100'), container('101')], liveness(['vm:101:1']));
    const result = await cleanupStale(input());
    expect(result.containers).toEqual(['srun-docker-alice-100.0']);
    expect(docker.removed).toEqual(['id-100.0']);
  });

  it('a pid that was reused by another process (another start time) is not the launcher', async () => {
    const { docker, input } = setup([container('100', '0', { launcher: 'vm:100:1' })], liveness(['vm:100:2']));
    await cleanupStale(input());
    expect(docker.removed).toEqual(['id-100.0']);
  });

  it("keeps a container made from another host (a remote daemon): its launcher cannot be asked from here", async () => {
    const { docker, input } = setup([container('100', '0', { launcher: 'login1:100:1' })]);
    await cleanupStale(input());
    expect(docker.removed).toEqual([]);
  });

  it('removes a stopped container whose launcher is gone, keeps one without a launcher label that runs', async () => {
    const c = container('101');
    const unlabelled = { ...c, labels: Object.fromEntries(Object.entries(c.labels).filter(([k]) => k !== LABELS.launcher)) };
    const { docker, input } = setup([container('100', '0', { running: false }), unlabelled], liveness([]));
    await cleanupStale(input());
    expect(docker.removed).toEqual(['id-100.0']);
  });

  it("never removes another live job's container that is created but not yet started (its launcher runs): that job would end with 137 and no output", async () => {
    const starting = container('102', '0', { running: false, createdSeconds: NOW / 1000 - 1 });
    const { docker, input } = setup([starting], liveness(['vm:102:1']));
    await cleanupStale(input());
    expect(docker.removed).toEqual([]);
  });

  it('a stopped container whose maker cannot be asked (no label, another host): removed only once older than a start may take', async () => {
    const strip = (c: ContainerFacts): ContainerFacts => ({ ...c, labels: Object.fromEntries(Object.entries(c.labels).filter(([k]) => k !== LABELS.launcher)) });
    const young = strip(container('103', '0', { running: false, createdSeconds: NOW / 1000 - 5 }));
    const old = strip(container('104', '0', { running: false, createdSeconds: NOW / 1000 - 600 }));
    const remote = container('105', '0', { running: false, launcher: 'other:5:1', createdSeconds: NOW / 1000 - 600 });
    const { docker, input } = setup([young, old, remote]);
    await cleanupStale(input());
    expect(docker.removed).toEqual(['id-104.0', 'id-105.0']);
  });

  it('asks only for containers of this user', async () => {
    const { docker, input } = setup([]);
    await cleanupStale(input());
    expect(docker.listFilters).toEqual([[`${LABELS.user}=alice`]]);
  });

  it("never touches the current job step's containers", async () => {
    const { docker, input } = setup([container('100', '0'), container('100', '1'), container('101', '0')]);
    await cleanupStale(input({ keep: { jobId: '100', stepId: '0' } }));
    expect(docker.removed).toEqual(['id-100.1', 'id-101.0']);
  });

  it('current job step kept even with all', async () => {
    const { docker, input } = setup([container('100'), container('101')], liveness(['vm:101:1']));
    await cleanupStale(input({ all: true, keep: { jobId: '100', stepId: '0' } }));
    expect(docker.removed).toEqual(['id-101.0']);
  });

  it.each<[number, boolean]>([[121, true], [3600, true], [119, false], [5, false]])(
    'a probe container %d s old removed: %s',
    async (age, removed) => {
      const { docker, input } = setup([probe('p', age)], liveness(['vm:900:1']));
      await cleanupStale(input());
      expect(docker.removed).toEqual(removed ? ['probe-p'] : []);
    },
  );

  it('all removes every container of the user, live ones too', async () => {
    const { docker, input } = setup([container('100'), container('101'), probe('p', 1)], liveness(['vm:100:1', 'vm:101:1']));
    const result = await cleanupStale(input({ all: true }));
    expect(docker.removed.sort()).toEqual(['id-100.0', 'id-101.0', 'probe-p']);
    expect(result.containers).toHaveLength(3);
  });

  it("leaves another user's containers alone", async () => {
    const { docker, input } = setup([container('100', '0', { user: 'bob', id: 'bobs' })]);
    await cleanupStale(input({ all: true }));
    expect(docker.removed).toEqual([]);
  });

  it('logs each removal', async () => {
    const { log, input } = setup([container('100')]);
    await cleanupStale(input());
    expect(log.lines.info).toEqual(['removed stale container srun-docker-alice-100.0']);
  });
});

describe('cleanupStale: job directories', () => {
  it('removes a job dir whose coordinator process on this host is gone, keeps one whose process runs', async () => {
    const { fs, input, log } = setup([], liveness(['vm:7:1']));
    const stale = jobDir(fs, '100', { node: 'n1', token: 'vm:6:1' });
    const live = jobDir(fs, '101', { node: 'n1', token: 'vm:7:1' });
    const result = await cleanupStale(input());
    expect(result.jobDirs).toEqual([stale]);
    expect(await fs.exists(jobDirFor(HOME, '100', '0').secret)).toBe(false);
    expect(await fs.exists(jobDirFor(HOME, '101', '0').secret)).toBe(true);
    expect(live).toBeDefined();
    expect(log.lines.info).toEqual([`removed stale job directory ${stale}`]);
  });

  it("asks another host's coordinator over its channel: removed when nothing answers, kept when it answers or cannot be told", async () => {
    const live = liveness([], ['101.0'], ['102.0']);
    const { fs, input } = setup([], live);
    const gone = jobDir(fs, '100', { node: 'n5', token: 'n5:1:1' });
    jobDir(fs, '101', { node: 'n5', token: 'n5:2:1' });
    jobDir(fs, '102', { node: 'n6', token: 'n6:3:1' });
    const result = await cleanupStale(input());
    expect(result.jobDirs).toEqual([gone]);
    expect(live.asked.sort()).toEqual(['n5/100.0', 'n5/101.0', 'n6/102.0']);
  });

  it('never judges a job dir by its age: one without a coordinator file (being made right now) is kept', async () => {
    const { fs, input } = setup([]);
    jobDir(fs, '100', undefined);
    expect((await cleanupStale(input())).jobDirs).toEqual([]);
  });

  it('a worker never looks at the job directories', async () => {
    const { fs, input } = setup([]);
    jobDir(fs, '100', { node: 'n1', token: 'vm:6:1' });
    expect((await cleanupStale(input({ jobDirs: false }))).jobDirs).toEqual([]);
    expect(fs.ops).toEqual([]);
  });

  it("keeps the current job step's dir; all removes the rest", async () => {
    const { fs, input } = setup([]);
    const mine = jobDir(fs, '100', { node: 'n1', token: 'vm:6:1' });
    const other = jobDir(fs, '101', { node: 'n1', token: 'vm:1:1' });
    const result = await cleanupStale(input({ all: true, keep: { jobId: '100', stepId: '0' } }));
    expect(result.jobDirs).toEqual([other]);
    expect(await fs.exists(mine)).toBe(true);
  });

  it('nothing to do: empty result', async () => {
    const { input } = setup([]);
    expect(await cleanupStale(input())).toEqual({ containers: [], jobDirs: [] });
  });
});
