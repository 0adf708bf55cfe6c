import { describe, expect, it } from 'vitest';
import { mountsToWiden, ownTop } from '../../../src/container/reachable.js';
import { ROOT_DOCKER } from '../../../src/docker/engine.js';
import { nodeContainerSpec } from '../../../src/container/node-spec.js';
import { buildLaunchPlan } from '../../../src/plan/plan.js';
import { aliceIdentity, runOptions } from '../fakes.js';

const ALICE = 1000;
const owners: Record<string, number> = { '/': 0, '/scratch': 0, '/scratch/alice': ALICE, '/scratch/alice/proj': ALICE, '/scratch/alice/proj/run': ALICE, '/data': 0, '/data/shared': 0 };
const ownerOf = (path: string): Promise<number | undefined> => Promise.resolve(owners[path]);

describe('ownTop: the highest directory of the user above a path', () => {
  it('walks up while the directories are the user\'s', async () => {
    expect(await ownTop('/scratch/alice/proj/run', ALICE, ownerOf)).toBe('/scratch/alice');
    expect(await ownTop('/scratch/alice', ALICE, ownerOf)).toBe('/scratch/alice');
  });

  it("a path in a directory that is not the user's stays where it is", async () => {
    expect(await ownTop('/data/shared/x', ALICE, ownerOf)).toBe('/data/shared/x');
  });

  it('an owner that cannot be told ends the walk', async () => {
    expect(await ownTop('/gone/a/b', ALICE, ownerOf)).toBe('/gone/a/b');
  });
});

describe('mountsToWiden: the needed paths a failed start named', () => {
  const needed = [{ path: '/scratch/alice/proj/run', top: '/scratch/alice' }];

  it('runc naming the path, or a directory above it up to its top (stat, or mkdir of a path it cannot see)', () => {
    expect(mountsToWiden('error during container init: stat /scratch/alice/proj/run: permission denied', needed)).toEqual(needed);
    expect(mountsToWiden('error during container init: mkdir /scratch/alice/proj: file exists: unknown', needed)).toEqual(needed);
    expect(mountsToWiden('error during container init: mkdir /scratch/alice: permission denied', needed)).toEqual(needed);
  });

  it('a name below a needed path on the way to another needed path below it is only that one\'s', () => {
    const both = [
      { path: '/work', top: '/top' },
      { path: '/work/scratch/data', top: '/top' },
    ];
    expect(mountsToWiden('mkdir /work/scratch: file exists: unknown', both)).toEqual([both[1]]);
    expect(mountsToWiden("error while creating mount source path '/work/scratch/data': mkdir /work/scratch: file exists", both)).toEqual([both[1]]);
    // a name below /work that is not on data's way is /work's own (its script, say)
    expect(mountsToWiden('stat /work/train.sh: permission denied', both)).toEqual([both[0]]);
  });

  it('not for another path, one that only starts the same, one above its top, or a path that has no higher top', () => {
    expect(mountsToWiden('mkdir /home/alice/.srun-docker/jobs/1.0: permission denied', needed)).toEqual([]);
    expect(mountsToWiden('stat /scratch/alice/proj/runs: permission denied', needed)).toEqual([]);
    expect(mountsToWiden('stat /scratch: permission denied', needed)).toEqual([]);
    expect(mountsToWiden('stat /data/shared/x: permission denied', [{ path: '/data/shared/x', top: '/data/shared/x' }])).toEqual([]);
  });
});

describe('nodeContainerSpec with a mount moved up', () => {
  it('mounts the top in place of the working directory, and starts there (runc would have to reach the working directory as root)', () => {
    const options = runOptions({ script: '/scratch/alice/proj/run/train.sh' });
    const allocation = { inSlurm: true, jobId: '7', stepId: '0', nodes: ['n1'], nodeName: 'n1', role: 'coordinator' as const, gpus: [], resources: {} };
    const cwd = '/scratch/alice/proj/run';
    const plan = buildLaunchPlan(options, allocation, { cwd, user: 'alice', home: '/home/alice', env: {}, scriptExecutable: true });
    const facts = { identity: aliceIdentity(), cwd, gpus: [], resources: {}, engine: ROOT_DOCKER, imageHas: () => false, imagePath: '/usr/bin:/bin', ssh: 'image' as const, fileBinds: [] };
    const plain = nodeContainerSpec(options, plan, facts);
    expect(plain.HostConfig?.Binds).toContain(`${cwd}:${cwd}`);
    expect(plain.WorkingDir).toBe(cwd);
    const moved = nodeContainerSpec(options, plan, { ...facts, widerMounts: ['/scratch/alice'] });
    expect(moved.HostConfig?.Binds).toContain('/scratch/alice:/scratch/alice');
    expect(moved.HostConfig?.Binds?.some((b) => b.startsWith(`${cwd}:`))).toBe(false);
    expect(moved.WorkingDir).toBe('/scratch/alice');
  });

  it('a --datamnts entry at its own path, read-write, inside the top is left to it; a read-only one or one mounted elsewhere stays', () => {
    const datamnts = ['/scratch/alice/data', '/scratch/alice/ro:/scratch/alice/ro:ro', '/scratch/alice/in:/in', '/data/shared'];
    const options = runOptions({ script: '/home/alice/train.sh', datamnts });
    const allocation = { inSlurm: true, jobId: '7', stepId: '0', nodes: ['n1'], nodeName: 'n1', role: 'coordinator' as const, gpus: [], resources: {} };
    const plan = buildLaunchPlan(options, allocation, { cwd: '/home/alice', user: 'alice', home: '/home/alice', env: {}, scriptExecutable: true });
    const facts = { identity: aliceIdentity(), cwd: '/home/alice', gpus: [], resources: {}, engine: ROOT_DOCKER, imageHas: () => false, imagePath: '/usr/bin:/bin', ssh: 'image' as const, fileBinds: [] };
    const binds = nodeContainerSpec(options, plan, { ...facts, widerMounts: ['/scratch/alice'] }).HostConfig?.Binds ?? [];
    expect(binds).toContain('/scratch/alice:/scratch/alice');
    expect(binds).not.toContain('/scratch/alice/data:/scratch/alice/data');
    expect(binds).toEqual(expect.arrayContaining(['/scratch/alice/ro:/scratch/alice/ro:ro', '/scratch/alice/in:/in', '/data/shared:/data/shared']));
    expect(nodeContainerSpec(options, plan, facts).HostConfig?.Binds).toContain('/scratch/alice/data:/scratch/alice/data');
  });
});
