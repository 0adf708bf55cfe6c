import { createServer, type AddressInfo, type Server } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { listensIn, tcpListening, waitForSshdListening } from '../../../src/ssh/listening.js';

// as the kernel writes them: a header, then one socket a line (state 0A is LISTEN, 01 ESTABLISHED)
const TCP = [
  '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode',
  '   0: 00000000:2E5C 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 1527 1 0000000000000000 100 0 0 10 0',
  '   1: 0100007F:A1B2 0100007F:2E5D 01 00000000:00000000 00:00000000 00000000  1000        0 1621 1 0000000000000000 20 4 30 10 -1',
].join('\n');
const TCP6 = [
  '  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode',
  '   0: 00000000000000000000000000000000:3039 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 9 1 0000000000000000 100 0 0 10 0',
].join('\n');

describe('listensIn: a listening socket in /proc/net/tcp{,6}', () => {
  it('finds a socket listening on the port, on any address', () => {
    expect(listensIn(TCP, 0x2e5c)).toBe(true); // 11868
    expect(listensIn(TCP6, 12345)).toBe(true);
  });

  it('a connection from or to the port is not listening on it', () => {
    expect(listensIn(TCP, 0x2e5d)).toBe(false); // only the remote end of a connection
    expect(listensIn(TCP, 0xa1b2)).toBe(false); // a local port of a connection, not a listener
  });

  it('no such port, or only the header', () => {
    expect(listensIn(TCP, 22)).toBe(false);
    expect(listensIn(TCP.split('\n')[0] ?? '', 0x2e5c)).toBe(false);
  });
});

describe('tcpListening: both tables', () => {
  it('an IPv6-only listener counts', async () => {
    expect(await tcpListening(12345, async (path) => (path.endsWith('6') ? TCP6 : TCP))).toBe(true);
  });

  it('undefined where neither table can be read (not Linux): the caller falls back to the greeting', async () => {
    expect(await tcpListening(12345, () => Promise.reject(new Error('ENOENT')))).toBeUndefined();
  });

  it('one readable table is enough to say no', async () => {
    expect(await tcpListening(22, async (path) => (path.endsWith('6') ? Promise.reject(new Error('ENOENT')) : TCP))).toBe(false);
  });
});

describe('waitForSshdListening: the IPv4 table first', () => {
  /** A clock that moves 10 ms at every look, and the tables read with the time each was read at. */
  function setUp(tables: Record<string, string | undefined>) {
    let t = 0;
    const reads: { path: string; at: number }[] = [];
    const read = async (path: string): Promise<string> => {
      reads.push({ path, at: t });
      const table = tables[path];
      if (table === undefined) throw new Error('ENOENT');
      return table;
    };
    const input = { port: 12345, maxMs: 5_000, intervalMs: 1, stillWorthWaiting: () => Promise.resolve(true), signal: new AbortController().signal, now: () => (t += 10) };
    return { reads, wait: () => waitForSshdListening(input, read) };
  }

  it('reads only /proc/net/tcp for the first 100 ms; a server listening on IPv6 alone is still seen after them', async () => {
    const { reads, wait } = setUp({ '/proc/net/tcp': TCP, '/proc/net/tcp6': TCP6 }); // 12345 only in tcp6
    expect(await wait()).toBe(true);
    const v6 = reads.filter((r) => r.path === '/proc/net/tcp6');
    expect(v6.length).toBeGreaterThan(0);
    expect(Math.min(...v6.map((r) => r.at))).toBeGreaterThanOrEqual(100);
    expect(reads.filter((r) => r.at < 100).every((r) => r.path === '/proc/net/tcp')).toBe(true);
  });

  it('a listener in the IPv4 table is found without reading the IPv6 one', async () => {
    const { reads, wait } = setUp({ '/proc/net/tcp': TCP.replace(':2E5C', ':3039'), '/proc/net/tcp6': TCP6 });
    expect(await wait()).toBe(true);
    expect(reads.map((r) => r.path)).toEqual(['/proc/net/tcp']);
  });

  it('an unreadable IPv4 table: the IPv6 one answers from the first look', async () => {
    const { reads, wait } = setUp({ '/proc/net/tcp6': TCP6 });
    expect(await wait()).toBe(true);
    expect(reads.map((r) => r.path)).toEqual(['/proc/net/tcp', '/proc/net/tcp', '/proc/net/tcp6']);
  });
});

describe('against a real listener on loopback', () => {
  const servers: Server[] = [];
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
  });

  async function listener(port = 0): Promise<number> {
    const server = createServer((socket) => socket.destroy());
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
    return (server.address() as AddressInfo).port;
  }

  const wait = (port: number, maxMs = 3_000, stillWorthWaiting = () => Promise.resolve(true)): Promise<boolean> =>
    waitForSshdListening({ port, maxMs, intervalMs: 5, stillWorthWaiting, signal: new AbortController().signal, now: Date.now });

  it('sees the port listening, and free again once closed', async () => {
    const port = await listener();
    expect(await tcpListening(port)).toBe(true);
    await new Promise((r) => servers.pop()?.close(r));
    expect(await tcpListening(port)).toBe(false);
  });

  it('waits until the port listens', async () => {
    const port = await listener();
    await new Promise((r) => servers.pop()?.close(r));
    const waiting = wait(port);
    await new Promise((r) => setTimeout(r, 50));
    await listener(port);
    expect(await waiting).toBe(true);
  });

  it('false when nothing listens within maxMs, or once waiting is not worth it', async () => {
    const port = await listener();
    await new Promise((r) => servers.pop()?.close(r));
    expect(await wait(port, 100)).toBe(false);
    expect(await wait(port, 3_000, () => Promise.resolve(false))).toBe(false);
  });
});
