import { describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { nodeLookupOps, statAfresh, type LookupOps } from '../../../src/platform/fresh-lookup.js';

const missing = (): Error => Object.assign(new Error('ENOENT: no such file'), { code: 'ENOENT' });

/**
 * A client that caches a "no such file" as NFS's lookupcache=all does: `stale` names it still
 * answers missing although the server has them, until their directory is opened (close-to-open
 * makes the client ask the server for the directory's attributes, which drops the cached misses).
 */
function cachingClient(onServer: Set<string>, stale: Set<string>): { ops: LookupOps<string>; calls: string[] } {
  const calls: string[] = [];
  // a name cached as missing hides everything below it too
  const hidden = (path: string): boolean => !onServer.has(path) || [...stale].some((name) => path === name || path.startsWith(`${name}/`));
  const ops: LookupOps<string> = {
    stat(path) {
      calls.push(`stat ${path}`);
      if (hidden(path)) return Promise.reject(missing());
      return Promise.resolve(`stat of ${path}`);
    },
    openDir(path) {
      calls.push(`open ${path}`);
      if (hidden(path)) return Promise.reject(missing());
      for (const name of stale) if (name.startsWith(`${path}/`) && !name.slice(path.length + 1).includes('/')) stale.delete(name);
      return Promise.resolve();
    },
  };
  return { ops, calls };
}

describe('statAfresh: a path looked up once more before it is called missing', () => {
  it('a path that is there is asked once, nothing opened', async () => {
    const { ops, calls } = cachingClient(new Set(['/home', '/home/a', '/home/a/job.sh']), new Set());
    expect(await statAfresh('/home/a/job.sh', ops)).toBe('stat of /home/a/job.sh');
    expect(calls).toEqual(['stat /home/a/job.sh']);
  });

  it('a cached miss: every directory on the way is opened from the top, then the path is found', async () => {
    const { ops, calls } = cachingClient(new Set(['/home', '/home/a', '/home/a/run', '/home/a/run/job.sh']), new Set(['/home/a/run/job.sh']));
    expect(await statAfresh('/home/a/run/job.sh', ops)).toBe('stat of /home/a/run/job.sh');
    expect(calls).toEqual(['stat /home/a/run/job.sh', 'open /home', 'open /home/a', 'open /home/a/run', 'stat /home/a/run/job.sh']);
  });

  it('a directory cached as missing is found by opening its parent first, and then the path below it', async () => {
    const { ops } = cachingClient(new Set(['/home', '/home/a', '/home/a/new', '/home/a/new/job.sh']), new Set(['/home/a/new']));
    expect(await statAfresh('/home/a/new/job.sh', ops)).toBe('stat of /home/a/new/job.sh');
  });

  it('a path the server has not either is missing (undefined); the opening stops at the first directory missing too', async () => {
    const { ops, calls } = cachingClient(new Set(['/home', '/home/a']), new Set());
    expect(await statAfresh('/home/a/nope/job.sh', ops)).toBeUndefined();
    expect(calls).toEqual(['stat /home/a/nope/job.sh', 'open /home', 'open /home/a', 'open /home/a/nope', 'stat /home/a/nope/job.sh']);
  });

  it('an error other than "missing" is thrown as it came, not called missing', async () => {
    const denied = Object.assign(new Error('EACCES: permission denied'), { code: 'EACCES' });
    const ops: LookupOps<string> = { stat: () => Promise.reject(denied), openDir: () => Promise.resolve() };
    await expect(statAfresh('/home/a/job.sh', ops)).rejects.toBe(denied);
  });

  it('on the real file system: a file is found, a missing one is undefined, a file used as a directory is missing', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fresh-lookup-'));
    try {
      writeFileSync(join(dir, 'job.sh'), 'true\n');
      expect((await statAfresh(join(dir, 'job.sh'), nodeLookupOps))?.isFile()).toBe(true);
      expect(await statAfresh(join(dir, 'nope.sh'), nodeLookupOps)).toBeUndefined();
      expect(await statAfresh(join(dir, 'job.sh', 'x'), nodeLookupOps)).toBeUndefined();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
