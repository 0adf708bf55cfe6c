import { setTimeout as sleep } from 'node:timers/promises';
import {
  ensureJobDir,
  readNodeStatus,
  startHeartbeat,
  waitForWorkersGone,
  writeJson,
} from '../coordination.js';
import { controlFifoPath, newNonce, openControlFifo } from '../control-fifo.js';
import type { AttachedContainer } from '../docker/client.js';
import { LaunchError } from '../errors.js';
import { allSettledOrFirstError } from '../settle.js';
import { buildJobEnv, hostfiles, jobEnvScript, type NodeSlots } from '../job-env.js';
import { nodeOfStatusFile, type DoneInfo, type JobDir, type NodeStatus } from '../jobdir.js';
import type { FileSystem } from '../fs.js';
import { createClientMaterial, writeKnownHosts } from '../ssh/material.js';
import { inProcessLoginProbe } from '../ssh/login-probe.js';
import { sshLoginProbe } from '../ssh/probe.js';
import { waitForNodes, type NodeReport, type ReadinessInput } from '../readiness.js';
import { resolveSlots } from '../slots.js';
import { Teardown } from '../teardown.js';
import type { Terminal } from '../terminal.js';
import { containerStopped, imagePath, ownSshdListens, prepareNode, startNodeContainer, type NodeContext, type NodeDeps, type PreparedNode } from './node-container.js';

/** Probes at once: enough to cover 1,000 nodes in a few rounds without a fork storm on one node. */
export const READINESS_CONCURRENCY = 64;
const WORKERS_GONE_WAIT_MS = 15_000;
/** How long the teardown lets this node's container end by itself once the job is over, before it removes it by force. */
const OWN_EXIT_GRACE_MS = 2_000;

type StartedStatus = Extract<NodeStatus, { state: 'started' }>;

/**
 * The first node: makes the job's client key and ssh config, starts its own container while the
 * workers start theirs, waits until every worker's sshd takes a real login, pins every node's host
 * key, runs the script, and returns the script's exit code.
 */
export async function runCoordinator(deps: NodeDeps, ctx: NodeContext): Promise<number> {
  const { plan } = ctx;
  const { fs, log, timings } = deps;
  const workers = plan.nodes.filter((n) => n !== plan.node);
  const teardown = new Teardown();
  let done: DoneInfo = { reason: 'failed' };
  const onAbort = (): void => {
    done = { reason: 'interrupted' };
    void teardown.run(log);
  };
  deps.signal.addEventListener('abort', onAbort, { once: true });
  try {
    await ensureJobDir(fs, plan.jobDir);
    teardown.add('remove job directory', () => fs.remove(plan.jobDir.root));
    teardown.add('wait for workers to leave', async () => {
      const left = await waitForWorkersGone(fs, plan.jobDir, workers, WORKERS_GONE_WAIT_MS, () => Date.now());
      if (left.length > 0) log.warn(`no goodbye from ${left.join(', ')} within ${WORKERS_GONE_WAIT_MS / 1000} s; they remove their containers on their own`);
    });
    teardown.add('tell workers the job is over', () => writeJson(fs, plan.jobDir.done, done));
    const stopHeartbeat = startHeartbeat(fs, plan.jobDir);
    teardown.add('stop heartbeat', stopHeartbeat);
    teardown.add('remove private files', () => fs.remove(ctx.privateDir));

    // the job's client key and ssh config are only needed for the logins: this node's container does not wait for them
    const material = makeClientMaterial(deps, ctx);
    material.catch(() => undefined); // awaited by the readiness wait
    // a run that fails at once (no daemon) must not remove the job directory while the material is being written into it
    teardown.add('finish writing the ssh material', () => material.catch(() => undefined));
    // the job's link to this process (control-fifo.ts), made while the node prepares; its nonce is in no file, argument or variable
    const nonce = newNonce();
    const control = openControlFifo(controlFifoPath(plan.jobDir, plan.node));
    control.catch(() => undefined); // awaited before the container starts
    teardown.add('close the control FIFO', async () => (await control.catch(() => undefined))?.close());
    const { stdin, terminal } = deps.input();
    // the job directory is made above, before the teardown that removes it is registered
    const prepared = await timings.measure('prepare', () => prepareNode(deps, ctx, Promise.resolve()));
    const ownSlots = resolveSlots(ctx.options.slotsPerNode, ctx.gpus, deps.runner, fs);
    ownSlots.catch(() => undefined); // awaited below, unless the container start fails first
    // the job's files need only what the workers reported: they are written while the last logins run
    let jobFiles: Promise<Record<string, string>> | undefined;
    const writeFilesFor = (statuses: ReadonlyMap<string, StartedStatus>): Promise<Record<string, string>> => {
      jobFiles = writeJobFiles(deps, ctx, prepared, statuses, ownSlots);
      jobFiles.catch(() => undefined); // awaited once every login passed
      return jobFiles;
    };
    // the job directory must not be removed while they are being written into it
    teardown.add('finish writing the job files', async () => void (await jobFiles?.catch(() => undefined)));
    // the workers started their containers on their own: wait for them while this node starts its own
    const stopWaiting = new AbortController();
    const readiness = timings.measure('readiness', async () => {
      await material;
      return waitForWorkers({ ...deps, signal: AbortSignal.any([deps.signal, stopWaiting.signal]) }, ctx, workers, writeFilesFor);
    });
    readiness.catch(() => undefined); // awaited below; a failed container start must not leave it unhandled
    let own: AttachedContainer | undefined;
    const containerId = await timings
      .measure('container', () =>
        startNodeContainer(deps, ctx, prepared, teardown, {
          beforeStart: async (id) => {
            await control;
            own = await deps.docker.attach(id, { stdin, stdout: deps.stdout, stderr: deps.stderr }, { jobEndNonce: nonce, tty: terminal !== undefined });
          },
          terminal: terminal !== undefined,
          // after the job's end the container exits by itself within milliseconds: a forced removal
          // then would race it with a kill (one more runc run on a busy node)
          ending: async () => {
            if (done.reason === 'finished' && own !== undefined) await Promise.race([own.exited, sleep(OWN_EXIT_GRACE_MS, undefined, { ref: false })]);
          },
          removed: async () => own?.removed,
        }),
      )
      .catch((error: unknown) => {
        stopWaiting.abort(error);
        throw error;
      });
    const container = attached(own, containerId);
    teardown.add('stop passing the input on', async () => container.session.stopInput());
    container.session.startInput();
    if (terminal !== undefined) {
      const restore = onTerminal(terminal, container.session, log);
      teardown.add('restore the terminal', async () => restore());
    }
    // with workers, this node's own sshd must listen too (pdsh-style launchers log in to every host,
    // this one included); a one-node job starts without waiting for it
    const ownSshd = workers.length > 0 ? waitForOwnSshd(deps, ctx, container) : Promise.resolve();
    ownSshd.catch(() => undefined); // awaited below, after the workers
    const started = await readiness;
    await ownSshd;
    const env = await (jobFiles ?? writeFilesFor(started));
    if (container.hasEnded()) throw await containerStopped(fs, plan);
    log.info(`running ${plan.scriptPath} on ${plan.nodes.length} node(s), np=${env.np}`);
    // the container runs the job as its own user (the caller's uid:gid, with its supplementary groups)
    const code = await timings.measure('job', async () => {
      await (await control).go(nonce);
      return jobExitCode(container.session, () => fs.readFile(plan.jobDir.jobExit));
    });
    container.session.stopInput();
    deps.signal.throwIfAborted();
    done = { reason: 'finished' };
    // workers start removing their containers now, while Docker removes this node's (AutoRemove)
    await writeJson(fs, plan.jobDir.done, done);
    return code;
  } finally {
    deps.signal.removeEventListener('abort', onAbort);
    await timings.measure('teardown', () => teardown.run(log));
  }
}

/**
 * The job's exit code: from the job-end lines once both outputs have passed them; else (an output
 * that ended without them) from the file the container writes as the job ends, read once its output
 * has ended, or from the daemon. A container removed under the running job (teardown after a
 * signal) reports a failure, not success.
 */
export async function jobExitCode(session: AttachedContainer, readExitFile: () => Promise<string | undefined>): Promise<number> {
  const fromLines = session.jobEnded.then((code) => code ?? new Promise<never>(() => undefined));
  const fromFile = session.outputEnded.then(async () => {
    const text = (await readExitFile().catch(() => undefined))?.trim();
    return text !== undefined && /^\d+$/.test(text) ? Number(text) : await session.exited;
  });
  return (await Promise.race([fromLines, fromFile, session.exited])) ?? 137;
}

interface OwnContainer {
  session: AttachedContainer;
  hasEnded: () => boolean;
}

function attached(session: AttachedContainer | undefined, id: string): OwnContainer {
  if (session === undefined) throw new Error(`container ${id} started without being attached`);
  let ended = false;
  void session.exited.then(() => {
    ended = true;
  });
  return { session, hasEnded: () => ended };
}

/**
 * The user's terminal for the job's: raw mode (every key, Ctrl-C too, goes to the job), the window's
 * size now and on each change. Returns the restore, for the teardown (run on every exit path).
 */
function onTerminal(terminal: Terminal, session: AttachedContainer, log: NodeDeps['log']): () => void {
  const restore = terminal.raw();
  const resize = (): void => {
    const { rows, columns } = terminal.size();
    session.resize(rows, columns).catch((error: unknown) => log.verbose(`terminal resize failed: ${String(error)}`));
  };
  resize();
  const unsubscribe = terminal.onResize(resize);
  return () => {
    unsubscribe();
    restore();
  };
}

/** Until this node's sshd listens; a container that ended first is reported with sshd's own reason. */
async function waitForOwnSshd(deps: NodeDeps, ctx: NodeContext, container: OwnContainer): Promise<void> {
  const listening = await ownSshdListens(deps, ctx.plan, ctx.options.timeoutSeconds * 1000, async () => !container.hasEnded());
  if (!listening) {
    throw container.hasEnded()
      ? await containerStopped(deps.fs, ctx.plan)
      : new LaunchError(`sshd on ${ctx.plan.node} did not listen on port ${ctx.plan.port} within ${ctx.options.timeoutSeconds} s`);
  }
}

/** The job's variables (job.env), its host files and the known_hosts pinning every node's host key, from what each worker reported. */
async function writeJobFiles(
  deps: NodeDeps,
  ctx: NodeContext,
  prepared: PreparedNode,
  statuses: ReadonlyMap<string, StartedStatus>,
  ownSlots: Promise<number>,
): Promise<Record<string, string>> {
  const { plan } = ctx;
  const nodes: NodeSlots[] = [];
  const hostKeys = new Map<string, string>();
  for (const node of plan.nodes) {
    const status = statuses.get(node);
    nodes.push({ node, slots: status?.slots ?? (await ownSlots) });
    const hostKey = status === undefined ? prepared.hostKey : status.hostKey;
    if (hostKey !== undefined) hostKeys.set(node, hostKey);
  }
  const env = buildJobEnv({
    nodes,
    port: plan.port,
    masterPort: plan.masterPort,
    dir: plan.jobDir,
    sshconfigdir: plan.sshconfigdir,
    scriptPath: plan.scriptPath,
    scriptArgs: ctx.options.scriptArgs,
    envlist: plan.envlist,
    imagePath: imagePath(prepared.facts.env),
    asRoot: ctx.identity.uid === 0,
  });
  await allSettledOrFirstError([
    ...[...hostfiles(nodes, plan.jobDir)].map(([path, text]) => deps.fs.writeFile(path, text, 0o600)),
    ...(plan.sshconfigdir === undefined ? [writeKnownHosts(plan.jobDir, plan.port, hostKeys, deps.fs)] : []),
    deps.fs.writeFile(plan.jobDir.jobEnv, jobEnvScript(env), 0o600),
  ]);
  return env;
}

async function makeClientMaterial(deps: NodeDeps, ctx: NodeContext): Promise<void> {
  const { plan } = ctx;
  if (plan.sshconfigdir !== undefined) return; // the user's own ssh config reaches the nodes
  await createClientMaterial({ dir: plan.jobDir, nodes: plan.nodes, port: plan.port, user: ctx.identity.user }, deps.fs);
}

async function waitForWorkers(
  deps: NodeDeps,
  ctx: NodeContext,
  workers: readonly string[],
  onAllReported: (statuses: ReadonlyMap<string, StartedStatus>) => void,
): Promise<Map<string, StartedStatus>> {
  if (workers.length === 0) return new Map();
  const { plan } = ctx;
  deps.log.info(`waiting for ${workers.length} worker(s) to answer ssh on port ${plan.port} (up to ${ctx.options.timeoutSeconds} s)`);
  // zero set-up: logins in this process (cheap at 1,000 nodes); the user's own ssh config: OpenSSH's
  const probe: (node: string, status: StartedStatus) => Promise<void> =
    plan.sshconfigdir === undefined
      ? await inProcessLoginProbe({ dir: plan.jobDir, port: plan.port, user: ctx.identity.user, timeoutMs: 5_000 }, deps.fs).then(
          (login) => (node, status) => login(node, status.hostKey ?? ''),
        )
      : sshLoginProbe(deps.runner, { port: plan.port, timeoutMs: 5_000 });
  return waitForNodes({
    nodes: workers,
    timeoutSeconds: ctx.options.timeoutSeconds,
    concurrency: READINESS_CONCURRENCY,
    ...statusReader(deps.fs, plan.jobDir, plan.port),
    probe,
    signal: deps.signal,
    onAllReported,
  });
}

/**
 * The workers' status files, as the readiness wait reads them: one listing of the nodes directory
 * says who has written one, and only those are read. A failed open of a file not there yet was
 * most of a poll round's cost, and there was one per silent worker every round.
 */
export function statusReader(fs: FileSystem, dir: JobDir, port: number): Pick<ReadinessInput<StartedStatus>, 'report' | 'mayHaveReported'> {
  return {
    report: async (node) => reportOf(node, await readNodeStatus(fs, dir, node), port),
    mayHaveReported: async () => new Set((await fs.list(dir.nodesDir)).map(nodeOfStatusFile).filter((node) => node !== undefined)),
  };
}

/** A worker's status file, as the readiness wait reads it. */
export function reportOf(node: string, status: NodeStatus | undefined, port: number): NodeReport<StartedStatus> {
  switch (status?.state) {
    case undefined:
      return { state: 'pending' };
    case 'failed':
      return { state: 'failed', reason: `${node} failed: ${status.error}` };
    case 'gone':
      return { state: 'failed', reason: `${node} left before its sshd answered` };
    case 'started':
      return status.port === port
        ? { state: 'up', info: status }
        : { state: 'failed', reason: `${node} runs sshd on port ${status.port}, the coordinator computed ${port}: run every node with the same options` };
  }
}
