import { setMaxListeners } from 'node:events';
import pRetry, { AbortError } from 'p-retry';
import { NodeFailedError, ReadinessTimeoutError, type UnreadyNode } from '../platform/errors.js';
import { createLimiter } from '../platform/limiter.js';

export interface ReadinessInput<T> {
  nodes: readonly string[];
  timeoutSeconds: number;
  /** Logins running at once; the rest wait their turn. */
  concurrency: number;
  /** Resolves with what the node said once its sshd is up (over the control channel); rejects with its failure. */
  whenUp: (node: string) => Promise<T>;
  /** Why the node is no longer worth a login (it failed, or its srun-docker left, after it said it was up). */
  lostReason: (node: string) => string | undefined;
  /** One real login into a node that says it is up; rejects with a short reason. */
  probe: (node: string, info: T) => Promise<void>;
  signal: AbortSignal;
  now: () => number;
  /** Backoff between login attempts of one node, ms: short at first so a late sshd is seen quickly. */
  backoff?: { min: number; max: number; factor: number };
  /** Called once, with what every node reported, as soon as all have said they are up (their logins may still run). */
  onAllReported?: (infos: ReadonlyMap<string, T>) => void;
}

/** Capped at 250 ms so a node is seen within about half a second of its sshd answering. */
export const DEFAULT_BACKOFF = { min: 50, max: 250, factor: 1.5 };

const NEVER_REPORTED = 'srun-docker there never reported its sshd up over the control channel (is srun-docker running on that node?)';

/**
 * Waits until every node says its sshd is up and then passes a real login, all nodes in parallel,
 * each login retried with backoff until the deadline. A node that reports a failure is given up at
 * once with its reason. Rejects with every node that never passed and its last error, never only the
 * first. Resolves with what each node reported.
 */
export async function waitForNodes<T>(input: ReadinessInput<T>): Promise<Map<string, T>> {
  const limit = createLimiter(input.concurrency);
  const backoff = input.backoff ?? DEFAULT_BACKOFF;
  const deadline = input.now() + input.timeoutSeconds * 1000;
  // p-retry listens on the signal once per node waiting between attempts: 1,000 listeners is the design
  const signal = AbortSignal.any([input.signal]);
  setMaxListeners(input.nodes.length + 10, signal);
  const started = input.now();
  const upInfo = new Map<string, T>();
  const reportedInfo = new Map<string, T>();
  /** Nodes that said they failed (not merely silent until the deadline). */
  const failed = new Set<string>();
  let timer: NodeJS.Timeout | undefined;
  const silentTooLong = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(NEVER_REPORTED)), Math.max(0, deadline - input.now()));
  });
  silentTooLong.catch(() => undefined);
  const aborted = new Promise<never>((_, reject) => signal.addEventListener('abort', () => reject(signal.reason), { once: true }));
  aborted.catch(() => undefined);

  const results = await Promise.allSettled(
    input.nodes.map(async (node) => {
      // the deadline check below must report the node's own last error, not a generic one
      let lastError: unknown;
      const info = await Promise.race([
        input.whenUp(node).catch((error: unknown) => {
          failed.add(node);
          throw error;
        }),
        silentTooLong,
        aborted,
      ]);
      reportedInfo.set(node, info);
      if (reportedInfo.size === input.nodes.length) input.onAllReported?.(reportedInfo);
      await pRetry(
        async () => {
          // a node that failed after saying it was up (its container stopped) is not worth waiting for
          const lost = input.lostReason(node);
          if (lost !== undefined) {
            failed.add(node);
            throw new AbortError(lost);
          }
          if (input.now() > deadline) throw new AbortError(lastError === undefined ? 'no answer before the deadline' : reasonOf(lastError));
          await limit(() => input.probe(node, info)).catch((error: unknown) => {
            lastError = error;
            throw error;
          });
        },
        {
          retries: Number.POSITIVE_INFINITY,
          minTimeout: backoff.min,
          maxTimeout: backoff.max,
          factor: backoff.factor,
          randomize: true,
          maxRetryTime: Math.max(0, deadline - input.now()),
          signal,
        },
      );
      upInfo.set(node, info);
    }),
  );
  clearTimeout(timer);
  input.signal.throwIfAborted();
  const unready: UnreadyNode[] = [];
  results.forEach((result, index) => {
    if (result.status === 'rejected') unready.push({ node: input.nodes[index] ?? '?', lastError: reasonOf(result.reason) });
  });
  const elapsedMs = input.now() - started;
  if (failed.size > 0) throw new NodeFailedError(unready, input.timeoutSeconds, elapsedMs, [...failed]);
  if (unready.length > 0) throw new ReadinessTimeoutError(unready, input.timeoutSeconds, elapsedMs);
  return upInfo;
}

function reasonOf(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.trim().split('\n').filter((l) => l.trim() !== '').pop() ?? 'unknown error';
}
