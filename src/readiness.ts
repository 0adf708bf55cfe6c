import { setMaxListeners } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import pRetry, { AbortError } from 'p-retry';
import { statusPollMs } from './coordination.js';
import { ReadinessTimeoutError, type UnreadyNode } from './errors.js';
import { createLimiter } from './limiter.js';

/** What a node says of itself (its status file): nothing yet, its sshd is up (with what the login needs), or why it failed. */
export type NodeReport<T> = { state: 'pending' } | { state: 'up'; info: T } | { state: 'failed'; reason: string };

export interface ReadinessInput<T> {
  nodes: readonly string[];
  timeoutSeconds: number;
  /** Logins running at once, and status reads at once; the rest wait their turn. */
  concurrency: number;
  /** The node's own word; cheap (one small file), polled until the node is up or failed (see statusPollMs). */
  report: (node: string) => Promise<NodeReport<T>>;
  /** One real login into a node that says it is up; rejects with a short reason. */
  probe: (node: string, info: T) => Promise<void>;
  signal: AbortSignal;
  /** Backoff between login attempts of one node, ms: short at first so a late sshd is seen quickly. */
  backoff?: { min: number; max: number; factor: number };
  pollMs?: number;
}

/** Capped at 250 ms so a node is seen within about half a second of its sshd answering. */
export const DEFAULT_BACKOFF = { min: 50, max: 250, factor: 1.5 };

class NotUpYet extends Error {}

/**
 * Waits until every node says its sshd is up and then passes a real login, all nodes in parallel,
 * each login retried with backoff until the deadline. A node that reports a failure is given up at
 * once with its reason. Rejects with every node that never passed and its last error, never only the
 * first. Resolves with what each node reported.
 */
export async function waitForNodes<T>(input: ReadinessInput<T>): Promise<Map<string, T>> {
  const limit = createLimiter(input.concurrency);
  // every node polls its status file: unbounded, 1,000 nodes held ~950 files open at once
  const readLimit = createLimiter(input.concurrency);
  const backoff = input.backoff ?? DEFAULT_BACKOFF;
  const pollMs = input.pollMs ?? statusPollMs(input.nodes.length + 1);
  const deadline = Date.now() + input.timeoutSeconds * 1000;
  // p-retry listens on the signal once per node waiting between attempts: 1,000 listeners is the design
  const signal = AbortSignal.any([input.signal]);
  setMaxListeners(input.nodes.length + 10, signal);
  const upInfo = new Map<string, T>();

  const reported = async (node: string): Promise<T> => {
    const report = await readLimit(() => input.report(node));
    if (report.state === 'failed') throw new AbortError(report.reason);
    if (report.state === 'pending') throw new NotUpYet('srun-docker there never reported its sshd up (is the home directory shared between the nodes?)');
    return report.info;
  };

  const untilUp = async (node: string): Promise<T> => {
    for (;;) {
      try {
        return await reported(node);
      } catch (error) {
        if (!(error instanceof NotUpYet) || Date.now() > deadline) throw error;
      }
      await sleep(pollMs, undefined, { signal });
    }
  };

  const results = await Promise.allSettled(
    input.nodes.map(async (node) => {
      // the deadline check below must report the node's own last error, not a generic one
      let lastError: unknown;
      const info = await untilUp(node);
      await pRetry(
        async () => {
          // a node that failed after saying it was up (its container stopped) is not worth waiting for
          await reported(node);
          if (Date.now() > deadline) throw new AbortError(lastError === undefined ? 'no answer before the deadline' : reasonOf(lastError));
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
          maxRetryTime: Math.max(0, deadline - Date.now()),
          signal,
        },
      );
      upInfo.set(node, info);
    }),
  );
  input.signal.throwIfAborted();
  const unready: UnreadyNode[] = [];
  results.forEach((result, index) => {
    if (result.status === 'rejected') unready.push({ node: input.nodes[index] ?? '?', lastError: reasonOf(result.reason) });
  });
  if (unready.length > 0) throw new ReadinessTimeoutError(unready, input.timeoutSeconds);
  return upInfo;
}

function reasonOf(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.trim().split('\n').filter((l) => l.trim() !== '').pop() ?? 'unknown error';
}
