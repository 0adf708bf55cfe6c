// Simulated workers for bench/readiness-scale.mjs: one process, one ssh2 Server, one listening socket
// per loopback address (127.1.x.y), all on the same port like real nodes. It presents the job's host
// key, accepts only the job's client key, and answers `exec true` with exit status 0. Like a real
// worker, each address writes its status file (started, port, host key) once it listens. It also runs
// the workers' side of the teardown fan-out (watchUntilDone from dist/). Driven over the IPC channel.
import { setMaxListeners } from 'node:events';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { performance } from 'node:perf_hooks';
import ssh2 from 'ssh2';
import { watchIntervalMs, watchUntilDone, writeJson } from '../../dist/coordination.js';
import { nodeFileSystem } from '../../dist/fs.js';
import { nodeStatusPath } from '../../dist/jobdir.js';

const now = () => performance.timeOrigin + performance.now();
const stats = { connections: 0, authRejected: 0, execs: 0, clientErrors: 0 };
let sshServer;
let allowed;
let farmPort = 0;
let job; // { dir, hostKey }: where a worker says it is up, and with which host key
// Nagle on these sockets adds ~90 ms of delayed-ACK stalls to every ssh2 login on loopback (measured:
// 120 ms vs 35 ms per serial login); off, the farm's latency is the ssh client's, not an artefact.
const NO_DELAY = process.env.FARM_NODELAY !== '0';
const listeners = new Map();

process.on('message', (message) => {
  handle(message).catch((error) => send({ type: 'error', message: String(error?.stack ?? error) }));
});
// the parent owns this process: when it goes away, so do we
process.on('disconnect', () => process.exit(0));

async function handle(message) {
  if (message.type === 'start') return start(message);
  if (message.type === 'go') return goLate(message.late);
  if (message.type === 'stats') {
    const usage = process.cpuUsage();
    return send({ type: 'stats', stats: { ...stats, cpuSeconds: (usage.user + usage.system) / 1e6 } });
  }
  if (message.type === 'watch') return watch(message);
}

async function start({ addresses, port, hostKeyPath, hostKey, clientPubPath, dir }) {
  allowed = ssh2.utils.parseKey(readFileSync(clientPubPath));
  if (allowed instanceof Error) throw allowed;
  farmPort = port;
  job = { dir, hostKey };
  sshServer = new ssh2.Server({ hostKeys: [readFileSync(hostKeyPath)] }, onClient);
  // every address is bound once up front, so a late worker cannot fail on a taken port mid-run
  for (const address of addresses) {
    const server = createServer({ noDelay: NO_DELAY }, (socket) => sshServer.injectSocket(socket));
    listeners.set(address, server);
    await listen(server, address, port);
    await sayUp(address);
  }
  send({ type: 'bound', count: addresses.length });
}

async function goLate(late) {
  // late workers close now and come back at their time; everything else keeps listening
  await Promise.all(late.map(({ address }) => close(listeners.get(address))));
  await Promise.all(late.map(({ address }) => nodeFileSystem.remove(nodeStatusPath(job.dir, address))));
  const t0 = now();
  send({ type: 'going', at: t0 });
  const times = await Promise.all(
    late.map(
      ({ address, atMs }) =>
        new Promise((resolve, reject) => {
          setTimeout(() => {
            const server = createServer({ noDelay: NO_DELAY }, (socket) => sshServer.injectSocket(socket));
            listeners.set(address, server);
            // ready = listening and its status written, as a real worker does after sshd's greeting
            listen(server, address, farmPort)
              .then(() => sayUp(address))
              .then(() => resolve({ address, at: now() }), reject);
          }, Math.max(0, t0 + atMs - now()));
        }),
    ),
  );
  send({ type: 'late-listening', times });
}

async function watch({ dir, nodes, staleMs }) {
  const controller = new AbortController();
  setMaxListeners(nodes.length + 10, controller.signal); // one per watcher's sleep
  const started = now();
  const ends = await Promise.all(
    nodes.map(async () => {
      // real workers are not in step: each starts its rhythm at its own moment
      await new Promise((resolve) => setTimeout(resolve, Math.random() * watchIntervalMs(nodes.length)));
      const end = await watchUntilDone({
        fs: nodeFileSystem,
        dir,
        signal: controller.signal,
        containerRunning: async () => true,
        now: () => Date.now(),
        staleMs,
        intervalMs: watchIntervalMs(nodes.length),
      });
      return { end, at: now() };
    }),
  );
  send({ type: 'watch-done', started, ends });
}

function onClient(client) {
  stats.connections += 1;
  client.on('error', () => {
    stats.clientErrors += 1;
  });
  client.on('authentication', (ctx) => {
    if (ctx.method === 'publickey' && ctx.key.algo === allowed.type && ctx.key.data.equals(allowed.getPublicSSH())) {
      if (!ctx.signature) return ctx.accept(); // the client asks whether the key would do
      if (allowed.verify(ctx.blob, ctx.signature, ctx.hashAlgo) === true) return ctx.accept();
    }
    if (ctx.method !== 'none') stats.authRejected += 1; // 'none' is every client's opening question
    ctx.reject(['publickey']);
  });
  client.on('ready', () => {
    client.on('session', (acceptSession) => {
      const session = acceptSession();
      session.on('env', (accept) => accept?.());
      session.on('exec', (accept, _reject, info) => {
        const channel = accept();
        stats.execs += 1;
        channel.exit(info.command === 'true' ? 0 : 127);
        channel.end();
      });
    });
  });
}

function sayUp(address) {
  return writeJson(nodeFileSystem, nodeStatusPath(job.dir, address), { state: 'started', slots: 1, port: farmPort, hostKey: job.hostKey });
}

function listen(server, address, port) {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: address, port, backlog: 511 }, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

function close(server) {
  return new Promise((resolve) => (server ? server.close(() => resolve()) : resolve()));
}

function send(message) {
  if (process.connected) process.send(message);
}
