import { dirname } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { FileSystem } from './fs.js';
import { createLimiter } from './limiter.js';
import { nodeStatusPath, type DoneInfo, type JobDir, type NodeStatus } from './jobdir.js';

/**
 * Coordinator and workers talk only through small files in the job directory on the shared home:
 * no extra port, no extra daemon, and it works the same on 1 node or 1,000.
 */
export const HEARTBEAT_INTERVAL_MS = 2_000;
/** A coordinator whose heartbeat has not moved for this long is gone (SIGKILL, node crash). */
export const HEARTBEAT_STALE_MS = 15_000;
/** Status files read at once by one node: 1,000 unbounded reads would hold ~1,000 files open. */
export const STATUS_READS_AT_ONCE = 64;

/** The heavier checks of a worker's watch (job dir, heartbeat, container) run every 10th look. */
const HEAVY_CHECK_EVERY = 10;

/**
 * How often a worker looks at done.json while the job runs (for hours, perhaps): every 20 ms on
 * small jobs, slower on large ones, so that a whole job reads the shared file system about 10,000
 * times a second at most (100 ms at 1,000 nodes).
 */
export function watchIntervalMs(nodeCount: number): number {
  return readIntervalMs(nodeCount, 20);
}

/**
 * How often the coordinator reads the workers' status files in its short waits (for their sshd at
 * the start, their goodbyes at the end): within the same ~10,000 reads a second, but every 5 ms on
 * small jobs — these waits are on every job's critical path and last well under a second.
 */
export function statusPollMs(nodeCount: number): number {
  return readIntervalMs(nodeCount, 5);
}

/** Every N/10 ms: N nodes' reads of one file each stay under ~10,000 a second; never below `floorMs`, never above 250 ms. */
function readIntervalMs(nodeCount: number, floorMs: number): number {
  return Math.min(250, Math.max(floorMs, Math.round(nodeCount / 10)));
}

/**
 * Every node makes the job directory (0700) if it is not there yet: no node waits for another to
 * start its container. Job ids are unique, so two nodes making it at once make the same thing.
 */
export async function ensureJobDir(fs: FileSystem, dir: JobDir): Promise<void> {
  await fs.mkdir(dirname(dir.root), 0o700);
  await fs.mkdir(dir.root, 0o700);
  await fs.mkdir(dir.nodesDir, 0o700);
}

/** Starts rewriting the heartbeat file; the returned function stops it, once its last write has finished. */
export function startHeartbeat(fs: FileSystem, dir: JobDir): () => Promise<void> {
  let beat = 0;
  let writing: Promise<void> = Promise.resolve();
  const write = (): void => {
    beat += 1;
    writing = fs.writeFile(dir.heartbeat, `${beat}\n`, 0o600).catch(() => undefined);
  };
  write();
  const timer = setInterval(write, HEARTBEAT_INTERVAL_MS);
  timer.unref();
  // the last write is awaited: one still under way when the job directory is removed would leave it behind
  return async () => {
    clearInterval(timer);
    await writing;
  };
}

export async function writeJson(fs: FileSystem, path: string, value: NodeStatus | DoneInfo): Promise<void> {
  await fs.writeFile(path, JSON.stringify(value) + '\n', 0o600);
}

export async function readJson<T>(fs: FileSystem, path: string): Promise<T | undefined> {
  const text = await fs.readFile(path);
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text) as T;
  } catch {
    return undefined; // half-visible on a slow shared file system: read again next round
  }
}

export async function readNodeStatus(fs: FileSystem, dir: JobDir, node: string): Promise<NodeStatus | undefined> {
  return readJson<NodeStatus>(fs, nodeStatusPath(dir, node));
}

export type WatchEnd = 'done' | 'coordinator-gone' | 'job-dir-removed' | 'container-exited';

export interface WatchInput {
  fs: FileSystem;
  dir: JobDir;
  signal: AbortSignal;
  /** Is this node's container still running? */
  containerRunning: () => Promise<boolean>;
  now: () => number;
  staleMs?: number;
  intervalMs: number;
}

/** A worker's life after its container is up: until the coordinator says done, or is plainly gone. */
export async function watchUntilDone(input: WatchInput): Promise<WatchEnd> {
  const staleMs = input.staleMs ?? HEARTBEAT_STALE_MS;
  let lastBeat = await input.fs.readFile(input.dir.heartbeat);
  let lastChange = input.now();
  for (let tick = 0; ; tick += 1) {
    if (input.signal.aborted) throw input.signal.reason;
    if (await input.fs.exists(input.dir.done)) return 'done';
    if (tick % HEAVY_CHECK_EVERY === 0) {
      if (!(await input.fs.exists(input.dir.root))) return 'job-dir-removed';
      const beat = await input.fs.readFile(input.dir.heartbeat);
      if (beat !== lastBeat) {
        lastBeat = beat;
        lastChange = input.now();
      } else if (input.now() - lastChange > staleMs) {
        return 'coordinator-gone';
      }
      if (!(await input.containerRunning())) return 'container-exited';
    }
    await sleep(input.intervalMs, undefined, { signal: input.signal }).catch(() => undefined);
  }
}

/** Waits until every worker has said it left (or failed), so the job dir can go; bounded. */
export async function waitForWorkersGone(fs: FileSystem, dir: JobDir, workers: readonly string[], maxMs: number, now: () => number): Promise<string[]> {
  const intervalMs = statusPollMs(workers.length + 1);
  const read = createLimiter(STATUS_READS_AT_ONCE);
  const deadline = now() + maxMs;
  let pending = [...workers];
  while (pending.length > 0 && now() < deadline) {
    const statuses = await Promise.all(pending.map((n) => read(() => readNodeStatus(fs, dir, n))));
    pending = pending.filter((_, i) => {
      const state = statuses[i]?.state;
      return state !== 'gone' && state !== 'failed';
    });
    if (pending.length > 0) await sleep(intervalMs);
  }
  return pending;
}
