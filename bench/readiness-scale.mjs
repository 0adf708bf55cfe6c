// Benchmark of the coordinator at scale over the control channel (issue 13, "Scale").
//
//   npm run build && node bench/readiness-scale.mjs [--sizes=8,64,256,1024] [--runs=3,3,3,3]
//        [--concurrency=64] [--job-ms=4000] [--json=out.json]
//
// Two child processes. The farm (readiness-scale/farm.mjs) simulates N workers: each joins the
// coordinator over the real channel (dist/'s joinCoordinator, the secret read from the job
// directory), writes its own sshd material into the job directory, starts an ssh server on its own
// loopback address 127.1.x.y (all on one port) and says `up` once it listens: 90 % as soon as they
// can, 10 % at random times up to 3 s after those 90 % are up, one more at a known 3.5 s after. The coordinator
// (readiness-scale/coordinator.mjs) runs the real openChannelServer + waitForNodes + in-process
// login probe, wired as src/roles/coordinator.ts wires them. Then a "job" of --job-ms with every
// worker connected and idle, then done → every goodbye. Both processes count every call into the
// home's FileSystem (one method call = one op).
// Only loopback is used; every child is ended by its PID; the temp home is removed.
import { fork } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { opsBetween } from './readiness-scale/counting-fs.mjs';

const LATE_FRACTION = 0.1;
const LATE_MAX_MS = 3_000;
const LAST_AT_MS = 3_500;
const TIMEOUT_SECONDS = 120; // the wait's own --timeout
const STEP_LIMIT_MS = 60_000; // any single hand-shake with a child process
const COORDINATOR = '127.0.0.1';
const here = new URL('./readiness-scale/', import.meta.url);

const { values: args } = parseArgs({
  options: {
    sizes: { type: 'string', default: '8,64,256,1024' },
    runs: { type: 'string', default: '3,3,3,3' },
    concurrency: { type: 'string', default: '64' },
    'job-ms': { type: 'string', default: '4000' },
    json: { type: 'string' },
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
  console.log(`machine: ${cpus().length} cpu, ${(totalmem() / 2 ** 30).toFixed(1)} GiB, node ${process.version}; job phase ${args['job-ms']} ms`);
  tmpRoot = await mkdtemp(join(tmpdir(), 'srun-docker-bench-'));
  const results = [];
  try {
    for (const config of configs) results.push(await runConfig(config));
  } finally {
    await cleanUp();
  }
  printTables(results);
  if (args.json) await writeFile(args.json, JSON.stringify(results, null, 2) + '\n');
}

async function runConfig({ n, concurrency, runs }) {
  const nodes = Array.from({ length: n }, (_, i) => `127.1.${Math.floor(i / 250)}.${(i % 250) + 1}`);
  const loadBefore = loadavg()[0];
  const list = [];
  for (let run = 1; run <= runs; run += 1) {
    const result = await runOnce({ nodes, concurrency, run }).catch((error) => ({ error: String(error?.message ?? error) }));
    list.push(result);
    console.log(
      `N=${n} run ${run}/${runs}: ` +
        (result.error
          ? `FAILED ${result.error}`
          : `detect ${ms(result.detectMs)} total ${ms(result.totalMs)} (90 % up at ${ms(result.onTimeUpAfterStartMs)}; last node in ${ms(result.lastNodeLoginMs)}, all others by ${ms(result.othersPassedMs)}) join p50 ${ms(result.joinMs.p50)} max ${ms(result.joinMs.max)} ` +
            `rss ${result.rssMb.toFixed(0)} MB (job ${result.jobRssMb.toFixed(0)}) fds ${result.fds} ` +
            `attempts ${result.counts.attempts} refused ${result.counts.refused} ssh-failed ${result.counts.sshFailed} ` +
            `loop lag max ${result.loopLagMs.max.toFixed(0)} ms cpu s: coordinator ${result.cpu.toFixed(1)} farm ${result.farmCpu.toFixed(1)} ` +
            `idle cpu ${result.idleCpuPct.toFixed(1)} % ` +
            `home ops start: coordinator ${result.ops.coordinatorStart.total} workers ${result.ops.workersStart.total} (${fmt(result.ops.workersStart.byMethod)}) ` +
            `job: coordinator ${result.ops.coordinatorJob.total} workers ${result.ops.workersJob.total} in ${(result.jobSeconds).toFixed(1)} s ` +
            `end: ${result.ops.coordinatorEnd.total}+${result.ops.workersEnd.total} ` +
            `teardown ${ms(result.teardownMs)} load ${loadavg()[0].toFixed(2)}` +
            (result.warnings.length ? `\n  coordinator warned: ${result.warnings.slice(0, 5).join(' | ')}` : '')),
    );
  }
  return { n, concurrency, runs: list, load: [loadBefore, loadavg()[0]] };
}

async function runOnce({ nodes, concurrency, run }) {
  const homeDir = join(tmpRoot, `n${nodes.length}-r${run}`);
  const jobId = String(process.pid * 10 + run);
  const stepId = String(nodes.length);
  const sshPort = await freePort(nodes);
  const late = pickLate(nodes);
  const farm = start('farm.mjs');
  const coordinator = start('coordinator.mjs');
  try {
    await Promise.all([expect(coordinator, 'loaded'), expect(farm, 'loaded')]);
    coordinator.send({ type: 'open', home: homeDir, jobId, stepId, node: COORDINATOR, nodes, concurrency, timeoutSeconds: TIMEOUT_SECONDS });
    await expect(coordinator, 'opened');
    const farmStart = await snapshot(farm);
    farm.send({ type: 'start', home: homeDir, jobId, stepId, nodes, coordinatorAddress: COORDINATOR, sshPort, late, timeoutSeconds: TIMEOUT_SECONDS });
    const listened = expect(farm, 'listening', TIMEOUT_SECONDS * 1000 + STEP_LIMIT_MS);
    listened.catch(() => undefined); // awaited once the coordinator is ready
    const ready = await expect(coordinator, 'ready', TIMEOUT_SECONDS * 1000 + STEP_LIMIT_MS);
    if (ready.error) throw new Error(`${ready.error.slice(0, 300)} [refused ${ready.refused}: ${ready.refusedSample.join(' | ')}]`);
    const listening = await listened;
    // the job: everything connected and idle
    const [c0, f0] = await Promise.all([snapshot(coordinator), snapshot(farm)]);
    await sleep(Number(args['job-ms']));
    const [c1, f1] = await Promise.all([snapshot(coordinator), snapshot(farm)]);
    const gone = expect(farm, 'gone', STEP_LIMIT_MS);
    coordinator.send({ type: 'done' });
    const finished = await expect(coordinator, 'finished', STEP_LIMIT_MS);
    const farmGone = await gone;
    const jobSeconds = (c1.at - c0.at) / 1000;
    return {
      detectMs: ready.end - listening.lastListeningAt,
      totalMs: ready.end - ready.start,
      lastListeningAfterStartMs: listening.lastListeningAt - ready.start,
      onTimeUpAfterStartMs: listening.lateClockAt - ready.start,
      // the logins of every other node, done before or after the last one listened
      othersPassedMs: Math.max(...Object.entries(ready.passedAt).filter(([node]) => node !== listening.lastNode).map(([, at]) => at)) - listening.lastListeningAt,
      lastNodeLoginMs: ready.passedAt[listening.lastNode] - listening.lastListeningAt,
      joinMs: listening.joinMs,
      counts: ready.counts,
      refused: finished.refused,
      left: finished.left,
      probeMs: ready.probeMs,
      loopLagMs: ready.loopLagMs,
      rssMb: finished.peaks.vmHwmMb,
      jobRssMb: c1.rssMb,
      fds: finished.peaks.fds,
      cpu: finished.cpu,
      farmCpu: f1.cpu - farmStart.cpu,
      idleCpuPct: ((c1.cpu - c0.cpu) / jobSeconds) * 100,
      jobSeconds,
      teardownMs: finished.teardownMs,
      ops: {
        coordinatorStart: ready.ops,
        workersStart: opsBetween(farmStart.ops, listening.ops),
        coordinatorJob: opsBetween(c0.ops, c1.ops),
        workersJob: opsBetween(f0.ops, f1.ops),
        coordinatorEnd: finished.endOps,
        workersEnd: opsBetween(f1.ops, farmGone.ops),
      },
      farm: listening.stats,
      warnings: finished.warnings,
    };
  } finally {
    await Promise.all([stop(farm), stop(coordinator)]);
    await rm(homeDir, { recursive: true, force: true });
  }
}

async function snapshot(child) {
  child.send({ type: 'snapshot' });
  return expect(child, 'snapshot');
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

/** A port free on the first address (the farm binds it on every address). */
async function freePort(nodes) {
  const probe = createServer();
  await new Promise((resolve, reject) => probe.once('error', reject).listen({ host: nodes[0], port: 0 }, resolve));
  const { port } = probe.address();
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

function start(file) {
  const child = fork(new URL(file, here), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
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

/** SIGTERM to the child by its PID, then SIGKILL if it is still there after 3 s. */
async function stop(child) {
  if (child.exitCode === null && child.signalCode === null) {
    signal(child.pid, 'SIGTERM');
    const exited = await Promise.race([child.exited.then(() => true), sleep(3_000).then(() => false)]);
    if (!exited) signal(child.pid, 'SIGKILL');
    await Promise.race([child.exited, sleep(3_000)]);
  }
  children.delete(child);
}

function signal(pid, name) {
  try {
    process.kill(pid, name);
  } catch {
    // already gone
  }
}

async function cleanUp() {
  await Promise.all([...children].map(stop));
  if (tmpRoot) await rm(tmpRoot, { recursive: true, force: true });
  tmpRoot = undefined;
}

function printTables(results) {
  const base = results[0];
  const baseTotal = median(base.runs.filter((r) => !r.error).map((r) => r.totalMs));
  const lines = [
    '| N | runs | detect median (min–max) | the others\' logins done, vs the last listening (median) | total median (min–max) | total/total(8) | N/8 | join median, max | peak RSS MB (in the job) | peak fds | loop lag max | CPU s coordinator / farm | coordinator idle CPU | teardown fan-out (done → all byes) | load 1-min |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|',
  ];
  const opsLines = [
    '| N | home ops at start: coordinator | at start: workers, per node | during the job: coordinator, ops/s | during the job: workers, ops/s (per node) | at the end: coordinator / workers |',
    '|---|---|---|---|---|---|',
  ];
  for (const { n, runs, load } of results) {
    const ok = runs.filter((r) => !r.error);
    const failed = runs.length - ok.length;
    if (ok.length === 0) {
      lines.push(`| ${n} | ${runs.length} (all failed: ${runs[0].error.slice(0, 200)}) |`);
      continue;
    }
    const max = (f) => Math.max(...ok.map(f));
    lines.push(
      `| ${n} | ${runs.length}${failed ? ` (${failed} failed)` : ''} | ${spread(ok.map((r) => r.detectMs))} | ${signedMs(median(ok.map((r) => r.othersPassedMs)))} | ${spread(ok.map((r) => r.totalMs))} | ` +
        `${(median(ok.map((r) => r.totalMs)) / baseTotal).toFixed(2)} | ${n / base.n} | ` +
        `${ms(median(ok.map((r) => r.joinMs.p50)))}, ${ms(max((r) => r.joinMs.max))} | ` +
        `${max((r) => r.rssMb).toFixed(0)} (${max((r) => r.jobRssMb).toFixed(0)}) | ${max((r) => r.fds)} | ${max((r) => r.loopLagMs.max).toFixed(0)} ms | ` +
        `${median(ok.map((r) => r.cpu)).toFixed(2)} / ${median(ok.map((r) => r.farmCpu)).toFixed(2)} | ${median(ok.map((r) => r.idleCpuPct)).toFixed(1)} % | ` +
        `${ms(median(ok.map((r) => r.teardownMs)))} | ${load.map((l) => l.toFixed(2)).join('→')} |`,
    );
    const perSecond = (list) => median(list).toFixed(2);
    opsLines.push(
      `| ${n} | ${spreadCount(ok.map((r) => r.ops.coordinatorStart.total))} | ${median(ok.map((r) => r.ops.workersStart.total / n)).toFixed(2)} (${fmt(ok[0].ops.workersStart.byMethod, n)}) | ` +
        `${perSecond(ok.map((r) => r.ops.coordinatorJob.total / r.jobSeconds))} (${fmt(ok[0].ops.coordinatorJob.byMethod) || 'none'}) | ` +
        `${perSecond(ok.map((r) => r.ops.workersJob.total / r.jobSeconds))} (${(median(ok.map((r) => r.ops.workersJob.total / r.jobSeconds)) / n).toFixed(3)}) | ` +
        `${spreadCount(ok.map((r) => r.ops.coordinatorEnd.total))} / ${spreadCount(ok.map((r) => r.ops.workersEnd.total))} |`,
    );
  }
  console.log('\n' + lines.join('\n') + '\n\n' + opsLines.join('\n'));
}

function fmt(byMethod, per = 1) {
  return Object.entries(byMethod ?? {})
    .map(([name, count]) => `${name} ${per === 1 ? count : (count / per).toFixed(2)}`)
    .join(', ');
}

function signedMs(value) {
  return value < 0 ? `${ms(-value)} before` : `${ms(value)} after`;
}

function spread(values) {
  return `${ms(median(values))} (${ms(Math.min(...values))}–${ms(Math.max(...values))})`;
}

function spreadCount(values) {
  const low = Math.min(...values);
  const high = Math.max(...values);
  return low === high ? String(low) : `${median(values)} (${low}–${high})`;
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
