import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { channelWarner, ensureJobDir, readJobSecret } from '../../../src/roles/coordination.js';
import { LaunchError } from '../../../src/platform/errors.js';
import { nodeFileSystem } from '../../../src/platform/fs.js';
import { jobDirFor } from '../../../src/plan/jobdir.js';
import { fakeLogger, fakeWallClock, MemoryFs } from '../fakes.js';

const DIR = jobDirFor('/home/alice', '77', '0');
const SECRET = 'ab'.repeat(32);

/** A job dir as the coordinator leaves it once the job runs. */
function jobFs(): MemoryFs {
  const fs = new MemoryFs();
  void fs.mkdir(DIR.root);
  return fs;
}

describe('readJobSecret', () => {
  it('reads the secret the coordinator wrote', async () => {
    const fs = jobFs();
    fs.put(DIR.secret, `${SECRET}\n`);
    expect((await readJobSecret(fs, DIR, Date.now() + 1000, fakeWallClock())).toString('hex')).toBe(SECRET);
  });

  it('asks again while the home still shows it missing (a cached "no such file"), then reads it', async () => {
    const fs = jobFs();
    let reads = 0;
    const read = fs.readFile.bind(fs);
    fs.readFile = (path: string) => {
      reads += 1;
      if (reads === 3) fs.put(DIR.secret, SECRET);
      return read(path);
    };
    expect((await readJobSecret(fs, DIR, 1_010_000, fakeWallClock())).toString('hex')).toBe(SECRET);
    expect(reads).toBe(3);
  });

  it('an ESTALE is asked again, not an unexpected error', async () => {
    const fs = jobFs();
    let reads = 0;
    fs.readFile = () => {
      reads += 1;
      if (reads < 3) return Promise.reject(Object.assign(new Error('stale'), { code: 'ESTALE' }));
      return Promise.resolve(SECRET);
    };
    expect((await readJobSecret(fs, DIR, 1_010_000, fakeWallClock())).toString('hex')).toBe(SECRET);
  });

  it('names the path and the last answer at the deadline', async () => {
    const clock = fakeWallClock(0);
    const error = await readJobSecret(jobFs(), DIR, 1000, clock).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(LaunchError);
    expect((error as Error).message).toBe(`cannot read the job's secret ${DIR.secret} on this node (not there) — is the home directory shared between the nodes?`);
  });

  it('does not take a file that is not a secret srun-docker wrote', async () => {
    const fs = jobFs();
    fs.put(DIR.secret, 'hello');
    await expect(readJobSecret(fs, DIR, 1000, fakeWallClock(0))).rejects.toThrow('(not a secret srun-docker wrote)');
  });
});

describe('channelWarner: a worker\'s warnings go to the coordinator', () => {
  it('sends each fact once over the channel, and prints it itself only with --verbose', async () => {
    const sent: string[] = [];
    const log = fakeLogger();
    const warn = channelWarner(Promise.resolve({ send: (m) => sent.push(`${m.key}:${m.message}`) }), log);
    warn('ulimit-memlock', 'cannot raise memlock');
    warn('ulimit-memlock', 'cannot raise memlock');
    await new Promise((r) => setTimeout(r, 0));
    expect(sent).toEqual(['ulimit-memlock:cannot raise memlock']);
    expect(log.lines.warn).toEqual([]);
    expect(log.lines.verbose).toEqual(['warning: cannot raise memlock']);
  });

  it('says it itself when the channel never came up', async () => {
    const log = fakeLogger();
    const failed = Promise.reject(new Error('no coordinator'));
    failed.catch(() => undefined);
    channelWarner(failed, log)('k', 'a warning');
    await new Promise((r) => setTimeout(r, 0));
    expect(log.lines.warn).toEqual(['a warning']);
  });
});

describe('ensureJobDir on the real file system', () => {
  let home: string;
  beforeEach(async () => {
    home = await mkdtemp(join(tmpdir(), 'srun-docker-jobdir-'));
  });
  afterEach(async () => {
    await rm(home, { recursive: true, force: true });
  });

  it('makes the jobs dir, the job dir and its nodes dir, each 0700, whatever the umask', async () => {
    const dir = jobDirFor(home, '77', '0');
    const old = process.umask(0o002);
    try {
      await ensureJobDir(nodeFileSystem, dir);
    } finally {
      process.umask(old);
    }
    for (const path of [join(home, '.srun-docker', 'jobs'), dir.root, dir.nodesDir]) expect((await stat(path)).mode & 0o777, path).toBe(0o700);
  });

  it('making it twice at once succeeds, and a second call keeps what is there', async () => {
    const dir = jobDirFor(home, '77', '0');
    await Promise.all([ensureJobDir(nodeFileSystem, dir), ensureJobDir(nodeFileSystem, dir)]);
    await nodeFileSystem.writeFile(join(dir.nodesDir, 'n2.sshd_config'), 'x', 0o600);
    await ensureJobDir(nodeFileSystem, dir);
    expect(await nodeFileSystem.readFile(join(dir.nodesDir, 'n2.sshd_config'))).toBe('x');
  });
});
