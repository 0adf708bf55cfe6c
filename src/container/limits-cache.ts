import { join } from 'node:path';
import type { LimitMemory } from './container.js';
import type { FileSystem } from '../platform/fs.js';

/** Long enough to spare every job of a day a failed start, short enough to notice a raised limit. */
export const LIMITS_MEMORY_MS = 24 * 60 * 60 * 1000;

interface Remembered {
  dropped: string[];
  savedAt: number;
}

/**
 * Which default ulimits this node's Docker daemon could not raise, remembered per node in the user's
 * cache, so later containers start without them at once instead of failing a start first.
 */
export async function limitMemory(fs: FileSystem, cacheRoot: string, node: string, now: () => number): Promise<LimitMemory> {
  const path = join(cacheRoot, 'limits', `${node}.json`);
  const saved = await readRemembered(fs, path);
  const fresh = saved !== undefined && now() - saved.savedAt < LIMITS_MEMORY_MS;
  return {
    known: fresh ? saved.dropped : [],
    remember: async (dropped) => {
      await fs.mkdir(join(cacheRoot, 'limits'), 0o700);
      await fs.writeFile(path, JSON.stringify({ dropped: [...dropped], savedAt: now() }) + '\n', 0o600);
    },
  };
}

async function readRemembered(fs: FileSystem, path: string): Promise<Remembered | undefined> {
  const text = await fs.readFile(path);
  if (text === undefined) return undefined;
  try {
    const value = JSON.parse(text) as Partial<Remembered>;
    if (!Array.isArray(value.dropped) || typeof value.savedAt !== 'number') return undefined;
    return { dropped: value.dropped.filter((d): d is string => typeof d === 'string'), savedAt: value.savedAt };
  } catch {
    return undefined;
  }
}
