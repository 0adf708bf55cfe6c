import { setTimeout as sleep } from 'node:timers/promises';
import { LaunchError } from './errors.js';
import type { FileSystem } from './fs.js';
import { nodeStatusPath, type DoneInfo, type JobDir, type NodeStatus, type ReadyInfo } from './jobdir.js';

/**
 * Coordinator and workers talk only through small files in the job directory on the shared home:
 * no extra port, no extra daemon, and it works the same on 1 node or 1,000.
 */
export const HEARTBEAT_INTERVAL_MS = 2_000;
/** A coordinator whose heartbeat has not moved for this long is gone (SIGKILL, node crash). */
export const HEARTBEAT_STALE_MS = 15_000;
/** How often a worker looks for done.json: one stat, cheap; the heavier checks run every 10th look. */
export const WATCH_INTERVAL_MS = 100;
const HEAVY_CHECK_EVERY = 10;

/** Starts rewriting the heartbeat file; the returned function stops it. */
export function startHeartbeat(fs: FileSystem, dir: JobDir): () => void {
  let beat = 0;
  const write = (): void => {
    beat += 1;
    void fs.writeFile(dir.heartbeat, `${beat}\n`, 0o600).catch(() => undefined);
  };
  write();
  const timer = setInterval(write, HEARTBEAT_INTERVAL_MS);
  timer.unref();
  return () => clearInterval(timer);
}

export async function writeJson(fs: FileSystem, path: string, value: ReadyInfo | NodeStatus | DoneInfo): Promise<void> {
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
  intervalMs?: number;
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
    await sleep(input.intervalMs ?? WATCH_INTERVAL_MS, undefined, { signal: input.signal }).catch(() => undefined);
  }
}

export interface WaitReadyInput {
  fs: FileSystem;
  dir: JobDir;
  signal: AbortSignal;
  timeoutSeconds: number;
  now: () => number;
  intervalMs?: number;
}

/** A worker waits for the coordinator's ssh material; bounded by --timeout like everything else. */
export async function waitForReadyInfo(input: WaitReadyInput): Promise<ReadyInfo> {
  const deadline = input.now() + input.timeoutSeconds * 1000;
  while (input.now() < deadline) {
    if (input.signal.aborted) throw input.signal.reason;
    if (await input.fs.exists(input.dir.done)) {
      throw new LaunchError('the coordinator ended the job before this node started (see the coordinator\'s error)');
    }
    const ready = await readJson<ReadyInfo>(input.fs, input.dir.ready);
    if (ready !== undefined) return ready;
    await sleep(input.intervalMs ?? 100, undefined, { signal: input.signal }).catch(() => undefined);
  }
  throw new LaunchError(
    `no word from the coordinator in ${input.timeoutSeconds} s (no ${input.dir.ready}) — is the home directory shared between the nodes?`,
  );
}

/** Waits until every worker has said it left (or failed), so the job dir can go; bounded. */
export async function waitForWorkersGone(fs: FileSystem, dir: JobDir, workers: readonly string[], maxMs: number, now: () => number): Promise<string[]> {
  const deadline = now() + maxMs;
  let pending = [...workers];
  while (pending.length > 0 && now() < deadline) {
    const statuses = await Promise.all(pending.map((n) => readNodeStatus(fs, dir, n)));
    pending = pending.filter((_, i) => {
      const state = statuses[i]?.state;
      return state !== 'gone' && state !== 'failed';
    });
    if (pending.length > 0) await sleep(100);
  }
  return pending;
}
