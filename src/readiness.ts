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
  /**
   * The nodes that may have said anything yet (one directory listing): a poll round reads only their
   * reports. Without it, every silent node's report is read each round.
   */
  mayHaveReported?: () => Promise<ReadonlySet<string>>;
  /** One real login into a node that says it is up; rejects with a short reason. */
  probe: (node: string, info: T) => Promise<void>;
  signal: AbortSignal;
  /** Backoff between login attempts of one node, ms: short at first so a late sshd is seen quickly. */
  backoff?: { min: number; max: number; factor: number };
  pollMs?: number;
  /** Called once, with what every node reported, as soon as all have said they are up (their logins may still run). */
  onAllReported?: (infos: ReadonlyMap<string, T>) => void;
}

/** Capped at 250 ms so a node is seen within about half a second of its sshd answering. */
export const DEFAULT_BACKOFF = { min: 50, max: 250, factor: 1.5 };

class NotUpYet extends Error {}
const NEVER_REPORTED = 'srun-docker there never reported its sshd up (is the home directory shared between the nodes?)';

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
  const reportedInfo = new Map<string, T>();

  /** What the node says now; a failure it reported rejects for good (AbortError: p-retry does not retry it). */
  const readReport = async (node: string): Promise<Exclude<NodeReport<T>, { state: 'failed' }>> => {
    const report = await readLimit(() => input.report(node));
    if (report.state === 'failed') throw new AbortError(report.reason);
    return report;
  };

  const reported = async (node: string): Promise<T> => {
    const report = await readReport(node);
    if (report.state === 'pending') throw new NotUpYet(NEVER_REPORTED);
    return report.info;
  };

  const whenUp = pollUntilUp(input.nodes, {
    readReport,
    mayHaveReported: input.mayHaveReported,
    pollMs,
    deadline,
    signal,
  });

  const results = await Promise.allSettled(
    whenUp.map(async ([node, up]) => {
      // the deadline check below must report the node's own last error, not a generic one
      let lastError: unknown;
      const info = await up;
      reportedInfo.set(node, info);
      if (reportedInfo.size === input.nodes.length) input.onAllReported?.(reportedInfo);
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

interface PollInput<T> {
  readReport: (node: string) => Promise<Exclude<NodeReport<T>, { state: 'failed' }>>;
  mayHaveReported: (() => Promise<ReadonlySet<string>>) | undefined;
  pollMs: number;
  deadline: number;
  signal: AbortSignal;
}

/**
 * One poll loop for every node that has not said it is up: each round lists who may have reported,
 * reads those reports, and sleeps. With 1,000 nodes that is one listing and a few reads a round, not
 * 1,000 timers each failing to open a file that is not there yet. Returns each node (in order) with
 * its promise: resolved with what it reported; rejected with the failure it reported, at the
 * deadline, or on abort.
 */
function pollUntilUp<T>(nodes: readonly string[], input: PollInput<T>): [string, Promise<T>][] {
  const silent = new Map<string, { resolve: (info: T) => void; reject: (error: unknown) => void }>();
  const whenUp = nodes.map((node): [string, Promise<T>] => [node, new Promise<T>((resolve, reject) => silent.set(node, { resolve, reject }))]);
  /** The node's waiter, taken out of the silent ones (once). */
  const settle = (node: string) => {
    const waiter = silent.get(node);
    silent.delete(node);
    return waiter;
  };
  const round = async (): Promise<void> => {
    const listed = await input.mayHaveReported?.();
    const due = [...silent.keys()].filter((node) => listed?.has(node) ?? true);
    await Promise.all(
      due.map(async (node) => {
        try {
          const report = await input.readReport(node);
          if (report.state === 'up') settle(node)?.resolve(report.info);
        } catch (error) {
          settle(node)?.reject(error);
        }
      }),
    );
  };
  void (async () => {
    try {
      for (;;) {
        await round();
        if (silent.size === 0) return;
        if (Date.now() > input.deadline) throw new NotUpYet(NEVER_REPORTED);
        await sleep(input.pollMs, undefined, { signal: input.signal });
      }
    } catch (error) {
      for (const node of [...silent.keys()]) settle(node)?.reject(error);
    }
  })();
  return whenUp;
}

function reasonOf(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.trim().split('\n').filter((l) => l.trim() !== '').pop() ?? 'unknown error';
}
