// Simulated workers for bench/readiness-scale.mjs, all in one process, each doing over the real
// control channel what src/roles/worker.ts does: joinCoordinator from dist/ (the coordinator at its
// loopback address; the job's secret read from the job directory by dist/'s readJobSecret once the
// hello said it is there), then its own sshd material in the job directory (dist/'s createNodeSshd:
// host key pair and sshd_config; its passwd and group, as writeUserFiles writes them), then an ssh
// server (ssh2, one per node with that node's own host key, on its own loopback address 127.1.x.y,
// all on one port like real nodes) that accepts only the job's client key and answers `exec true`;
// once it listens, `up` with the port, that host key and the node's address. On `done`: `bye`.
// Every home operation of the real code goes through a counting file system. Driven over IPC.
import { wallClock } from '../../dist/platform/timings.js';
import { setMaxListeners } from 'node:events';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { performance } from 'node:perf_hooks';
import ssh2 from 'ssh2';
import { joinCoordinator } from '../../dist/channel/client.js';
import { channelPorts } from '../../dist/channel/ports.js';
import { readJobSecret } from '../../dist/roles/coordination.js';
import { jobDirFor, nodeEtcDir, nodeHostKeyPath } from '../../dist/plan/jobdir.js';
import { sessionEnvScript, sessionFiles } from '../../dist/ssh/session-shell.js';
import { createNodeSshd } from '../../dist/ssh/material.js';
import { countingFileSystem } from './counting-fs.mjs';

const now = () => performance.timeOrigin + performance.now();
const stats = { connections: 0, authRejected: 0, execs: 0, clientErrors: 0, impostors: 0 };
const home = countingFileSystem();
const links = [];
const listeners = [];
let allowed;

process.on('message', (message) => {
  handle(message).catch((error) => send({ type: 'error', message: String(error?.stack ?? error) }));
});
// the parent owns this process: when it goes away, so do we
process.on('disconnect', () => process.exit(0));
send({ type: 'loaded' });

async function handle(message) {
  if (message.type === 'start') return start(message);
  if (message.type === 'snapshot') return send({ type: 'snapshot', at: now(), ops: home.snapshot(), cpu: cpuSeconds() });
}

async function start({ home: homeDir, jobId, stepId, nodes, coordinatorAddress, sshPort, late, timeoutSeconds }) {
  const dir = jobDirFor(homeDir, jobId, stepId);
  const lateAt = new Map(late.map(({ address, atMs }) => [address, atMs]));
  const t0 = now();
  const controller = new AbortController();
  // one signal for all N joins here (each real worker has its own): each sleep between rounds listens on it
  setMaxListeners(nodes.length + 10, controller.signal);
  const deadline = Date.now() + timeoutSeconds * 1000;
  let startOps;
  let upSent = 0;
  // the late workers' clock starts once every other one has said up (the old bench's wait began
  // with 90 % listening): the coordinator's logins into those overlap the late ones' delays
  let onTimeUp;
  const allOnTimeUp = new Promise((resolve) => (onTimeUp = resolve));
  let onTimeLeft = nodes.length - lateAt.size;
  if (onTimeLeft === 0) onTimeUp(now());
  const ended = [];
  const times = await Promise.all(
    nodes.map(async (node) => {
      const link = await joinCoordinator({
        job: `${jobId}.${stepId}`,
        node,
        dir: dir.root,
        coordinator: coordinatorAddress,
        address: () => Promise.resolve(coordinatorAddress),
        ports: channelPorts(jobId, stepId),
        readSecret: () => readJobSecret(home.fs, dir, deadline, wallClock),
        deadline,
        clock: wallClock,
        signal: controller.signal,
        onImpostor: (port, reason) => {
          stats.impostors += 1;
          if (process.env.FARM_DEBUG) console.error(`DEBUG ${node}: port ${port} ${reason}`);
        },
      });
      const joinedAt = now();
      links.push(link);
      // the worker's own part of the job directory (prepareNode), made once the hello said it exists
      const [hostKey] = await Promise.all([
        createNodeSshd({ dir, node, port: sshPort, user: 'bench', uid: process.getuid(), sessionEnv: { PATH: '/usr/bin:/bin' }, ssh: 'image' }, home.fs),
        home.fs
          .mkdir(nodeEtcDir(dir, node), 0o700)
          .then(() =>
            Promise.all([
              home.fs.writeFile(`${nodeEtcDir(dir, node)}/passwd`, 'root:x:0:0:root:/root:/bin/sh\n', 0o644),
              home.fs.writeFile(`${nodeEtcDir(dir, node)}/group`, 'root:x:0:\n', 0o644),
            ]),
          ),
      ]);
      allowed ??= ssh2.utils.parseKey(readFileSync(`${dir.clientKey}.pub`));
      // sshd reads its key in the container, on the node's own host: not one of this process's operations
      const sshd = new ssh2.Server({ hostKeys: [readFileSync(nodeHostKeyPath(dir, node))] }, onClient);
      const atMs = lateAt.get(node);
      if (atMs !== undefined) await sleep((await allOnTimeUp) + atMs - now());
      const server = createServer({ noDelay: true }, (socket) => sshd.injectSocket(socket));
      listeners.push(server);
      await listen(server, node, sshPort);
      const listeningAt = now();
      link.send({ t: 'up', port: sshPort, slots: 1, hostKey, address: node });
      // as the real worker: its ssh sessions' variables, written by itself once the coordinator sends them
      void link.env
        .then((env) => home.fs.writeFile(sessionFiles(nodeEtcDir(dir, node), '/bin/sh').env, sessionEnvScript(env, nodes.indexOf(node) + 1), 0o600))
        .then(() => link.send({ t: 'env-written' }));
      upSent += 1;
      if (atMs === undefined && --onTimeLeft === 0) onTimeUp(now());
      if (upSent === nodes.length) startOps = home.snapshot();
      void link.ended.then((end) => {
        if ('done' in end) link.send({ t: 'bye' });
        link.close();
        ended.push({ end: 'done' in end ? 'done' : end.lost, at: now() });
        if (process.env.FARM_DEBUG && !('done' in end)) console.error(`DEBUG lost ${node} ${end.lost} ${Math.round(now() - joinedAt)} ms after join, up sent ${upSent}`);
        if (ended.length === nodes.length) void stopAll().then(() => send({ type: 'gone', ends: ended.map((e) => e.end), ops: home.snapshot() }));
      });
      return { node, joinMs: joinedAt - t0, listeningAt };
    }),
  );
  const joins = times.map((t) => t.joinMs).sort((a, b) => a - b);
  send({
    type: 'listening',
    t0,
    lateClockAt: await allOnTimeUp,
    lastListeningAt: Math.max(...times.map((t) => t.listeningAt)),
    lastNode: times.reduce((a, b) => (b.listeningAt > a.listeningAt ? b : a)).node,
    joinMs: { p50: joins[Math.floor(joins.length / 2)], max: joins.at(-1) },
    ops: startOps,
    stats,
  });
}

async function stopAll() {
  await Promise.all(listeners.splice(0).map((server) => new Promise((resolve) => server.close(() => resolve()))));
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
    if (ctx.method !== 'none') stats.authRejected += 1;
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

function listen(server, address, port) {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: address, port, backlog: 511 }, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

function cpuSeconds() {
  const usage = process.cpuUsage();
  return (usage.user + usage.system) / 1e6;
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
}

function send(message) {
  if (process.connected) process.send(message);
}
