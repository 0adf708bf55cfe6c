import { join } from 'node:path';
import type { FileDelivery, LimitMemory } from './container.js';
import type { FileSystem } from '../platform/fs.js';

/** Long enough to spare every job of a day a failed start, short enough to notice a raised limit. */
export const LIMITS_MEMORY_MS = 24 * 60 * 60 * 1000;

/**
 * Which default ulimits this node's Docker daemon could not raise, remembered per node in the user's
 * cache, so later containers start without them at once instead of failing a start first.
 */
export async function limitMemory(fs: FileSystem, cacheRoot: string, node: string, now: () => number): Promise<LimitMemory> {
  const memory = nodeMemory(fs, join(cacheRoot, 'limits'), node, now);
  const saved = await memory.read((value) => (Array.isArray(value.dropped) ? value.dropped.filter((d): d is string => typeof d === 'string') : undefined));
  return { known: saved ?? [], remember: (dropped) => memory.write({ dropped: [...dropped] }) };
}

/** How this node's own files reach its container (container.ts): remembered once a mount of them failed. */
export interface DeliveryMemory {
  delivery: FileDelivery;
  /** The daemon could not mount them: later containers on this node get them written in at once. */
  rememberPut(): Promise<void>;
}

/**
 * Whether this node's daemon could not reach the files srun-docker mounts (a root daemon and a
 * home on NFS with root_squash): remembered per node like the limits, so that only the first job
 * there pays a failed start.
 */
export async function deliveryMemory(fs: FileSystem, cacheRoot: string, node: string, now: () => number): Promise<DeliveryMemory> {
  const memory = nodeMemory(fs, join(cacheRoot, 'delivery'), node, now);
  const saved = await memory.read((value) => (value.delivery === 'put' ? ('put' as const) : undefined));
  return { delivery: saved ?? 'mount', rememberPut: () => memory.write({ delivery: 'put' }) };
}

/** One node's JSON file in the cache, with the time it was saved: older than LIMITS_MEMORY_MS it is forgotten. */
function nodeMemory(fs: FileSystem, dir: string, node: string, now: () => number) {
  const path = join(dir, `${node}.json`);
  return {
    read: async <T>(parse: (value: Record<string, unknown>) => T | undefined): Promise<T | undefined> => {
      const text = await fs.readFile(path);
      if (text === undefined) return undefined;
      try {
        const value = JSON.parse(text) as Record<string, unknown>;
        if (typeof value.savedAt !== 'number' || now() - value.savedAt >= LIMITS_MEMORY_MS) return undefined;
        return parse(value);
      } catch {
        return undefined;
      }
    },
    write: async (value: Record<string, unknown>): Promise<void> => {
      await fs.mkdir(dir, 0o700);
      await fs.writeFile(path, JSON.stringify({ ...value, savedAt: now() }) + '\n', 0o600);
    },
  };
}
