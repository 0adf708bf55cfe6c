import { connect } from 'node:net';
import { waitUntil, type WaitUntil } from '../platform/wait-until.js';

export interface BannerWait extends WaitUntil {
  host: string;
  port: number;
}

/**
 * Waits until an ssh server on host:port sends its `SSH-2.0-...` greeting. Resolves true when
 * greeted, false when `maxMs` passed without a greeting or waiting stopped being worth it.
 */
export function waitForSshBanner(input: BannerWait): Promise<boolean> {
  return waitUntil(input, (remainingMs) => greets(input.host, input.port, remainingMs));
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
