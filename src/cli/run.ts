import { readFileSync } from 'node:fs';
import { access, constants } from 'node:fs/promises';
import { hostname, tmpdir, userInfo } from 'node:os';
import { join, resolve } from 'node:path';
import tmp from 'tmp';
import { allocationFromEnv, type Allocation } from '../slurm/allocation.js';
import { formatDryRun, previewRun, type ImagePreview } from './dry-run.js';
import { imagePaths } from '../container/container.js';
import { imageFactPaths, imagePath } from '../roles/node-container.js';
import { cleanupStale } from '../roles/cleanup.js';
import { makeOwnDir, trustedDir } from '../platform/code-cache.js';
import { cacheRoot, nodeEtcDir } from '../plan/jobdir.js';
import { processLiveness, type Liveness } from '../roles/liveness.js';
import type { CliIo } from './cli.js';
import type { DockerClient } from '../docker/client.js';
import { createDockerodeClient } from '../docker/dockerode-client.js';
import { InterruptedError, LaunchError, ScriptNotFoundError, UsageError } from '../platform/errors.js';
import { nodeFileSystem } from '../platform/fs.js';
import { nodeLookupOps, statAfresh } from '../platform/fresh-lookup.js';
import { containerIdentity, lookUpIdentity, type Identity } from '../container/identity.js';
import { cpusAllowedFromStatus } from '../slurm/resources.js';
import { createLogger, onceWarner, type Logger } from '../platform/log.js';
import type { RunOptions } from './options.js';
import { buildLaunchPlan, type HostFacts, type LaunchPlan } from '../plan/plan.js';
import { pullProgressPrinter, workerPullProgress } from './progress.js';
import { runCoordinator } from '../roles/coordinator.js';
import type { NodeDeps } from '../roles/node-container.js';
import { resolveSlots } from '../slurm/slots.js';
import { runWorker } from '../roles/worker.js';
import { createCommandRunner, type CommandRunner } from '../platform/runner.js';
import { firstFreePort } from '../plan/ports.js';
import { configuredPort } from '../ssh/setup.js';
import { ENDING_SIGNALS } from '../platform/signals.js';
import { processTerminal } from '../platform/terminal.js';
import { systemClock, Timings, wallClock } from '../platform/timings.js';

/** The run command: SLURM env → plan → this node's role, with the real effects wired in. */
export async function runJob(options: RunOptions, env: Record<string, string | undefined>, io: CliIo): Promise<number> {
  const timings = new Timings(systemClock);
  // from the process's start to here: Node.js starting and loading srun-docker, paid on every node
  timings.record('startup', performance.now());
  const baseLog = createLogger((line) => io.stderr.write(line), options.logLevel);
  const parseStart = systemClock.now();
  const allocation = allocationFromEnv({ env, hostname: hostname(), pid: process.pid, nodelist: options.nodelist, cpus: readCpus() });
  timings.record('allocation', systemClock.now() - parseStart);
  const log = baseLog.withPrefix(`srun-docker[${allocation.nodeName} ${allocation.role}]`);
  const runner = createCommandRunner(env);
  if (allocation.role === 'idle') {
    log.verbose(`nothing to do: ${allocation.idleReason ?? ''}`);
    return 0;
  }
  const cwd = process.cwd();
  const where = `${allocation.nodeName} ${allocation.role}`;
  let scriptNotFound: ScriptNotFoundError | undefined;
  const scriptExecutable = await checkScript(resolve(cwd, options.script)).catch((error: unknown) => {
    // a worker alone missing it asks the coordinator first (runWorker); anything else ends the node
    if (!(error instanceof ScriptNotFoundError && allocation.role === 'worker' && !options.dryRun)) throw placed(error, where);
    scriptNotFound = error;
    return false;
  });
  const user = userInfo();
  const liveness = processLiveness(hostname(), process.pid, runner);
  const host: HostFacts = { cwd, user: user.username, home: env.HOME ?? user.homedir, env, scriptExecutable, launcher: liveness.ownToken };
  const plan = buildLaunchPlan(await withConfiguredPort(options, cwd), allocation, host);
  // looked up while the daemon is asked, not before (getent may have to ask a directory service)
  const identityLookup = lookUpIdentity(
    { user: user.username, uid: user.uid, gid: user.gid, home: host.home, groups: process.getgroups?.() ?? [] },
    runner,
    nodeFileSystem,
  );
  identityLookup.catch(() => undefined); // awaited below, after the daemon answered or did not
  if (options.dryRun) {
    plan.warnings.forEach((w) => log.warn(w));
    return printDryRun(options, allocation, host, plan, await identityLookup, io, env, runner);
  }

  // what every node finds alike before its role begins: the role says it through the job's one line per fact
  const earlyWarnings = [...plan.warnings];
  const docker = createDockerodeClient(env, (message) => earlyWarnings.push(message));
  // asked now, answered while this node prepares: a daemon that is down or hangs fails the node's first step
  const daemon = preflight(docker, plan, { home: host.home, user: user.username, liveness }, log, timings);
  const engine = docker.engine();
  const identity = containerIdentity(await identityLookup, await engine);

  const controller = new AbortController();
  const onSignal = (signal: NodeJS.Signals): void => {
    // scancel signals every node: the coordinator says it for all of them
    (plan.role === 'worker' ? log.verbose : log.warn)(`${signal} received: removing containers`);
    controller.abort(new InterruptedError(signal));
  };
  ENDING_SIGNALS.forEach((signal) => process.on(signal, onSignal));
  const cacheDir = cacheRoot(tmpdir(), user.uid);
  if (!makeOwnDir(cacheDir, user.uid)) log.verbose(`${cacheDir} is not a directory of yours alone: nothing is cached on this node`);
  const deps: NodeDeps = {
    docker,
    runner,
    fs: nodeFileSystem,
    log,
    warnOnce: onceWarner(log),
    timings,
    clock: wallClock,
    signal: controller.signal,
    onPullProgress: plan.role === 'worker' ? workerPullProgress(io.stderr, log) : pullProgressPrinter(io.stderr, log),
    stdout: io.stdout,
    stderr: io.stderr,
    input: () => ({ stdin: process.stdin, terminal: processTerminal(process.stdin, io.stdout) }),
  };
  const ctx = {
    options,
    plan: await withOwnSshdPort(plan),
    identity,
    gpus: allocation.gpus,
    resources: allocation.resources,
    engine: await engine,
    privateDir: nodeEtcDir(plan.jobDir, plan.node),
    // an untrusted cache directory is not used: a fresh private one serves this run only
    cacheDir: trustedDir(cacheDir, user.uid) ? cacheDir : tmp.dirSync({ prefix: 'srun-docker-cache-', mode: 0o700, unsafeCleanup: true }).name,
    cwd,
    earlyWarnings,
    scriptNotFound,
    ...daemon,
  };
  // srun hands its input to every task: a worker that never read its copy would stop srun passing
  // it on to the coordinator's job once srun's buffer for that worker is full (12 MB on the test bed)
  const stopDraining = plan.role === 'worker' ? drainInput(process.stdin) : () => undefined;
  try {
    const code = await (plan.role === 'coordinator' ? runCoordinator(deps, ctx) : runWorker(deps, ctx));
    if (plan.role === 'coordinator') log.info(`job finished with exit code ${code}`);
    return code;
  } catch (error) {
    throw placed(controller.signal.aborted ? controller.signal.reason : error, where);
  } finally {
    stopDraining();
    ENDING_SIGNALS.forEach((signal) => process.off(signal, onSignal));
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

/**
 * This node's sshd port: the first of the job step's candidates that is free here (another job
 * step, or any service, may hold the first). Each node says which over the control channel, so the
 * nodes need not agree. A port the user chose is the only candidate, checked once leftovers are cleared.
 */
async function withOwnSshdPort(plan: LaunchPlan): Promise<LaunchPlan> {
  if (plan.sshdPortCandidates.length < 2) return plan;
  return { ...plan, port: await firstFreePort(plan.sshdPortCandidates) };
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
async function printDryRun(
  options: RunOptions,
  allocation: Allocation,
  host: HostFacts,
  plan: LaunchPlan,
  identity: Identity,
  io: CliIo,
  env: Record<string, string | undefined>,
  runner: CommandRunner,
): Promise<number> {
  if (allocation.role !== 'coordinator') return 0;
  const [slots, image] = await Promise.all([
    resolveSlots(options.slotsPerNode, allocation.gpus, runner, nodeFileSystem),
    lookAtImage(createDockerodeClient(env), plan, identity),
  ]);
  const preview = previewRun(options, allocation, host, identity, slots, image);
  io.stdout.write(options.json ? JSON.stringify(preview, null, 2) + '\n' : formatDryRun(preview));
  return 0;
}

/**
 * --dry-run asks the daemon what a run would find in the image (which ssh, the script's directory):
 * nothing is started, and a daemon that is down or an image not on this host is only an assumption.
 */
async function lookAtImage(docker: DockerClient, plan: LaunchPlan, identity: Identity): Promise<ImagePreview | undefined> {
  const look = async (): Promise<ImagePreview | undefined> => {
    await docker.ping();
    const facts = await docker.inspectImage(plan.image);
    if (facts === undefined) return undefined;
    const ref = { name: plan.image, id: facts.id, cacheDir: join(cacheRoot(tmpdir(), userInfo().uid), 'images') };
    return { present: await imagePaths(docker, ref, imageFactPaths(plan, identity), nodeFileSystem, plan.labels), path: imagePath(facts.env), entrypoint: facts.entrypoint ?? [] };
  };
  const giveUp = new Promise<undefined>((resolve) => setTimeout(resolve, 5_000, undefined).unref());
  return Promise.race([look().catch(() => undefined), giveUp]);
}

/**
 * Whether the daemon answers (the ping's timeout turns a daemon that hangs into a clear error), and
 * then this user's leftovers from crashed runs being removed; the node prepares meanwhile and awaits
 * both before it starts its container.
 */
function preflight(
  docker: DockerClient,
  plan: LaunchPlan,
  who: { home: string; user: string; liveness: Liveness },
  log: Logger,
  timings: Timings,
): { daemonAnswers: Promise<void>; staleCleanup: Promise<void> } {
  const daemonAnswers = timings.measure('docker-ping', () => docker.ping());
  const staleCleanup = daemonAnswers.then(async () => {
    await cleanupStale({
      docker,
      fs: nodeFileSystem,
      log,
      ...who,
      now: Date.now,
      all: false,
      // only the coordinator looks at the job directories: a worker touches nothing on the home before the coordinator's hello
      jobDirs: plan.role === 'coordinator',
      keep: { jobId: plan.jobId, stepId: plan.stepId },
    });
  });
  // both are awaited before the container starts; a run that fails before must not leave them unhandled
  daemonAnswers.catch(() => undefined);
  staleCleanup.catch(() => undefined);
  return { daemonAnswers, staleCleanup };
}

/**
 * Returns whether the script is executable; a missing script is a usage error (ScriptNotFoundError).
 * It is looked up afresh before it is called missing: a home that caches lookups (NFS) may still
 * hold a "no such file" for a script made on another host a moment ago.
 */
async function checkScript(path: string): Promise<boolean> {
  let info;
  try {
    info = await statAfresh(path, nodeLookupOps);
  } catch (error) {
    throw new UsageError(`--script ${path} cannot be looked up (${(error as NodeJS.ErrnoException).code ?? String(error)}) — check the directory's permissions`);
  }
  if (info === undefined) {
    throw new ScriptNotFoundError(
      `--script ${path} does not exist — give a path relative to the current directory or an absolute one; one made on another host in the last minute may not show here yet on a home that caches lookups (NFS): then run again in a minute`,
    );
  }
  if (!info.isFile()) throw new UsageError(`--script ${path} is not a file`);
  return access(path, constants.X_OK).then(
    () => true,
    () => false,
  );
}

/** The CPUs SLURM's task plugin bound this task to, and the node's: read here, at the edge (absent off Linux). */
function readCpus(): { allowed?: string; online?: string } {
  const read = (path: string): string | undefined => {
    try {
      return readFileSync(path, 'utf8');
    } catch {
      return undefined;
    }
  };
  return { allowed: cpusAllowedFromStatus(read('/proc/self/status')), online: read('/sys/devices/system/cpu/online')?.trim() };
}
