import { describe, expect, it } from 'vitest';
import { cleanupStale, STALE_JOB_MS, type CleanupInput } from '../../src/cleanup.js';
import type { ContainerFacts } from '../../src/docker/client.js';
import { jobDirFor } from '../../src/jobdir.js';
import { jobLabels, LABELS } from '../../src/labels.js';
import { FakeDocker, fakeLogger, MemoryFs } from './fakes.js';

const HOME = '/home/alice';
const NOW = 10_000_000_000;

/** A job-step container of `user` on this node, with its job dir label. */
function container(jobId: string, stepId = '0', extra: Partial<ContainerFacts> & { user?: string } = {}): ContainerFacts {
  const { user = 'alice', ...rest } = extra;
  const root = jobDirFor(HOME, jobId, stepId).root;
  return {
    id: `id-${jobId}.${stepId}`,
    name: `srun-docker-${user}-${jobId}.${stepId}`,
    running: true,
    exitCode: 0,
    labels: jobLabels({ jobId, stepId, user, node: 'n1', role: 'worker', jobDir: root }),
    createdSeconds: NOW / 1000 - 3600,
    ...rest,
  };
}

function probe(name: string, ageSeconds: number, jobId = '900'): ContainerFacts {
  const c = container(jobId);
  return { ...c, id: `probe-${name}`, name, running: false, labels: { ...c.labels, [LABELS.probe]: 'true' }, createdSeconds: NOW / 1000 - ageSeconds };
}

/** A job dir whose heartbeat was last written `ageMs` ago. */
function jobDir(fs: MemoryFs, jobId: string, ageMs: number, stepId = '0'): string {
  const dir = jobDirFor(HOME, jobId, stepId);
  fs.put(dir.heartbeat, '1\n', NOW - ageMs);
  return dir.root;
}

function setup(containers: ContainerFacts[]) {
  const docker = new FakeDocker();
  docker.containers = containers;
  const fs = new MemoryFs(() => NOW);
  const log = fakeLogger();
  const input = (o: Partial<CleanupInput> = {}): CleanupInput => ({
    docker, fs, log, user: 'alice', home: HOME, now: () => NOW, all: false, ...o,
  });
  return { docker, fs, log, input };
}

describe('cleanupStale: containers', () => {
  it('keeps a young container whose job directory is not there (yet): another job of this user starting up', async () => {
    const young = container('950', '0', { createdSeconds: NOW / 1000 - 5 });
    const old = container('951', '0', { createdSeconds: NOW / 1000 - STALE_JOB_MS / 1000 - 5 });
    const { docker, input } = setup([young, old]);
    const result = await cleanupStale(input());
    expect(result.containers).toEqual([old.name]);
    expect(docker.removed).toEqual([old.id]);
  });

  it('asks only for containers of this user', async () => {
    const { docker, input } = setup([]);
    await cleanupStale(input());
    expect(docker.listFilters).toEqual([[`${LABELS.user}=alice`]]);
  });

  it.each<[string, number | undefined, boolean]>([
    ['job dir missing → removed', undefined, true],
    ['heartbeat stale → removed', STALE_JOB_MS + 1000, true],
    ['heartbeat fresh → kept', 2000, false],
    ['heartbeat just inside the limit → kept', STALE_JOB_MS - 1000, false],
  ])('%s', async (_name, heartbeatAgeMs, removed) => {
    const { docker, fs, input } = setup([container('100')]);
    if (heartbeatAgeMs !== undefined) jobDir(fs, '100', heartbeatAgeMs);
    const result = await cleanupStale(input());
    expect(docker.removed).toEqual(removed ? ['id-100.0'] : []);
    expect(result.containers).toEqual(removed ? ['srun-docker-alice-100.0'] : []);
  });

  it('a job dir without a heartbeat file goes by the dir age', async () => {
    const { docker, fs, input } = setup([container('100'), container('101')]);
    fs.dirs.set(jobDirFor(HOME, '100', '0').root, NOW - STALE_JOB_MS - 1);
    fs.dirs.set(jobDirFor(HOME, '101', '0').root, NOW - 1000);
    await cleanupStale(input());
    expect(docker.removed).toEqual(['id-100.0']);
  });

  it("never touches the current job step's containers, even with a missing job dir", async () => {
    const { docker, input } = setup([container('100', '0'), container('100', '1'), container('101', '0')]);
    await cleanupStale(input({ keep: { jobId: '100', stepId: '0' } }));
    expect(docker.removed).toEqual(['id-100.1', 'id-101.0']);
  });

  it('current job step kept even with all', async () => {
    const { docker, fs, input } = setup([container('100'), container('101')]);
    jobDir(fs, '101', 0);
    await cleanupStale(input({ all: true, keep: { jobId: '100', stepId: '0' } }));
    expect(docker.removed).toEqual(['id-101.0']);
  });

  it.each<[number, boolean]>([[121, true], [3600, true], [119, false], [5, false]])(
    'a probe container %d s old removed: %s',
    async (age, removed) => {
      const { docker, fs, input } = setup([probe('p', age)]);
      jobDir(fs, '900', 0);
      await cleanupStale(input());
      expect(docker.removed).toEqual(removed ? ['probe-p'] : []);
    },
  );

  it('all removes every container of the user, live ones too', async () => {
    const { docker, fs, input } = setup([container('100'), container('101'), probe('p', 1)]);
    jobDir(fs, '100', 0);
    jobDir(fs, '101', 0);
    const result = await cleanupStale(input({ all: true }));
    expect(docker.removed.sort()).toEqual(['id-100.0', 'id-101.0', 'probe-p']);
    expect(result.containers).toHaveLength(3);
  });

  it("leaves another user's containers alone", async () => {
    const { docker, input } = setup([container('100', '0', { user: 'bob', id: 'bobs' })]);
    await cleanupStale(input({ all: true }));
    expect(docker.removed).toEqual([]);
  });

  it('a container without a job dir label is not judged stale', async () => {
    const c = container('100');
    const labels = Object.fromEntries(Object.entries(c.labels).filter(([k]) => k !== LABELS.jobDir));
    const { docker, input } = setup([{ ...c, labels }]);
    await cleanupStale(input());
    expect(docker.removed).toEqual([]);
  });

  it('logs each removal', async () => {
    const { log, input } = setup([container('100')]);
    await cleanupStale(input());
    expect(log.lines.info).toEqual(['removed stale container srun-docker-alice-100.0']);
  });
});

describe('cleanupStale: job directories', () => {
  it('removes stale job dirs with their keys and keeps fresh ones', async () => {
    const { fs, input, log } = setup([]);
    const stale = jobDir(fs, '100', STALE_JOB_MS + 1);
    fs.put(jobDirFor(HOME, '100', '0').clientKey, 'KEY', NOW - STALE_JOB_MS * 2);
    const fresh = jobDir(fs, '101', 1000);
    const result = await cleanupStale(input());
    expect(result.jobDirs).toEqual([stale]);
    expect(await fs.exists(stale)).toBe(false);
    expect(await fs.exists(jobDirFor(HOME, '100', '0').clientKey)).toBe(false);
    expect(await fs.exists(fresh)).toBe(true);
    expect(log.lines.info).toEqual([`removed stale job directory ${stale}`]);
  });

  it("keeps the current job step's dir; all removes the rest", async () => {
    const { fs, input } = setup([]);
    const mine = jobDir(fs, '100', STALE_JOB_MS * 10);
    const other = jobDir(fs, '101', 0);
    const result = await cleanupStale(input({ all: true, keep: { jobId: '100', stepId: '0' } }));
    expect(result.jobDirs).toEqual([other]);
    expect(await fs.exists(mine)).toBe(true);
  });

  it('nothing to do: empty result', async () => {
    const { input } = setup([]);
    expect(await cleanupStale(input())).toEqual({ containers: [], jobDirs: [] });
  });
});
