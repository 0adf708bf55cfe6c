import { setMaxListeners } from 'node:events';
import pRetry, { AbortError } from 'p-retry';
import { ReadinessTimeoutError, type UnreadyNode } from './errors.js';
import { createLimiter } from './limiter.js';

export interface ReadinessInput {
  nodes: readonly string[];
  timeoutSeconds: number;
  /** Probes running at once; the rest wait their turn (ssh processes are not free). */
  concurrency: number;
  /** One real check of one node; rejects with a short reason. */
  probe: (node: string) => Promise<void>;
  /** A failure the node reported itself (its container could not start): no use waiting for it. */
  reportedFailure: (node: string) => Promise<string | undefined>;
  signal: AbortSignal;
  /** Backoff between attempts of one node, ms: short at first so a quick node is seen quickly. */
  backoff?: { min: number; max: number; factor: number };
}

/** Capped at 250 ms so a node is seen within about half a second of its sshd answering. */
export const DEFAULT_BACKOFF = { min: 50, max: 250, factor: 1.5 };

/**
 * Waits until every node passes its probe, all nodes in parallel, each retried with backoff until the
 * deadline. Rejects with every node that never passed and its last error, never only the first.
 */
export async function waitForNodes(input: ReadinessInput): Promise<void> {
  const limit = createLimiter(input.concurrency);
  const backoff = input.backoff ?? DEFAULT_BACKOFF;
  const deadline = Date.now() + input.timeoutSeconds * 1000;
  // p-retry listens on the signal once per node waiting between attempts: 1,000 listeners is the design
  const signal = AbortSignal.any([input.signal]);
  setMaxListeners(input.nodes.length + 10, signal);
  const results = await Promise.allSettled(
    input.nodes.map((node) => {
      // the deadline check below must report the node's own last error, not a generic one
      let lastError: unknown;
      return pRetry(
        async () => {
          const reported = await input.reportedFailure(node);
          if (reported !== undefined) throw new AbortError(reported);
          if (Date.now() > deadline) throw new AbortError(lastError === undefined ? 'no answer before the deadline' : reasonOf(lastError));
          await limit(() => input.probe(node)).catch((error: unknown) => {
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
    }),
  );
  input.signal.throwIfAborted();
  const unready: UnreadyNode[] = [];
  results.forEach((result, index) => {
    if (result.status === 'rejected') unready.push({ node: input.nodes[index] ?? '?', lastError: reasonOf(result.reason) });
  });
  if (unready.length > 0) throw new ReadinessTimeoutError(unready, input.timeoutSeconds);
}

function reasonOf(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.trim().split('\n').filter((l) => l.trim() !== '').pop() ?? 'unknown error';
}
