import { connect } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

export interface BannerWait {
  host: string;
  port: number;
  /** Give up after this long: the real login from the coordinator is the judge, this only saves it retries. */
  maxMs: number;
  intervalMs: number;
  /** Checked every 100 ms or so: false ends the wait at once (the container stopped: sshd will never greet). */
  stillWorthWaiting: () => Promise<boolean>;
  signal: AbortSignal;
  now: () => number;
}

const CHECK_EVERY_MS = 100;

/**
 * Waits until an ssh server on host:port sends its `SSH-2.0-...` greeting, the moment sshd can take a
 * login. A worker reports its sshd up only then, so the coordinator's first login is not refused.
 * Resolves true when greeted, false when `maxMs` passed without a greeting or waiting stopped being worth it.
 */
export async function waitForSshBanner(input: BannerWait): Promise<boolean> {
  const deadline = input.now() + input.maxMs;
  let nextCheck = input.now() + CHECK_EVERY_MS;
  while (input.now() < deadline) {
    input.signal.throwIfAborted();
    if (await greets(input.host, input.port, Math.max(1, deadline - input.now()))) return true;
    if (input.now() >= nextCheck) {
      if (!(await input.stillWorthWaiting())) return false;
      nextCheck = input.now() + CHECK_EVERY_MS;
    }
    // an abort ends the sleep; the check at the top of the loop rejects with its reason
    await sleep(input.intervalMs, undefined, { signal: input.signal }).catch(() => undefined);
  }
  input.signal.throwIfAborted();
  return false;
}

function greets(host: string, port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    let received = '';
    const done = (greeted: boolean): void => {
      socket.destroy();
      resolve(greeted);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.on('error', () => done(false));
    socket.on('close', () => done(false));
    socket.on('data', (chunk: Buffer) => {
      received += chunk.toString('latin1');
      if (received.includes('\n')) done(received.startsWith('SSH-'));
    });
  });
}
