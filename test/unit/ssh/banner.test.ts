import { createServer, type AddressInfo, type Server } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { waitForSshBanner, type BannerWait } from '../../../src/ssh/banner.js';

const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
});

/** A loopback server that greets every connection with `greeting` and hangs up. */
async function listen(greeting: string, port = 0): Promise<number> {
  const server = createServer((socket) => socket.end(greeting));
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

async function freePort(): Promise<number> {
  const port = await listen('');
  await new Promise((r) => servers.pop()?.close(r));
  return port;
}

function wait(port: number, overrides: Partial<BannerWait> = {}): Promise<boolean> {
  return waitForSshBanner({
    host: '127.0.0.1',
    port,
    maxMs: 3_000,
    intervalMs: 5,
    stillWorthWaiting: () => Promise.resolve(true),
    signal: new AbortController().signal,
    now: Date.now,
    ...overrides,
  });
}

describe('waitForSshBanner against real sockets on loopback', () => {
  it('true as soon as an ssh server greets', async () => {
    expect(await wait(await listen('SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n'))).toBe(true);
  });

  it('keeps trying until the server comes up, then true', async () => {
    const port = await freePort();
    let up = false;
    setTimeout(() => void listen('SSH-2.0-OpenSSH_9.2p1\r\n', port).then(() => (up = true)), 300);
    expect(await wait(port)).toBe(true);
    expect(up).toBe(true);
  });

  it('something else on the port is not sshd: false once maxMs has passed', async () => {
    expect(await wait(await listen('HTTP/1.1 400 Bad Request\r\n'), { maxMs: 400 })).toBe(false);
  });

  it('false soon after waiting stops being worth it (the container stopped), long before maxMs', async () => {
    const port = await freePort();
    let checks = 0;
    expect(await wait(port, { maxMs: 30_000, stillWorthWaiting: () => Promise.resolve(++checks < 3) })).toBe(false);
    expect(checks).toBe(3);
  });

  it('an aborted signal rejects with its reason', async () => {
    const controller = new AbortController();
    const reason = new Error('SIGTERM');
    setTimeout(() => controller.abort(reason), 100);
    await expect(wait(await freePort(), { maxMs: 30_000, signal: controller.signal })).rejects.toBe(reason);
  });
});
