import { describe, expect, it } from 'vitest';
import { LIMITS_MEMORY_MS, limitMemory } from '../../../src/container/limits-cache.js';
import { MemoryFs } from '../fakes.js';

describe('limitMemory', () => {
  it('nothing known at first; what is remembered is known to later runs on the same node only', async () => {
    const fs = new MemoryFs();
    let now = 1_000_000;
    const first = await limitMemory(fs, '/home/a/.srun-docker/cache', 'node1', () => now);
    expect(first.known).toEqual([]);
    await first.remember(['memlock']);
    expect((await limitMemory(fs, '/home/a/.srun-docker/cache', 'node1', () => now)).known).toEqual(['memlock']);
    expect((await limitMemory(fs, '/home/a/.srun-docker/cache', 'node2', () => now)).known).toEqual([]);
    now += LIMITS_MEMORY_MS + 1;
    expect((await limitMemory(fs, '/home/a/.srun-docker/cache', 'node1', () => now)).known).toEqual([]);
  });

  it('a broken memory file is no memory', async () => {
    const fs = new MemoryFs();
    await fs.writeFile('/c/limits/node1.json', '{not json');
    expect((await limitMemory(fs, '/c', 'node1', () => 0)).known).toEqual([]);
  });
});
