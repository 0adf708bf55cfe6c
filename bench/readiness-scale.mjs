// Benchmark of the coordinator's readiness wait at scale (issue #5, part 2).
//
//   npm run build && node bench/readiness-scale.mjs [--sizes=8,64,256,1024] [--runs=5,5,5,3]
//        [--concurrency=64] [--extra=1024:16:2,1024:128:2] [--json=out.json]
//
// N workers are real ssh servers (ssh2, one child process) on N loopback addresses 127.1.x.y, all on
// one port. 10 % of them start listening at random times up to 3 s after the wait begins, one more
// at a known 3.5 s; each writes its status file (started, port, host key) when it listens, as a real
// worker does once its sshd greets. The coordinator (its own child process) runs the real
// waitForNodes + the shipped probe from dist/, with the job's ssh material made by dist/'s
// createClientMaterial and createNodeSshd (one host key for the whole farm).
// Only loopback is used; every child is killed by its PID; the temp job directory is removed.
import { fork } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { loadavg, cpus, totalmem, tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { writeJson } from '../dist/coordination.js';
import { nodeFileSystem } from '../dist/fs.js';
import { jobDirFor, nodeHostKeyPath } from '../dist/jobdir.js';
import { createClientMaterial, createNodeSshd, writeKnownHosts } from '../dist/ssh/material.js';

const LATE_FRACTION = 0.1;
const LATE_MAX_MS = 3_000;
const LAST_AT_MS = 3_500;
const TIMEOUT_SECONDS = 120; // the wait's own --timeout
const STEP_LIMIT_MS = 30_000; // any single hand-shake with a child process
const here = new URL('./readiness-scale/', import.meta.url);
const now = () => performance.timeOrigin + performance.now();

const { values: args } = parseArgs({
  options: {
    sizes: { type: 'string', default: '8,64,256,1024' },
    runs: { type: 'string', default: '5,5,5,3' },
    concurrency: { type: 'string', default: '64' },
    extra: { type: 'string', default: '1024:16:2,1024:128:2' },
    json: { type: 'string' },
    variant: { type: 'string', default: 'inprocess' },
  },
});

const children = new Set();
let tmpRoot;

main().then(
  () => undefined,
  (error) => {
    console.error(error?.stack ?? error);
    process.exitCode = 1;
  },
);
for (const signal of ['SIGINT', 'SIGTERM']) process.once(signal, () => void cleanUp().then(() => process.exit(130)));

async function main() {
  const sizes = args.sizes.split(',').map(Number);
  const runs = args.runs.split(',').map(Number);
  const configs = sizes.map((n, i) => ({ n, concurrency: Number(args.concurrency), runs: runs[i] ?? runs.at(-1) }));
  for (const item of args.extra ? args.extra.split(',') : []) {
    const [n, concurrency, count] = item.split(':').map(Number);
    configs.push({ n, concurrency, runs: count ?? 2 });
  }
  console.log(`machine: ${cpus().length} cpu, ${(totalmem() / 2 ** 30).toFixed(1)} GiB, node ${process.version}; probe variant ${args.variant}`);
  tmpRoot = await mkdtemp(join(tmpdir(), 'srun-docker-bench-'));
  const results = [];
  try {
    for (const config of configs) results.push(await runConfig(config));
  } finally {
    await cleanUp();
  }
  printTable(results);
  if (args.json) await nodeFileSystem.writeFile(args.json, JSON.stringify(results, null, 2) + '\n', 0o644);
}

async function runConfig({ n, concurrency, runs }) {
  const nodes = Array.from({ length: n }, (_, i) => `127.1.${Math.floor(i / 250)}.${(i % 250) + 1}`);
  const dir = jobDirFor(join(tmpRoot, `n${n}-c${concurrency}`), 'bench', String(n));
  await nodeFileSystem.mkdir(dir.nodesDir, 0o700);
  const port = await freePort(nodes);
  const user = userInfo();
  await createClientMaterial({ dir, nodes, port, user: user.username }, nodeFileSystem);
  const hostKey = await createNodeSshd({ dir, node: 'farm', port, user: user.username, uid: user.uid, sessionEnv: {} }, nodeFileSystem);
  // the OpenSSH variants read known_hosts; the shipped probe checks each node's reported key
  await writeKnownHosts(dir, port, new Map(nodes.map((n) => [n, hostKey])), nodeFileSystem);
  const loadBefore = loadavg()[0];
  const list = [];
  for (let run = 1; run <= runs; run += 1) {
    const result = await runOnce({ nodes, port, dir, concurrency, hostKey });
    list.push(result);
    console.log(
      `N=${n} c=${concurrency} run ${run}/${runs}: ` +
        (result.error
          ? `FAILED ${result.error}`
          : `detect ${ms(result.detectMs)} total ${ms(result.totalMs)} rss ${result.peaks.vmHwmMb.toFixed(0)} MB ` +
            `fds ${result.peaks.fds} ssh-children ${result.peaks.children} (${result.peaks.childrenRssMb.toFixed(0)} MB) ` +
            `attempts ${result.counts.attempts} refused ${result.counts.refused} ssh-failed ${result.counts.sshFailed} ` +
            `probe ms p50 ${result.probeMs.p50?.toFixed(0)} p90 ${result.probeMs.p90?.toFixed(0)} max ${result.probeMs.max?.toFixed(0)} ` +
            `loop lag max ${result.loopLagMs.max.toFixed(0)} ms ` +
            `cpu s: coordinator ${result.cpu.self.toFixed(1)} ssh ${result.cpu.children.toFixed(1)} farm ${result.stats.cpuSeconds.toFixed(1)} ` +
            `teardown ${ms(result.teardownMs)} load ${loadavg()[0].toFixed(2)}` +
            (result.warnings.length ? `\n  coordinator warned: ${result.warnings.join(' | ')}` : '')),
    );
  }
  return { n, concurrency, runs: list, load: [loadBefore, loadavg()[0]] };
}

async function runOnce({ nodes, port, dir, concurrency, hostKey }) {
  const late = pickLate(nodes);
  const farm = start('farm.mjs');
  const coordinator = start('coordinator.mjs');
  try {
    await expect(coordinator, 'loaded');
    farm.send({ type: 'start', addresses: nodes, port, hostKeyPath: nodeHostKeyPath(dir, 'farm'), hostKey, clientPubPath: `${dir.clientKey}.pub`, dir });
    await expect(farm, 'bound');
    // the wait and the late workers' clock start together
    const lateDone = expect(farm, 'late-listening', LAST_AT_MS + STEP_LIMIT_MS);
    farm.send({ type: 'go', late });
    await expect(farm, 'going');
    coordinator.send({ type: 'run', nodes, port, dir, concurrency, timeoutSeconds: TIMEOUT_SECONDS, trace: late.at(-1).address, variant: args.variant });
    const result = await expect(coordinator, 'result', TIMEOUT_SECONDS * 1000 + STEP_LIMIT_MS);
    const { times } = await lateDone;
    const lastReady = Math.max(...times.map((t) => t.at));
    farm.send({ type: 'stats' });
    const { stats } = await expect(farm, 'stats');
    const teardownMs = result.error ? undefined : await teardownFanOut(farm, dir, nodes);
    return {
      ...result,
      stats,
      detectMs: result.end - lastReady,
      lastReadyAfterStartMs: lastReady - result.start,
      totalMs: result.end - result.start,
      lastNodePassedAfterReadyMs: result.passedAt?.[late.at(-1).address] - lastReady,
      passedAt: undefined,
      teardownMs,
    };
  } finally {
    await Promise.all([stop(farm), stop(coordinator)]);
  }
}

/** The coordinator writes done.json; N watchers (watchUntilDone, every watchIntervalMs(N)) must all notice. */
async function teardownFanOut(farm, dir, nodes) {
  await nodeFileSystem.writeFile(dir.heartbeat, '1\n', 0o600);
  farm.send({ type: 'watch', dir, nodes, staleMs: 60_000 });
  await sleep(1_000); // every watcher is past its first look
  const written = now();
  await writeJson(nodeFileSystem, dir.done, { reason: 'finished' });
  const { ends } = await expect(farm, 'watch-done', STEP_LIMIT_MS);
  await nodeFileSystem.remove(dir.done);
  if (ends.some((e) => e.end !== 'done')) throw new Error(`a watcher ended with ${ends.find((e) => e.end !== 'done').end}`);
  return Math.max(...ends.map((e) => e.at)) - written;
}

function pickLate(nodes) {
  const count = Math.floor(nodes.length * LATE_FRACTION);
  const indexes = shuffle(nodes.map((_, i) => i)).slice(0, count + 1);
  const last = indexes.pop();
  return [
    ...indexes.map((i) => ({ address: nodes[i], atMs: Math.random() * LATE_MAX_MS })),
    { address: nodes[last], atMs: LAST_AT_MS },
  ];
}

function shuffle(list) {
  for (let i = list.length - 1; i > 0; i -= 1) {
    const j = Math.floor(Math.random() * (i + 1));
    [list[i], list[j]] = [list[j], list[i]];
  }
  return list;
}

/** A port free on every one of the addresses (checked again by the farm when it binds). */
async function freePort(nodes) {
  const probe = createServer();
  await new Promise((resolve, reject) => probe.once('error', reject).listen({ host: nodes[0], port: 0 }, resolve));
  const { port } = probe.address();
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

function start(file) {
  // own process group: its ssh children can be stopped with it
  const child = fork(new URL(file, here), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], detached: true });
  child.inbox = [];
  child.waiters = [];
  child.on('message', (message) => {
    if (message.type === 'error') console.error(`${file}: ${message.message}`);
    const waiter = child.waiters.find((w) => w.type === message.type || message.type === 'error');
    if (waiter) {
      child.waiters.splice(child.waiters.indexOf(waiter), 1);
      waiter.resolve(message);
    } else child.inbox.push(message);
  });
  child.exited = new Promise((resolve) => child.once('exit', resolve));
  children.add(child);
  return child;
}

function expect(child, type, limitMs = STEP_LIMIT_MS) {
  const queued = child.inbox.findIndex((m) => m.type === type);
  if (queued >= 0) return Promise.resolve(child.inbox.splice(queued, 1)[0]);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no '${type}' from pid ${child.pid} within ${limitMs} ms`)), limitMs);
    const settle = (message) => {
      clearTimeout(timer);
      if (message.type === 'error') reject(new Error(message.message));
      else resolve(message);
    };
    child.waiters.push({ type, resolve: settle });
    child.exited.then((code) => settle({ type: 'error', message: `pid ${child.pid} exited (${code}) before '${type}'` }));
  });
}

/** SIGTERM to the child's own process group (the child and the ssh clients it started), then SIGKILL. */
async function stop(child) {
  if (child.exitCode === null && child.signalCode === null) {
    signalGroup(child.pid, 'SIGTERM');
    const exited = await Promise.race([child.exited.then(() => true), sleep(3_000).then(() => false)]);
    if (!exited) signalGroup(child.pid, 'SIGKILL');
    await Promise.race([child.exited, sleep(3_000)]);
  }
  // ssh clients the coordinator left behind share its group; they end within their own timeouts anyway
  signalGroup(child.pid, 'SIGKILL');
  children.delete(child);
}

function signalGroup(pid, signal) {
  try {
    process.kill(-pid, signal);
  } catch {
    // the group is already gone
  }
}

async function cleanUp() {
  await Promise.all([...children].map(stop));
  if (tmpRoot) await rm(tmpRoot, { recursive: true, force: true });
  tmpRoot = undefined;
}

function printTable(results) {
  const base = results.find((r) => r.n === results[0].n && r.concurrency === results[0].concurrency);
  const baseTotal = median(base.runs.map((r) => r.totalMs));
  const lines = [
    '| N | conc. | runs | detect median (min–max) | total median (min–max) | total/total(8) | N/8 | N/conc. | peak RSS MB | peak fds | peak ssh children (their RSS MB) | teardown fan-out | load 1-min |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|---|',
  ];
  for (const { n, concurrency, runs, load } of results) {
    const ok = runs.filter((r) => !r.error);
    const failed = runs.length - ok.length;
    if (ok.length === 0) {
      lines.push(`| ${n} | ${concurrency} | ${runs.length} (all failed: ${runs[0].error}) |`);
      continue;
    }
    const detect = ok.map((r) => r.detectMs);
    const total = ok.map((r) => r.totalMs);
    const teardown = ok.map((r) => r.teardownMs);
    lines.push(
      `| ${n} | ${concurrency} | ${runs.length}${failed ? ` (${failed} failed)` : ''} | ${spread(detect)} | ${spread(total)} | ` +
        `${(median(total) / baseTotal).toFixed(2)} | ${n / base.n} | ${(n / concurrency).toFixed(2)} | ` +
        `${Math.max(...ok.map((r) => r.peaks.vmHwmMb)).toFixed(0)} | ${Math.max(...ok.map((r) => r.peaks.fds))} | ` +
        `${Math.max(...ok.map((r) => r.peaks.children))} (${Math.max(...ok.map((r) => r.peaks.childrenRssMb)).toFixed(0)}) | ` +
        `${ms(median(teardown))} | ${load.map((l) => l.toFixed(2)).join('→')} |`,
    );
  }
  console.log('\n' + lines.join('\n'));
}

function spread(values) {
  return `${ms(median(values))} (${ms(Math.min(...values))}–${ms(Math.max(...values))})`;
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

function ms(value) {
  return value === undefined || Number.isNaN(value) ? '–' : value >= 1000 ? `${(value / 1000).toFixed(2)} s` : `${value.toFixed(0)} ms`;
}

function sleep(msValue) {
  return new Promise((resolve) => setTimeout(resolve, msValue));
}
