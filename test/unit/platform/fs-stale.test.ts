import { describe, expect, it } from 'vitest';
import { StaleHandleError, staleRetrying, type FileSystem } from '../../../src/platform/fs.js';
import { MemoryFs } from '../fakes.js';

/** A file system whose reads answer ESTALE the first `times` times, as an NFS client may. */
function staleFor(times: number): { fs: FileSystem; calls: () => number } {
  const memory = new MemoryFs();
  memory.put('/home/a/secret', 'x');
  let calls = 0;
  const read = memory.readFile.bind(memory);
  memory.readFile = (path) => {
    calls += 1;
    return calls <= times ? Promise.reject(Object.assign(new Error('stale'), { code: 'ESTALE' })) : read(path);
  };
  return { fs: staleRetrying(memory), calls: () => calls };
}

describe('ESTALE from the shared home', () => {
  it('is asked again: a stale handle that clears is no error', async () => {
    const { fs, calls } = staleFor(2);
    expect(await fs.readFile('/home/a/secret')).toBe('x');
    expect(calls()).toBe(3);
  });

  it('one that does not clear is named, with the path, as a typed error (never "unexpected")', async () => {
    const { fs } = staleFor(99);
    const error = await fs.readFile('/home/a/secret').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StaleHandleError);
    expect((error as Error).message).toContain('ESTALE (stale file handle) for /home/a/secret');
  });

  it('other errors pass at once', async () => {
    const memory = new MemoryFs();
    let calls = 0;
    memory.readFile = () => (calls++, Promise.reject(Object.assign(new Error('no'), { code: 'EACCES' })));
    const fs = staleRetrying(memory);
    await expect(fs.readFile('/x')).rejects.toThrow('no');
    expect(calls).toBe(1);
  });
});
