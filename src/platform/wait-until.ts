import { setTimeout as sleep } from 'node:timers/promises';

export interface WaitUntil {
  /** Give up after this long (false). */
  maxMs: number;
  intervalMs: number;
  /** Checked every 100 ms or so: false ends the wait at once (what is awaited will never happen). */
  stillWorthWaiting: () => Promise<boolean>;
  signal: AbortSignal;
  now: () => number;
}

const WORTH_CHECK_EVERY_MS = 100;

/**
 * Polls `check` (given the time left) every `intervalMs` until it says true (true), `maxMs` passed
 * or waiting stopped being worth it (false). An abort rejects with its reason.
 */
export async function waitUntil(input: WaitUntil, check: (remainingMs: number) => Promise<boolean>): Promise<boolean> {
  const deadline = input.now() + input.maxMs;
  let nextWorthCheck = input.now() + WORTH_CHECK_EVERY_MS;
  while (input.now() < deadline) {
    input.signal.throwIfAborted();
    if (await check(Math.max(1, deadline - input.now()))) return true;
    if (input.now() >= nextWorthCheck) {
      if (!(await input.stillWorthWaiting())) return false;
      nextWorthCheck = input.now() + WORTH_CHECK_EVERY_MS;
    }
    // an abort ends the sleep; the check at the top of the loop rejects with its reason
    await sleep(input.intervalMs, undefined, { signal: input.signal }).catch(() => undefined);
  }
  input.signal.throwIfAborted();
  return false;
}
