import { createServer, type Server } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { newSecret } from '../../../src/channel/auth.js';
import { joinCoordinator, type CoordinatorLink, type JoinInput } from '../../../src/channel/client.js';
import { wallClock } from '../../../src/platform/timings.js';
import { openChannelServer, type ChannelServer, type ChannelServerInput } from '../../../src/channel/server.js';

const JOB = '77.0';
const DIR = '/home/alice/.srun-docker/jobs/77.0';

/** Real TCP on loopback: free ports picked by the kernel, so parallel test files never collide. */
async function freePorts(count: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from({ length: count }, () => new Promise<Server>((resolve) => {
      const s = createServer();
      s.listen(0, '127.0.0.1', () => resolve(s));
    })),
  );
  const ports = servers.map((s) => (s.address() as { port: number }).port);
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  return ports;
}

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function server(ports: number[], overrides: Partial<ChannelServerInput> = {}) {
  const said = { taken: [] as number[], refused: [] as string[], warnings: [] as string[] };
  const channel = await openChannelServer({
    job: JOB,
    dir: DIR,
    secret: SECRET,
    ports,
    workers: ['n2', 'n3'],
    node: 'n1',
    now: Date.now,
    onPortTaken: (p) => said.taken.push(p),
    onRefused: (_remote, reason) => said.refused.push(reason),
    onWarning: (node, key, message) => said.warnings.push(`${node}:${key}:${message}`),
    ...overrides,
  });
  cleanups.push(() => channel.close());
  return { channel, said };
}

const SECRET = newSecret();

async function join(node: string, ports: number[], overrides: Partial<JoinInput> = {}): Promise<CoordinatorLink> {
  const link = await joinCoordinator({
    job: JOB,
    node,
    dir: DIR,
    coordinator: 'n1',
    address: () => Promise.resolve('127.0.0.1'),
    ports,
    readSecret: () => Promise.resolve(SECRET),
    deadline: Date.now() + 10_000,
    clock: wallClock,
    signal: new AbortController().signal,
    onImpostor: () => undefined,
    ...overrides,
  });
  cleanups.push(() => link.close());
  return link;
}

describe('control channel', () => {
  it('a worker that knows the secret joins, reports up, hears done, and says goodbye', async () => {
    const ports = await freePorts(3);
    const { channel } = await server(ports, { workers: ['n2'] });
    const link = await join('n2', ports);
    expect(link.port).toBe(ports[0]);
    expect(link.localAddress).toBe('127.0.0.1');
    link.send({ t: 'up', port: 12000, slots: 4, hostKey: 'ssh-ed25519 AAAA', address: link.localAddress });
    await expect(channel.session('n2').up).resolves.toEqual({ port: 12000, slots: 4, hostKey: 'ssh-ed25519 AAAA', address: '127.0.0.1' });
    expect(channel.localAddress()).toBe('127.0.0.1');
    channel.broadcastDone('finished');
    await expect(link.ended).resolves.toEqual({ done: 'finished' });
    link.send({ t: 'bye' });
    await expect(channel.waitForGoodbyes(5_000)).resolves.toEqual([]);
  });

  it('a port another process holds is skipped by the coordinator, said once, and found by the workers', async () => {
    const ports = await freePorts(3);
    const squatter = createServer((socket) => socket.end('SSH-2.0-squatter\n'));
    await new Promise<void>((resolve) => squatter.listen(ports[0], '0.0.0.0', resolve));
    cleanups.push(() => new Promise((r) => squatter.close(() => r())));
    const { channel, said } = await server(ports);
    expect(channel.port).toBe(ports[1]);
    expect(said.taken).toEqual([ports[0]]);
    const impostors: number[] = [];
    const link = await join('n2', ports, { onImpostor: (p) => impostors.push(p) });
    expect(link.port).toBe(ports[1]);
    expect(impostors).toEqual([ports[0]]);
  });

  it('a coordinator that does not know the secret is not joined: the worker goes on to the next port', async () => {
    const ports = await freePorts(2);
    await server([ports[0] ?? 0], { secret: newSecret() });
    const { channel } = await server([ports[1] ?? 0]);
    const link = await join('n2', ports);
    expect(link.port).toBe(channel.port);
  });

  it('a peer without the secret is refused, said, and changes nothing', async () => {
    const ports = await freePorts(1);
    const { channel, said } = await server(ports);
    await expect(join('n2', ports, { readSecret: () => Promise.resolve(newSecret()), deadline: Date.now() + 300 })).rejects.toThrow('refused this node: wrong proof');
    expect(said.refused).toContain('wrong proof of the job secret');
    expect(channel.session('n2').lostReason).toBeUndefined();
    // the real n2 still joins afterwards
    await join('n2', ports);
  });

  it('garbage and a node name outside the job are refused', async () => {
    const ports = await freePorts(1);
    const { said } = await server(ports);
    await expect(join('n9', ports, { deadline: Date.now() + 300 })).rejects.toThrow('refused this node: n9 is not a node of job 77.0)');
    const { connect } = await import('node:net');
    const socket = connect({ host: '127.0.0.1', port: ports[0] ?? 0 });
    await new Promise((resolve) => socket.once('connect', resolve));
    socket.on('data', () => undefined);
    socket.write('GET / HTTP/1.0\r\n\r\n');
    await new Promise((resolve) => socket.once('close', resolve));
    expect(said.refused).toContain('n9 is not a node of job 77.0');
    expect(said.refused).toContain('it does not speak srun-docker');
  });

  it('a failure a worker reports rejects its wait with its reason', async () => {
    const ports = await freePorts(1);
    const { channel } = await server(ports);
    const link = await join('n3', ports);
    link.send({ t: 'failed', error: 'image x is not on this node' });
    await expect(channel.session('n3').up).rejects.toThrow('n3 failed: image x is not on this node');
    expect(channel.session('n3').lostReason).toBe('n3 failed: image x is not on this node');
  });

  it('a worker whose srun-docker is gone is lost at once; so is a coordinator, for its workers', async () => {
    const ports = await freePorts(1);
    const { channel } = await server(ports);
    const n2 = await join('n2', ports);
    const n3 = await join('n3', ports);
    n2.close();
    await expect(channel.session('n2').up).rejects.toThrow("n2's srun-docker is gone (control channel closed)");
    await channel.close();
    await expect(n3.ended).resolves.toEqual({ lost: 'closed' });
  });

  it('the first worker lost (not one that said goodbye) is told with why', async () => {
    const ports = await freePorts(1);
    const { channel } = await server(ports);
    const n2 = await join('n2', ports);
    const n3 = await join('n3', ports);
    let lost: string | undefined;
    void channel.firstLoss().then((reason) => (lost = reason));
    n2.send({ t: 'bye' });
    n2.close();
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(lost).toBeUndefined();
    n3.close();
    await expect(channel.firstLoss()).resolves.toBe("n3's srun-docker is gone (control channel closed)");
  });

  it("the job's variables reach every worker; the share ends once each has written them, or fails with the one lost", async () => {
    const ports = await freePorts(1);
    const { channel } = await server(ports);
    const n2 = await join('n2', ports);
    const n3 = await join('n3', ports);
    let shared = false;
    const sharing = channel.shareEnv(() => ({ np: '3', hostlist: 'n1:1,n2:1,n3:1' }));
    void sharing.then(() => (shared = true));
    await expect(n2.env).resolves.toEqual({ np: '3', hostlist: 'n1:1,n2:1,n3:1' });
    await expect(n3.env).resolves.toEqual({ np: '3', hostlist: 'n1:1,n2:1,n3:1' });
    n2.send({ t: 'env-written' });
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(shared, 'not before n3 has written them').toBe(false);
    n3.send({ t: 'env-written' });
    await sharing;

    const again = await server(await freePorts(1), { workers: ['n2'] });
    const lone = await join('n2', [again.channel.port]);
    const failing = again.channel.shareEnv(() => ({ np: '2' }));
    await lone.env;
    lone.send({ t: 'failed', error: "cannot write its ssh sessions' variables: EDQUOT" });
    await expect(failing).rejects.toThrow("n2 failed: cannot write its ssh sessions' variables: EDQUOT");
  });

  it('warnings reach the coordinator with the node that said them', async () => {
    const ports = await freePorts(1);
    const { said } = await server(ports);
    const link = await join('n2', ports);
    link.send({ t: 'warn', key: 'ulimit-memlock', message: 'cannot raise memlock' });
    link.send({ t: 'up', port: 1, slots: 1, address: '127.0.0.1' });
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(said.warnings).toEqual(['n2:ulimit-memlock:cannot raise memlock']);
  });

  it('waits for goodbyes only as long as it is told, and names who did not say one', async () => {
    const ports = await freePorts(1);
    const { channel } = await server(ports);
    const n2 = await join('n2', ports);
    await join('n3', ports);
    n2.send({ t: 'bye' });
    await expect(channel.waitForGoodbyes(200)).resolves.toEqual(['n3']);
  });

  it('a worker gives up at its deadline, naming the ports it tried', async () => {
    const ports = await freePorts(2);
    await expect(join('n2', ports, { deadline: Date.now() + 200 })).rejects.toThrow(
      `the coordinator n1 (127.0.0.1) did not answer on its control channel ports (${ports.join(', ')}`,
    );
  });
});

export type { ChannelServer };
