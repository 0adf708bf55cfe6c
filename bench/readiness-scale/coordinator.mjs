// The coordinator's side of bench/readiness-scale.mjs, in its own process so that its memory, file
// descriptors and CPU are measured alone. Wired as src/roles/coordinator.ts wires the real pieces
// from dist/: the job directory (ensureJobDir, coordinator.json), the job's secret on the home and
// openChannelServer on the job step's channel ports, createClientMaterial, then
// waitForNodes with whenUp = the worker's `up` over the channel, lostReason from its session, and the
// shipped in-process login probe at the address, port and host key each worker reported; then the
// job's files (hostfiles, ssh_config and known_hosts, job.env). At the end: done to every worker,
// until every goodbye, the channel closed, the job directory removed. Every home operation of that
// code goes through a counting file system; a sampler measures RSS and fds alongside.
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { newSecret } from '../../dist/channel/auth.js';
import { channelPorts } from '../../dist/channel/ports.js';
import { openChannelServer } from '../../dist/channel/server.js';
import { ensureJobDir } from '../../dist/roles/coordination.js';
import { buildJobEnv, hostfiles, jobEnvScript } from '../../dist/plan/job-env.js';
import { jobDirFor, nodeEtcDir } from '../../dist/plan/jobdir.js';
import { sessionEnvScript, sessionFiles } from '../../dist/ssh/session-shell.js';
import { waitForNodes } from '../../dist/roles/readiness.js';
import { inProcessLoginProbe } from '../../dist/ssh/login-probe.js';
import { createClientMaterial, writeHostFiles } from '../../dist/ssh/material.js';
import { countingFileSystem } from './counting-fs.mjs';

const now = () => performance.timeOrigin + performance.now();
const SAMPLE_MS = 20;
const WORKERS_GONE_WAIT_MS = 15_000;

process.on('disconnect', () => process.exit(0));
// a warning the real coordinator would print to the user's terminal is a finding, not noise
const warnings = [];
process.removeAllListeners('warning');
process.on('warning', (warning) => warnings.push(`${warning.name}: ${warning.message}`.slice(0, 300)));
process.on('message', (message) => {
  handle(message).catch((error) => send({ type: 'error', message: String(error?.stack ?? error) }));
});
send({ type: 'loaded' });

const home = countingFileSystem();
let job;

async function handle(message) {
  if (message.type === 'open') return open(message);
  if (message.type === 'snapshot') return send({ type: 'snapshot', at: now(), ops: home.snapshot(), cpu: cpuSeconds().self, rssMb: process.memoryUsage.rss() / 2 ** 20 });
  if (message.type === 'done') return finish();
}

async function open({ home: homeDir, jobId, stepId, node, nodes, concurrency, timeoutSeconds }) {
  resetPeakRss();
  const sampler = startSampler();
  const cpuBefore = cpuSeconds();
  const fs = home.fs;
  const dir = jobDirFor(homeDir, jobId, stepId);
  const refused = [];
  await ensureJobDir(fs, dir);
  await fs.writeFile(dir.coordinator, `${JSON.stringify({ node, token: 'bench', jobId, stepId })}\n`, 0o600);
  const secret = newSecret();
  await fs.writeFile(dir.secret, `${secret.toString('hex')}\n`, 0o600);
  const channel = await openChannelServer({
    job: `${jobId}.${stepId}`,
    dir: dir.root,
    secret,
    ports: channelPorts(jobId, stepId),
    workers: nodes,
    node,
    now: Date.now,
    onPortTaken: (port) => warnings.push(`port ${port} taken`),
    onRefused: (remote, reason) => refused.push(`${remote}: ${reason}`),
    onWarning: (from, key, text) => warnings.push(`${from} ${key}: ${text}`),
  });
  await createClientMaterial({ dir, port: 0, ssh: 'image' }, fs);
  job = { dir, channel, sampler, cpuBefore, refused };
  send({ type: 'opened', port: channel.port, dir: dir.root });

  const counts = { attempts: 0, refused: 0, sshFailed: 0, otherFailed: 0, passed: 0 };
  const durations = [];
  const passedAt = {};
  const shipped = await inProcessLoginProbe({ dir, user: userInfo().username, timeoutMs: 5_000 }, fs);
  const probe = async (name, endpoint) => {
    counts.attempts += 1;
    const begun = now();
    try {
      await shipped(name, endpoint);
      counts.passed += 1;
      durations.push(now() - begun);
      passedAt[name] = now();
    } catch (error) {
      const text = String(error?.message ?? error);
      if (text.startsWith('nothing listening')) counts.refused += 1;
      else if (text.startsWith('ssh login failed')) counts.sshFailed += 1;
      else counts.otherFailed += 1;
      counts.lastError = text;
      throw error;
    }
  };
  const loopDelay = monitorEventLoopDelay({ resolution: 10 });
  loopDelay.enable();
  const start = now();
  let error;
  let reports;
  try {
    reports = await waitForNodes({
      nodes,
      timeoutSeconds,
      concurrency,
      whenUp: (name) => channel.session(name).up,
      lostReason: (name) => channel.session(name).lostReason,
      probe,
      signal: new AbortController().signal,
      now: Date.now,
    });
  } catch (caught) {
    error = String(caught?.message ?? caught).slice(0, 2000);
  }
  const end = now();
  loopDelay.disable();
  if (reports !== undefined) await writeJobFiles(dir, node, nodes, reports, channel);
  durations.sort((a, b) => a - b);
  send({
    type: 'ready',
    start,
    end,
    error,
    counts,
    passedAt,
    refused: refused.length,
    refusedSample: [...new Set(refused.map((r) => r.replace(/^[^ ]+ /, '')))].slice(0, 5),
    probeMs: { p50: durations[Math.floor(durations.length / 2)], max: durations.at(-1) },
    loopLagMs: { p99: loopDelay.percentile(99) / 1e6, max: loopDelay.max / 1e6 },
    ops: home.snapshot(),
  });
}

/** As the real coordinator's writeJobFiles: the host files, ssh_config and known_hosts, job.env, the ssh sessions' variables (its own, and the workers' over the channel). */
async function writeJobFiles(dir, node, nodes, reports, channel) {
  const ownAddress = channel.localAddress();
  const all = [node, ...nodes];
  const slots = all.map((name) => ({ node: name, slots: reports.get(name)?.slots ?? 1 }));
  const endpoints = all.map((name) => {
    const report = reports.get(name);
    return { node: name, address: report?.address ?? ownAddress ?? '127.0.0.1', port: report?.port ?? 22, hostKey: report?.hostKey };
  });
  const env = buildJobEnv({
    nodes: slots,
    port: endpoints[1]?.port ?? 22,
    masterPort: 29_500,
    masterAddr: ownAddress,
    dir,
    sshconfigdir: undefined,
    scriptPath: '/bin/true',
    scriptArgs: [],
    envlist: {},
    imagePath: '/usr/bin:/bin',
    asRoot: false,
  });
  await Promise.all([
    ...[...hostfiles(slots, dir)].map(([path, text]) => home.fs.writeFile(path, text, 0o600)),
    writeHostFiles(dir, userInfo().username, endpoints, home.fs),
    home.fs.writeFile(dir.jobEnv, jobEnvScript(env), 0o600),
    // the real coordinator made its own folder while it prepared (its passwd); here it is made now
    home.fs.mkdir(nodeEtcDir(dir, node), 0o700).then(() => home.fs.writeFile(sessionFiles(nodeEtcDir(dir, node), '/bin/sh').env, sessionEnvScript(env, 0), 0o600)),
    channel.shareEnv(() => env),
  ]);
}

/** The job is over: done to every worker, until all said goodbye, then the teardown's home part. */
async function finish() {
  const { dir, channel, sampler, cpuBefore, refused } = job;
  const before = home.snapshot();
  const told = now();
  channel.broadcastDone('finished');
  const left = await channel.waitForGoodbyes(WORKERS_GONE_WAIT_MS);
  const allGone = now();
  await channel.close();
  await home.fs.remove(dir.root);
  const peaks = sampler.stop();
  const cpuAfter = cpuSeconds();
  send({
    type: 'finished',
    teardownMs: allGone - told,
    left: left.length,
    refused: refused.length,
    endOps: { total: home.snapshot().total - before.total },
    ops: home.snapshot(),
    peaks: { ...peaks, vmHwmMb: vmHwmMb() },
    cpu: cpuAfter.self - cpuBefore.self,
    warnings: warnings.splice(0),
  });
}

/** Samples RSS and open fds every SAMPLE_MS. */
function startSampler() {
  const peaks = { rssMb: 0, fds: 0, samples: 0 };
  const sample = () => {
    peaks.samples += 1;
    peaks.rssMb = Math.max(peaks.rssMb, process.memoryUsage.rss() / 2 ** 20);
    peaks.fds = Math.max(peaks.fds, readdirSync('/proc/self/fd').length);
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

function cpuSeconds() {
  const usage = process.cpuUsage();
  return { self: (usage.user + usage.system) / 1e6 };
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
