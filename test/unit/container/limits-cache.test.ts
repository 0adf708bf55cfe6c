import { describe, expect, it } from 'vitest';
import { deliveryMemory, LIMITS_MEMORY_MS, limitMemory } from '../../../src/container/limits-cache.js';
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

describe('deliveryMemory', () => {
  it('mount at first; once a mount failed, put on that node only, for a day', async () => {
    const fs = new MemoryFs();
    let now = 5_000_000;
    const first = await deliveryMemory(fs, '/c', 'node1', () => now);
    expect(first.delivery).toBe('mount');
    await first.rememberPut();
    expect((await deliveryMemory(fs, '/c', 'node1', () => now)).delivery).toBe('put');
    expect((await deliveryMemory(fs, '/c', 'node2', () => now)).delivery).toBe('mount');
    // the limits of the same node are another memory
    expect((await limitMemory(fs, '/c', 'node1', () => now)).known).toEqual([]);
    now += LIMITS_MEMORY_MS + 1;
    expect((await deliveryMemory(fs, '/c', 'node1', () => now)).delivery).toBe('mount');
  });

  it('a broken or foreign memory file is no memory', async () => {
    const fs = new MemoryFs();
    await fs.writeFile('/c/delivery/node1.json', '{"delivery":"elsewhere","savedAt":0}');
    expect((await deliveryMemory(fs, '/c', 'node1', () => 1)).delivery).toBe('mount');
    await fs.writeFile('/c/delivery/node1.json', 'not json');
    expect((await deliveryMemory(fs, '/c', 'node1', () => 1)).delivery).toBe('mount');
  });
});
