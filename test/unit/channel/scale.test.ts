import { wallClock } from '../../../src/platform/timings.js';
import { readFileSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { messageMac, newChallenge, newSecret, proof, sessionKey } from '../../../src/channel/auth.js';
import { joinCoordinator, type CoordinatorLink, type JoinInput } from '../../../src/channel/client.js';
import { openChannelServer, type ChannelServer } from '../../../src/channel/server.js';

// What a large job does to the channel (found by bench/readiness-scale at 1,024 workers): real TCP on loopback.
const JOB = '78.0';
const DIR = '/home/alice/.srun-docker/jobs/78.0';
const SECRET = newSecret();

async function freePort(): Promise<number> {
  const probe = await new Promise<Server>((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => resolve(s));
  });
  const { port } = probe.address() as { port: number };
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function server(port: number, workers: string[]): Promise<ChannelServer> {
  const channel = await openChannelServer({
    job: JOB,
    dir: DIR,
    secret: SECRET,
    ports: [port],
    workers,
    node: 'n0',
    now: Date.now,
    onPortTaken: () => undefined,
    onRefused: () => undefined,
    onWarning: () => undefined,
  });
  cleanups.push(() => channel.close());
  return channel;
}

async function join(port: number, overrides: Partial<JoinInput> = {}): Promise<CoordinatorLink> {
  const link = await joinCoordinator({
    job: JOB,
    node: 'n1',
    dir: DIR,
    coordinator: 'n0',
    address: () => Promise.resolve('127.0.0.1'),
    ports: [port],
    readSecret: () => Promise.resolve(SECRET),
    deadline: Date.now() + 2_000,
    clock: wallClock,
    signal: new AbortController().signal,
    onImpostor: () => undefined,
    ...overrides,
  });
  cleanups.push(() => link.close());
  return link;
}

function openFilesLimit(): number {
  const line = /^Max open files\s+(\d+)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
  return line === null ? 0 : Number(line[1]);
}

/** The kernel's count of connections dropped because a listening socket's queue was full (this network namespace). */
function listenOverflows(): number {
  const lines = readFileSync('/proc/net/netstat', 'utf8').split('\n').filter((l) => l.startsWith('TcpExt:'));
  const names = lines[0]?.split(' ') ?? [];
  const values = lines[1]?.split(' ') ?? [];
  return Number(values[names.indexOf('ListenOverflows')]);
}

describe('control channel at scale', () => {
  it('a worker whose secret read is slower than one attempt still joins, and its session stays usable', async () => {
    const port = await freePort();
    const channel = await server(port, ['n1']);
    const link = await join(port, {
      // a shared home (or a busy node's thread pool) answering in 500 ms, an attempt limit of 200 ms
      readSecret: () => new Promise((resolve) => setTimeout(() => resolve(SECRET), 500)),
      attemptMs: 200,
    });
    link.send({ t: 'up', port: 12000, slots: 1, address: '127.0.0.1' });
    await expect(channel.session('n1').up).resolves.toMatchObject({ port: 12000 });
    expect(channel.session('n1').lostReason).toBeUndefined();
  });

  it('a secured line that arrives in the same chunk as the welcome is read under the session key', async () => {
    // a coordinator whose welcome and first ping reach a busy worker together (one write here)
    const challenge = newChallenge();
    const peers: Socket[] = [];
    let sendDone: (() => void) | undefined;
    const coordinator = createServer((socket) => {
      peers.push(socket);
      socket.write(`${JSON.stringify({ t: 'hello', v: 1, job: JOB, dir: DIR, challenge })}\n`);
      socket.once('data', (line) => {
        const auth = JSON.parse(line.toString()) as { node: string; challenge: string };
        const key = sessionKey(SECRET, JOB, auth.node, challenge, auth.challenge);
        const welcome = JSON.stringify({ t: 'welcome', proof: proof(SECRET, 'coordinator', JOB, auth.node, auth.challenge) });
        const ping = JSON.stringify({ t: 'ping' });
        socket.write(`${welcome}\n${ping}\t${messageMac(key, 1, ping)}\n`);
        const done = JSON.stringify({ t: 'done', reason: 'finished' });
        sendDone = () => socket.write(`${done}\t${messageMac(key, 2, done)}\n`);
      });
    });
    await new Promise<void>((resolve) => coordinator.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise((resolve) => {
      peers.forEach((p) => p.destroy());
      coordinator.close(() => resolve());
    }));
    const port = (coordinator.address() as { port: number }).port;
    const link = await join(port);
    sendDone?.();
    await expect(link.ended).resolves.toEqual({ done: 'finished' });
  });

  it('a worker whose secret read took most of the silence limit still waits for the welcome it asked for', async () => {
    // the worker's clock jumps 5.5 s while it reads the secret; the coordinator answers 1.2 s after the proof
    let offset = 0;
    const challenge = newChallenge();
    const peers: Socket[] = [];
    const coordinator = createServer((socket) => {
      peers.push(socket);
      socket.write(`${JSON.stringify({ t: 'hello', v: 1, job: JOB, dir: DIR, challenge })}\n`);
      socket.once('data', (line) => {
        const auth = JSON.parse(line.toString()) as { node: string; challenge: string };
        const welcome = JSON.stringify({ t: 'welcome', proof: proof(SECRET, 'coordinator', JOB, auth.node, auth.challenge) });
        setTimeout(() => socket.write(`${welcome}\n`), 1_200);
      });
    });
    await new Promise<void>((resolve) => coordinator.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise((resolve) => {
      peers.forEach((p) => p.destroy());
      coordinator.close(() => resolve());
    }));
    const port = (coordinator.address() as { port: number }).port;
    const impostors: string[] = [];
    const link = await join(port, {
      clock: { now: () => Date.now() + offset, sleep: wallClock.sleep },
      readSecret: () => {
        offset += 5_500;
        return Promise.resolve(SECRET);
      },
      deadline: Date.now() + 4_000,
      onImpostor: (_port, reason) => impostors.push(reason),
    });
    expect(link.port).toBe(port);
    expect(impostors).toEqual([]);
  });

  it.runIf(openFilesLimit() >= 2_000)('takes a burst of more connections than Node\'s default backlog (511) with none dropped from a full queue', async () => {
    const port = await freePort();
    await server(port, ['n1']);
    const count = 700;
    const overflowsBefore = listenOverflows();
    let hellos = 0;
    const sockets: Socket[] = [];
    for (let i = 0; i < count; i += 1) {
      const socket = connect({ host: '127.0.0.1', port });
      socket.on('error', () => undefined);
      socket.once('data', () => (hellos += 1));
      sockets.push(socket);
    }
    cleanups.push(() => sockets.forEach((s) => s.destroy()));
    // the connects go out, then this process is busy (as a coordinator is while it starts): nothing is
    // accepted meanwhile, so the kernel's queue alone holds them
    await new Promise((resolve) => setImmediate(resolve));
    const busyUntil = Date.now() + 300;
    while (Date.now() < busyUntil) {
      // busy
    }
    const deadline = Date.now() + 10_000;
    while (hellos < count && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    expect(hellos).toBe(count);
    // with Node's default backlog, 188 of the 700 (all beyond 512) overflow it and are sent again a second later
    expect(listenOverflows() - overflowsBefore).toBe(0);
  });
});
