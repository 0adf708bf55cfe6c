// The coordinator's side of bench/readiness-scale.mjs, in its own process so that its memory and
// file descriptors are measured alone: the real waitForNodes + the shipped probe (in-process login) from
// dist/, with the real status reads of the job directory (one listing a round, then the reports it names; a node is logged in to once its status file
// says its sshd is up, with the host key to expect), and a sampler alongside.
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { statusReader } from '../../dist/roles/coordinator.js';
import { nodeFileSystem } from '../../dist/fs.js';
import { waitForNodes } from '../../dist/readiness.js';
import { execaRunner } from '../../dist/runner.js';
import { sshLoginProbe } from '../../dist/ssh/probe.js';
import { inProcessLoginProbe } from '../../dist/ssh/login-probe.js';
import { spawnRunner } from './variants.mjs';

const now = () => performance.timeOrigin + performance.now();
const SAMPLE_MS = 20;

process.on('disconnect', () => process.exit(0));
// a warning the real coordinator would print to the user's terminal is a finding, not noise
const warnings = [];
process.removeAllListeners('warning');
process.on('warning', (warning) => warnings.push(`${warning.name}: ${warning.message}`.slice(0, 300)));
process.on('message', (message) => {
  if (message.type !== 'run') return;
  run(message).then(
    (result) => send({ type: 'result', ...result }),
    (error) => send({ type: 'result', error: String(error?.message ?? error) }),
  );
});
send({ type: 'loaded' });

async function run({ nodes, port, dir, concurrency, timeoutSeconds, trace, variant }) {
  resetPeakRss();
  const sampler = startSampler();
  const counts = { attempts: 0, refused: 0, sshFailed: 0, otherFailed: 0, passed: 0 };
  const passedAt = new Map();
  const probe = await makeProbe(variant, { port, dir, timeoutMs: 5_000 });
  const loopDelay = monitorEventLoopDelay({ resolution: 10 });
  loopDelay.enable();
  const durations = [];
  const traced = []; // every attempt on the node named `trace`: [start, end, outcome]
  const counted = async (node, status) => {
    counts.attempts += 1;
    const begun = now();
    const note = (outcome) => node === trace && traced.push([Math.round(begun - start), Math.round(now() - start), outcome.slice(0, 60)]);
    try {
      await probe(node, status.hostKey);
      note('ok');
      counts.passed += 1;
      passedAt.set(node, now());
      durations.push(now() - begun);
    } catch (error) {
      const text = String(error?.message ?? error);
      if (text.startsWith('nothing listening')) counts.refused += 1;
      else if (text.startsWith('ssh login failed')) counts.sshFailed += 1;
      else counts.otherFailed += 1;
      counts.lastError = text;
      note(text);
      throw error;
    }
  };
  const controller = new AbortController();
  const cpuBefore = cpuSeconds();
  const start = now();
  let error;
  try {
    await waitForNodes({
      nodes,
      timeoutSeconds,
      concurrency,
      probe: counted,
      ...statusReader(nodeFileSystem, dir, port),
      signal: controller.signal,
    });
  } catch (caught) {
    error = String(caught?.message ?? caught).slice(0, 2000);
  }
  const end = now();
  const peaks = sampler.stop();
  loopDelay.disable();
  const loopLagMs = { p99: loopDelay.percentile(99) / 1e6, max: loopDelay.max / 1e6 };
  const cpuAfter = cpuSeconds();
  const cpu = { self: cpuAfter.self - cpuBefore.self, children: cpuAfter.children - cpuBefore.children };
  durations.sort((a, b) => a - b);
  const probeMs = { p50: durations[Math.floor(durations.length / 2)], p90: durations[Math.floor(durations.length * 0.9)], max: durations.at(-1) };
  return { start, end, error, counts, cpu, probeMs, loopLagMs, traced, warnings: warnings.splice(0), peaks: { ...peaks, vmHwmMb: vmHwmMb() }, passedAt: Object.fromEntries(passedAt) };
}

/**
 * 'inprocess' is what src/ ships for zero set-up (logins in the coordinator's process);
 * 'execa' is OpenSSH per probe (what --sshconfigdir mode uses); 'spawn' is OpenSSH via child_process.
 */
function makeProbe(variant = 'inprocess', { port, dir, timeoutMs }) {
  if (variant === 'inprocess') return inProcessLoginProbe({ dir, port, user: userInfo().username, timeoutMs }, nodeFileSystem);
  if (variant === 'execa') return sshLoginProbe(execaRunner, { port, sshConfig: dir.sshConfig, timeoutMs });
  if (variant === 'spawn') return sshLoginProbe(spawnRunner, { port, sshConfig: dir.sshConfig, timeoutMs });
  throw new Error(`Expected variant inprocess, execa or spawn, got ${variant}`);
}

/** Samples RSS, open fds and live child processes (the ssh clients) every SAMPLE_MS. */
function startSampler() {
  const peaks = { rssMb: 0, fds: 0, children: 0, childrenRssMb: 0, samples: 0 };
  const sample = () => {
    peaks.samples += 1;
    peaks.rssMb = Math.max(peaks.rssMb, process.memoryUsage.rss() / 2 ** 20);
    peaks.fds = Math.max(peaks.fds, readdirSync('/proc/self/fd').length);
    const children = childPids();
    peaks.children = Math.max(peaks.children, children.length);
    if (peaks.samples % 5 === 0) peaks.childrenRssMb = Math.max(peaks.childrenRssMb, sumRssMb(children));
  };
  sample();
  const timer = setInterval(sample, SAMPLE_MS);
  return {
    stop() {
      clearInterval(timer);
      sample();
      return peaks;
    },
  };
}

/** CPU seconds of this process, and of its ended (reaped) children: the ssh clients. */
function cpuSeconds() {
  const fields = readFileSync('/proc/self/stat', 'utf8').split(') ')[1].split(' ');
  const ticks = 100; // USER_HZ on Linux
  const usage = process.cpuUsage();
  return { self: (usage.user + usage.system) / 1e6, children: (Number(fields[13]) + Number(fields[14])) / ticks };
}

function childPids() {
  try {
    return readFileSync(`/proc/self/task/${process.pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean);
  } catch {
    return [];
  }
}

function sumRssMb(pids) {
  let pages = 0;
  for (const pid of pids) {
    try {
      pages += Number(readFileSync(`/proc/${pid}/statm`, 'utf8').split(' ')[1]);
    } catch {
      // the child ended between the listing and the read
    }
  }
  return (pages * 4096) / 2 ** 20;
}

/** Linux: writing 5 to clear_refs resets VmHWM, so the peak is this run's own. */
function resetPeakRss() {
  try {
    writeFileSync('/proc/self/clear_refs', '5');
  } catch {
    // not allowed here: VmHWM then includes start-up, which is smaller than the wait anyway
  }
}

function vmHwmMb() {
  const match = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
  return match ? Number(match[1]) / 1024 : undefined;
}

function send(message) {
  if (process.connected) process.send(message);
}
