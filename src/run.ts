import { access, constants, stat } from 'node:fs/promises';
import { hostname, userInfo } from 'node:os';
import { join, resolve } from 'node:path';
import tmp from 'tmp';
import { allocationFromEnv, type Allocation } from './allocation.js';
import { formatDryRun, previewRun } from './dry-run.js';
import { cleanupStale } from './cleanup.js';
import type { CliIo } from './cli.js';
import type { DockerClient } from './docker/client.js';
import { createDockerodeClient } from './docker/dockerode-client.js';
import { InterruptedError, LaunchError, UsageError } from './errors.js';
import { nodeFileSystem } from './fs.js';
import { lookUpIdentity, type Identity } from './identity.js';
import { createLogger, onceWarner, type Logger } from './log.js';
import type { RunOptions } from './options.js';
import { buildLaunchPlan, type HostFacts, type LaunchPlan } from './plan.js';
import { pullProgressPrinter } from './progress.js';
import { runCoordinator } from './roles/coordinator.js';
import type { NodeDeps } from './roles/node-container.js';
import { resolveSlots } from './slots.js';
import { runWorker } from './roles/worker.js';
import { execaRunner } from './runner.js';
import { configuredPort } from './ssh/setup.js';
import { processTerminal } from './terminal.js';
import { systemClock, Timings } from './timings.js';

/** The run command: SLURM env → plan → this node's role, with the real effects wired in. */
export async function runJob(options: RunOptions, env: Record<string, string | undefined>, io: CliIo): Promise<number> {
  const timings = new Timings(systemClock);
  // from the process's start to here: Node.js starting and loading srun-docker, paid on every node
  timings.record('startup', performance.now());
  const baseLog = createLogger((line) => io.stderr.write(line), options.logLevel);
  const parseStart = systemClock.now();
  const allocation = allocationFromEnv({ env, hostname: hostname(), pid: process.pid, nodelist: options.nodelist });
  timings.record('allocation', systemClock.now() - parseStart);
  const log = baseLog.withPrefix(`srun-docker[${allocation.nodeName} ${allocation.role}]`);
  if (allocation.role === 'idle') {
    log.verbose(`nothing to do: ${allocation.idleReason ?? ''}`);
    return 0;
  }
  const cwd = process.cwd();
  const scriptExecutable = await checkScript(resolve(cwd, options.script));
  const user = userInfo();
  const host: HostFacts = { cwd, user: user.username, home: env.HOME ?? user.homedir, env, scriptExecutable };
  const plan = buildLaunchPlan(await withConfiguredPort(options, cwd), allocation, host);
  plan.warnings.forEach((w) => log.warn(w));
  // looked up while the daemon is asked, not before (getent may have to ask a directory service)
  const identityLookup = lookUpIdentity(
    { user: user.username, uid: user.uid, gid: user.gid, home: host.home, groups: process.getgroups?.() ?? [] },
    execaRunner,
    nodeFileSystem,
  );
  identityLookup.catch(() => undefined); // awaited below, after the daemon answered or did not
  if (options.dryRun) return printDryRun(options, allocation, host, await identityLookup, io);

  const docker = createDockerodeClient(env);
  // asked now, answered while this node prepares: a daemon that is down or hangs fails the node's first step
  const daemon = preflight(docker, plan, host.home, user.username, log, timings);
  const identity = await identityLookup;

  const controller = new AbortController();
  const onSignal = (signal: NodeJS.Signals): void => {
    log.warn(`${signal} received: removing containers`);
    controller.abort(new InterruptedError(signal));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const privateDir = tmp.dirSync({ prefix: 'srun-docker-', mode: 0o700 }).name;
  const deps: NodeDeps = {
    docker,
    runner: execaRunner,
    fs: nodeFileSystem,
    log,
    warnOnce: onceWarner(log),
    timings,
    signal: controller.signal,
    onPullProgress: pullProgressPrinter(io.stderr, log),
    stdout: io.stdout,
    stderr: io.stderr,
    input: () => ({ stdin: process.stdin, terminal: processTerminal(process.stdin, io.stdout) }),
  };
  const ctx = { options, plan, identity, gpus: allocation.gpus, privateDir, cwd, ...daemon };
  // srun hands its input to every task: a worker that never read its copy would stop srun passing
  // it on to the coordinator's job once srun's buffer for that worker is full (12 MB on the test bed)
  const stopDraining = plan.role === 'worker' ? drainInput(process.stdin) : () => undefined;
  try {
    const code = await (plan.role === 'coordinator' ? runCoordinator(deps, ctx) : runWorker(deps, ctx));
    if (plan.role === 'coordinator') log.info(`job finished with exit code ${code}`);
    return code;
  } catch (error) {
    throw placed(controller.signal.aborted ? controller.signal.reason : error, `${allocation.nodeName} ${plan.role}`);
  } finally {
    stopDraining();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    if (options.timings) log.info(timings.format());
  }
}

/** Reads and drops a worker's input (a terminal's is left alone); returns the stop, which lets the process end. */
function drainInput(input: NodeJS.ReadStream): () => void {
  if (input.isTTY) return () => undefined;
  const drop = (): void => undefined;
  input.on('data', drop);
  input.on('error', drop);
  return () => {
    input.off('data', drop);
    input.destroy();
  };
}

/** --sshconfigdir without --sshdport: the port its sshd_config names (as ssh-setup wrote it). */
async function withConfiguredPort(options: RunOptions, cwd: string): Promise<RunOptions> {
  if (options.sshconfigdir === undefined || options.sshdport !== undefined) return options;
  const port = await configuredPort(join(resolve(cwd, options.sshconfigdir), 'sshd_config'), nodeFileSystem);
  return port === undefined ? options : { ...options, sshdport: port };
}

/** Names the node and role on the error, so that with N nodes' lines in one srun output each says where it is from. */
function placed(error: unknown, where: string): unknown {
  if (error instanceof LaunchError || error instanceof UsageError) error.where = where;
  return error;
}

/** Only the coordinator's task prints: one copy of the plan, not one per node. */
async function printDryRun(options: RunOptions, allocation: Allocation, host: HostFacts, identity: Identity, io: CliIo): Promise<number> {
  if (allocation.role !== 'coordinator') return 0;
  const slots = await resolveSlots(options.slotsPerNode, allocation.gpus, execaRunner, nodeFileSystem);
  const preview = previewRun(options, allocation, host, identity, slots);
  io.stdout.write(options.json ? JSON.stringify(preview, null, 2) + '\n' : formatDryRun(preview));
  return 0;
}

/**
 * Whether the daemon answers (the ping's timeout turns a daemon that hangs into a clear error), and
 * then this user's leftovers from crashed runs being removed; the node prepares meanwhile and awaits
 * both before it starts its container.
 */
function preflight(
  docker: DockerClient,
  plan: LaunchPlan,
  home: string,
  user: string,
  log: Logger,
  timings: Timings,
): { daemonAnswers: Promise<void>; staleCleanup: Promise<void> } {
  const daemonAnswers = timings.measure('docker-ping', () => docker.ping());
  const staleCleanup = daemonAnswers.then(async () => {
    await cleanupStale({ docker, fs: nodeFileSystem, log, user, home, now: Date.now, all: false, keep: { jobId: plan.jobId, stepId: plan.stepId } });
  });
  // both are awaited before the container starts; a run that fails before must not leave them unhandled
  daemonAnswers.catch(() => undefined);
  staleCleanup.catch(() => undefined);
  return { daemonAnswers, staleCleanup };
}

/** Returns whether the script is executable; a missing script is a usage error on every node alike. */
async function checkScript(path: string): Promise<boolean> {
  try {
    const info = await stat(path);
    if (!info.isFile()) throw new UsageError(`--script ${path} is not a file`);
  } catch (error) {
    if (error instanceof UsageError) throw error;
    throw new UsageError(`--script ${path} does not exist — give a path relative to the current directory or an absolute one`);
  }
  return access(path, constants.X_OK).then(
    () => true,
    () => false,
  );
}
