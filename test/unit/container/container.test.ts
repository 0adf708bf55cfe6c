import type Docker from 'dockerode';
import { describe, expect, it, vi } from 'vitest';
import { createAndStart, ensureImage, mountOfOwnFailed, removeStaleNamed, userFiles } from '../../../src/container/container.js';
import type { ContainerFacts } from '../../../src/docker/client.js';
import { ImageNotFoundError } from '../../../src/docker/errors.js';
import { LaunchError } from '../../../src/platform/errors.js';
import { LABELS } from '../../../src/plan/labels.js';
import type { PullPolicy } from '../../../src/cli/options.js';
import { FakeDocker, MemoryFs, aliceIdentity, fakeLogger } from '../fakes.js';

/** The create options record which defaults were dropped, so a test can see each attempt. */
const build = (dropped: readonly string[]): Docker.ContainerCreateOptions => ({
  Image: 'img',
  HostConfig: { Ulimits: ['memlock', 'stack'].filter((n) => !dropped.includes(n)).map((Name) => ({ Name, Soft: -1, Hard: -1 })) },
});
const ulimitNames = (o: Docker.ContainerCreateOptions | undefined) => (o?.HostConfig?.Ulimits ?? []).map((u) => u.Name);

const RLIMIT_8 = 'OCI runtime create failed: runc create failed: unable to start container process: error setting rlimit type 8: operation not permitted';
const RLIMIT_3 = 'error setting rlimit type 3: operation not permitted';

function failStarts(docker: FakeDocker, messages: (string | undefined)[]): void {
  docker.onStart = (_id, attempt) => {
    const message = messages[attempt - 1];
    if (message !== undefined) throw new Error(message);
  };
}

describe('createAndStart', () => {
  it('creates and starts once when all goes well', async () => {
    const docker = new FakeDocker();
    const warn = vi.fn();
    expect(await createAndStart(docker, build, [], warn)).toBe('id-1');
    expect(docker.created).toHaveLength(1);
    expect(ulimitNames(docker.created[0])).toEqual(['memlock', 'stack']);
    expect(docker.removed).toEqual([]);
    expect(warn).not.toHaveBeenCalled();
  });

  it('recreates without the memlock default when the daemon cannot raise it, and warns once', async () => {
    const docker = new FakeDocker();
    failStarts(docker, [RLIMIT_8]);
    const warn = vi.fn();
    expect(await createAndStart(docker, build, [], warn)).toBe('id-2');
    expect(docker.created.map(ulimitNames)).toEqual([['memlock', 'stack'], ['stack']]);
    expect(docker.removed).toEqual(['id-1']);
    expect(warn).toHaveBeenCalledTimes(1);
    expect(warn).toHaveBeenCalledWith('ulimit-memlock', expect.stringContaining('memlock'));
  });

  it('drops memlock then stack when neither can be raised', async () => {
    const docker = new FakeDocker();
    failStarts(docker, [RLIMIT_8, RLIMIT_3]);
    const warn = vi.fn();
    expect(await createAndStart(docker, build, [], warn)).toBe('id-3');
    expect(docker.created.map(ulimitNames)).toEqual([['memlock', 'stack'], ['stack'], []]);
    expect(docker.removed).toEqual(['id-1', 'id-2']);
    expect(warn.mock.calls.map((c) => c[0] as string)).toEqual(['ulimit-memlock', 'ulimit-stack']);
  });

  it('runs beforeStart between the create and the start of every container it makes (the coordinator attaches there)', async () => {
    const docker = new FakeDocker();
    failStarts(docker, [RLIMIT_8]);
    await createAndStart(docker, build, [], vi.fn(), undefined, async (id) => {
      await docker.attach(id);
    });
    expect(docker.attached).toEqual([
      { id: 'id-1', startsBefore: 0 },
      { id: 'id-2', startsBefore: 1 },
    ]);
  });

  it('an explicit --dockopts memlock is never dropped: LaunchError naming the limit', async () => {
    const docker = new FakeDocker();
    failStarts(docker, [RLIMIT_8]);
    const warn = vi.fn();
    const error: unknown = await createAndStart(docker, build, ['memlock'], warn).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(LaunchError);
    expect((error as Error).message).toContain('ulimit memlock');
    expect((error as Error).cause).toBeInstanceOf(Error);
    expect(docker.created).toHaveLength(1);
    expect(docker.removed).toEqual(['id-1']);
    expect(warn).not.toHaveBeenCalled();
  });

  it('an rlimit failure that persists after dropping the default is a LaunchError, not a loop', async () => {
    const docker = new FakeDocker();
    failStarts(docker, [RLIMIT_8, RLIMIT_8]);
    await expect(createAndStart(docker, build, [], vi.fn())).rejects.toThrow(LaunchError);
    expect(docker.created).toHaveLength(2);
    expect(docker.removed).toEqual(['id-1', 'id-2']);
  });

  it('any other start error: the container is removed and a LaunchError has the first line', async () => {
    const docker = new FakeDocker();
    failStarts(docker, ['exec: "/usr/sbin/sshd": stat /usr/sbin/sshd: no such file or directory\nmore detail']);
    const warn = vi.fn();
    const error: unknown = await createAndStart(docker, build, [], warn).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(LaunchError);
    expect((error as Error).message).toBe('container did not start: exec: "/usr/sbin/sshd": stat /usr/sbin/sshd: no such file or directory');
    expect(docker.created).toHaveLength(1);
    expect(docker.removed).toEqual(['id-1']);
    expect(warn).not.toHaveBeenCalled();
  });
});

describe('removeStaleNamed', () => {
  const existing = (user: string): ContainerFacts => ({
    id: 'old-id',
    name: 'srun-docker-alice-7.0',
    running: true,
    exitCode: 0,
    labels: { [LABELS.user]: user, [LABELS.job]: '6' },
    createdSeconds: 0,
  });

  it('nothing of that name: nothing removed', async () => {
    const docker = new FakeDocker();
    await removeStaleNamed(docker, 'srun-docker-alice-7.0', 'alice', fakeLogger());
    expect(docker.removed).toEqual([]);
  });

  it("removes the same user's leftover and says so", async () => {
    const docker = new FakeDocker();
    docker.containers = [existing('alice')];
    const log = fakeLogger();
    await removeStaleNamed(docker, 'srun-docker-alice-7.0', 'alice', log);
    expect(docker.removed).toEqual(['old-id']);
    expect(log.lines.info.join('\n')).toContain('srun-docker-alice-7.0');
  });

  it.each<[string]>([['bob'], ['']])("never touches a container of another user (%j): LaunchError", async (user) => {
    const docker = new FakeDocker();
    docker.containers = [existing(user)];
    const error: unknown = await removeStaleNamed(docker, 'srun-docker-alice-7.0', 'alice', fakeLogger()).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(LaunchError);
    expect((error as Error).message).toContain('--dockname');
    expect(docker.removed).toEqual([]);
  });
});

describe('ensureImage', () => {
  const PRESENT = { id: 'sha256:local', env: ['PATH=/usr/bin'] };

  it.each<[PullPolicy, boolean, string[], string]>([
    ['missing', true, [], 'sha256:local'],
    ['missing', false, ['img:1'], 'sha256:pulled'],
    ['always', true, ['img:1'], 'sha256:pulled'],
    ['always', false, ['img:1'], 'sha256:pulled'],
    ['never', true, [], 'sha256:local'],
  ])('--pull=%s, present locally %s → pulls %j', async (policy, present, pulls, id) => {
    const docker = new FakeDocker();
    if (present) docker.images.set('img:1', PRESENT);
    const { facts, pulled } = await ensureImage(docker, 'img:1', policy, () => undefined, 'n1');
    expect(docker.pulled).toEqual(pulls);
    expect(facts.id).toBe(id);
    expect(pulled).toBe(pulls.length > 0);
  });

  it('--pull=never and missing: ImageNotFoundError naming the image and node, no pull', async () => {
    const docker = new FakeDocker();
    const error: unknown = await ensureImage(docker, 'img:1', 'never', () => undefined, 'dgx07').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ImageNotFoundError);
    expect((error as Error).message).toContain('img:1');
    expect((error as Error).message).toContain('dgx07');
    expect(docker.pulled).toEqual([]);
  });

  it('a pull that leaves no image: ImageNotFoundError', async () => {
    const docker = new FakeDocker();
    docker.pullResult = undefined;
    await expect(ensureImage(docker, 'img:1', 'missing', () => undefined, 'n1')).rejects.toThrow(ImageNotFoundError);
  });
});

describe('createAndStart remembers what the daemon refused', () => {
  it('remembers a default it had to drop', async () => {
    const docker = new FakeDocker();
    failStarts(docker, [RLIMIT_8]);
    const remember = vi.fn(async () => undefined);
    await createAndStart(docker, build, [], vi.fn(), { known: [], remember });
    expect(remember).toHaveBeenCalledWith(['memlock']);
  });

  it('leaves a remembered default out at once: one create, no failed start, the warning still given', async () => {
    const docker = new FakeDocker();
    const warn = vi.fn();
    const remember = vi.fn(async () => undefined);
    expect(await createAndStart(docker, build, [], warn, { known: ['memlock'], remember })).toBe('id-1');
    expect(docker.created.map(ulimitNames)).toEqual([['stack']]);
    expect(docker.removed).toEqual([]);
    expect(warn).toHaveBeenCalledWith('ulimit-memlock', expect.stringContaining('memlock'));
    expect(remember).not.toHaveBeenCalled();
  });

  it('never drops a limit the user asked for, remembered or not', async () => {
    const docker = new FakeDocker();
    expect(await createAndStart(docker, build, ['memlock'], vi.fn(), { known: ['memlock'], remember: vi.fn() })).toBe('id-1');
    expect(docker.created.map(ulimitNames)).toEqual([['memlock', 'stack']]);
  });
});

describe('userFiles', () => {
  const identity = aliceIdentity();
  const image = { name: 'img:1', id: 'sha256:abc', cacheDir: '/home/alice/.srun-docker/cache/images' };

  it("merges the image's entries with the caller's, reading the image once per image id; nothing is written for the container to mount", async () => {
    const docker = new FakeDocker();
    docker.imageFiles.set('/etc/passwd', 'root:x:0:0:root:/root:/bin/bash\nmpi:x:1000:1000::/home/mpi:/bin/sh\n');
    docker.imageFiles.set('/etc/group', 'root:x:0:\n');
    const fs = new MemoryFs();
    const first = await userFiles(docker, image, identity, fs, {});
    const second = await userFiles(docker, image, identity, fs, {});
    expect(docker.imageFileReads).toBe(1);
    for (const files of [first, second]) {
      expect(files).toEqual([
        { name: 'passwd', content: 'root:x:0:0:root:/root:/bin/bash\nalice:x:1000:1000::/home/alice:/bin/bash\n', mode: 0o644 },
        { name: 'group', content: 'root:x:0:\nalice:x:1000:\n', mode: 0o644 },
      ]);
    }
    // only the image's own entries are kept (the cache), never the merged files
    expect([...fs.files.keys()].filter((p) => p.endsWith('/passwd')).every((p) => p.startsWith(image.cacheDir))).toBe(true);
    await userFiles(docker, { ...image, id: 'sha256:other' }, identity, fs, {});
    expect(docker.imageFileReads).toBe(2);
  });
});

describe('mountOfOwnFailed', () => {
  const binds = ['/home/a/.srun-docker/jobs/7.0/nodes/n1.etc/passwd:/etc/passwd:ro', '/home/a/pkg/dist/dropbearmulti:/.srun-docker/ssh/dropbearmulti:ro'];

  it("is a failed start that names one of srun-docker's own bind sources (as Docker says it of a home on NFS with root_squash)", () => {
    const docker = new Error(
      "(HTTP code 500) server error - error while creating mount source path '/home/a/.srun-docker/jobs/7.0/nodes/n1.etc/passwd': mkdir /home/a/.srun-docker: permission denied",
    );
    expect(mountOfOwnFailed(new LaunchError('container did not start: x', { cause: docker }), binds)).toBe(true);
    expect(mountOfOwnFailed(new Error("statfs /home/a/pkg/dist/dropbearmulti: permission denied"), binds)).toBe(true);
  });

  it('is not any other failure, nor one of a mount the user asked for', () => {
    expect(mountOfOwnFailed(new Error('OCI runtime create failed: rlimit type 8'), binds)).toBe(false);
    expect(mountOfOwnFailed(new Error("error while creating mount source path '/data/x': permission denied"), binds)).toBe(false);
  });
});
