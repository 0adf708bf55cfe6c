import { describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileSystemError, nodeFileSystem, StaleHandleError, staleRetrying, type FileSystem } from '../../../src/platform/fs.js';
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

  it('other errors pass at once, typed: the path, the system\'s reason, what to do', async () => {
    const memory = new MemoryFs();
    let calls = 0;
    memory.readFile = () => (calls++, Promise.reject(Object.assign(new Error('EACCES: permission denied'), { code: 'EACCES' })));
    const fs = staleRetrying(memory);
    const error = await fs.readFile('/x').catch((e: unknown) => e);
    expect(calls).toBe(1);
    expect(error).toBeInstanceOf(FileSystemError);
    expect(error).toMatchObject({ code: 'EACCES', path: '/x' });
    expect((error as Error).message).toBe('/x: EACCES: permission denied — check the owner and mode of the directory (srun-docker keeps its files under ~/.srun-docker and /tmp)');
  });

  it('the real file system: a write under a file (ENOTDIR) is a FileSystemError naming the path', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'srun-docker-fs-'));
    try {
      writeFileSync(join(dir, 'file'), 'x');
      const error = await nodeFileSystem.writeFile(join(dir, 'file', 'below'), 'y', 0o600).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(FileSystemError);
      expect(error).toMatchObject({ code: 'ENOTDIR', path: join(dir, 'file', 'below') });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
