import { newSecret } from '../channel/auth.js';
import type { DoneReason, UpReport } from '../channel/messages.js';
import { channelPorts } from '../channel/ports.js';
import { openChannelServer, type ChannelServer } from '../channel/server.js';
import { ensureJobDir } from './coordination.js';
import { controlFifoPath, newNonce, openControlFifo } from '../container/control-fifo.js';
import type { AttachedContainer } from '../docker/client.js';
import { LaunchError, WorkerLostError } from '../platform/errors.js';
import { FactLog } from './facts.js';
import { LABELS } from '../plan/labels.js';
import { allSettledOrFirstError } from '../platform/settle.js';
import { buildJobEnv, hostfiles, jobEnvScript, type NodeSlots } from '../plan/job-env.js';
import { createClientMaterial, writeHostFiles, type NodeEndpoint } from '../ssh/material.js';
import { inProcessLoginProbe } from '../ssh/login-probe.js';
import { sshLoginProbe } from '../ssh/probe.js';
import { waitForNodes } from './readiness.js';
import { firstFreePort } from '../plan/ports.js';
import { resolveSlots } from '../slurm/slots.js';
import { Teardown } from './teardown.js';
import type { Terminal } from '../platform/terminal.js';
import { containerStopped, imagePath, ownSshdListens, prepareNode, startNodeContainer, type NodeContext, type NodeDeps, type PreparedNode } from './node-container.js';

/** Probes at once: enough to cover 1,000 nodes in a few rounds without a fork storm on one node. */
export const READINESS_CONCURRENCY = 64;
const WORKERS_GONE_WAIT_MS = 15_000;
/**
 * How long the teardown lets this node's container end by itself once the job is over, before it
 * removes it by force: its main process exits right after the end lines, but on a loaded node the
 * exit may take the daemon a second or more to see.
 */
const OWN_EXIT_GRACE_MS = 5_000;
/** How long a job that lost a worker may take to end by itself (and report it) before it is stopped: inside 10 s in all. */
const LOST_WORKER_GRACE_MS = 4_000;

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
  const facts = new FactLog(log, plan.nodes.length > 1);
  let done: DoneReason = 'failed';
  const onAbort = (): void => {
    done = 'interrupted';
    void teardown.run(log);
  };
  deps.signal.addEventListener('abort', onAbort, { once: true });
  // said once for the whole job, with every node it concerns (this one and the workers')
  const ownDeps: NodeDeps = { ...deps, warnOnce: (key, message) => facts.note(key, message, plan.node) };
  if (workers.length === 0) facts.flush();
  try {
    await ensureJobDir(fs, plan.jobDir);
    teardown.add('remove job directory', () => fs.remove(plan.jobDir.root));
    // first in the directory: a cleanup elsewhere asks this process, or this channel, whether the job lives
    const coordinatorInfo = { node: plan.node, token: plan.labels[LABELS.launcher], jobId: plan.jobId, stepId: plan.stepId };
    await fs.writeFile(plan.jobDir.coordinator, `${JSON.stringify(coordinatorInfo)}\n`, 0o600);
    teardown.add('say anything still untold', async () => facts.flush());
    const channel = workers.length === 0 ? undefined : await timings.measure('channel', () => openChannel(deps, ctx, workers, facts));
    if (channel !== undefined) {
      teardown.add('close the control channel', () => channel.close());
      teardown.add('wait for workers to leave', async () => {
        const left = await channel.waitForGoodbyes(WORKERS_GONE_WAIT_MS);
        if (left.length > 0) log.warn(`no goodbye from ${left.join(', ')} within ${WORKERS_GONE_WAIT_MS / 1000} s; they remove their containers on their own`);
      });
      teardown.add('tell workers the job is over', async () => channel.broadcastDone(done));
    }

    // the job directory is made above, before the teardown that removes it is registered
    const preparing = timings.measure('prepare', () => prepareNode(ownDeps, ctx, Promise.resolve()));
    preparing.catch(() => undefined); // awaited below
    // the job's client key and ssh config are only needed for the logins: this node's container does not wait for them
    // (they need to know which ssh the image gets: the preparation says)
    const material = preparing.then((p) => makeClientMaterial(deps, ctx, p));
    material.catch(() => undefined); // awaited by the readiness wait
    // a run that fails at once (no daemon) must not remove the job directory while the material is being written into it
    teardown.add('finish writing the ssh material', () => material.catch(() => undefined));
    // the job's link to this process (control-fifo.ts), made while the node prepares; its nonce is in no file, argument or variable
    const nonce = newNonce();
    const control = openControlFifo(controlFifoPath(plan.jobDir, plan.node));
    control.catch(() => undefined); // awaited before the container starts
    teardown.add('close the control FIFO', async () => (await control.catch(() => undefined))?.close());
    const { stdin, terminal } = deps.input();
    const prepared = await preparing;
    const ownSlots = resolveSlots(ctx.options.slotsPerNode, ctx.gpus, deps.runner, fs);
    ownSlots.catch(() => undefined); // awaited below, unless the container start fails first
    // the job's files need only what the workers reported: they are written while the last logins run
    let jobFiles: Promise<Record<string, string>> | undefined;
    const writeFilesFor = (reports: ReadonlyMap<string, UpReport>): Promise<Record<string, string>> => {
      jobFiles = writeJobFiles(deps, ctx, prepared, reports, ownSlots, channel?.localAddress());
      jobFiles.catch(() => undefined); // awaited once every login passed
      return jobFiles;
    };
    // the job directory must not be removed while they are being written into it
    teardown.add('finish writing the job files', async () => void (await jobFiles?.catch(() => undefined)));
    const stopWaiting = new AbortController();
    const readiness = timings.measure('readiness', async () => {
      await material;
      return waitForWorkers({ ...deps, signal: AbortSignal.any([deps.signal, stopWaiting.signal]) }, ctx, channel, workers, writeFilesFor);
    });
    readiness.catch(() => undefined); // awaited below; a failed container start must not leave it unhandled
    let own: AttachedContainer | undefined;
    const containerId = await timings
      .measure('container', () =>
        startNodeContainer(ownDeps, ctx, prepared, teardown, {
          beforeStart: async (id) => {
            await control;
            own = await deps.docker.attach(id, { stdin, stdout: deps.stdout, stderr: deps.stderr }, { jobEndNonce: nonce, tty: terminal !== undefined });
          },
          terminal: terminal !== undefined,
          // after the job's end the container exits by itself within milliseconds: a forced removal
          // then would race it with a kill (one more runc run on a busy node)
          ending: async () => {
            if (done === 'finished' && own !== undefined) await Promise.race([own.exited, deps.clock.sleep(OWN_EXIT_GRACE_MS, { ref: false })]);
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
    facts.flush();
    log.info(`running ${plan.scriptPath} on ${plan.nodes.length} node(s), np=${env.np}`);
    // the container runs the job as its own user (the caller's uid:gid, with its supplementary groups)
    const code = await timings.measure('job', async () => {
      await (await control).go(nonce);
      return untilJobOrLostWorker(deps, channel, jobExitCode(container.session, () => fs.readFile(plan.jobDir.jobExit)));
    });
    container.session.stopInput();
    deps.signal.throwIfAborted();
    done = 'finished';
    // workers start removing their containers now, while Docker removes this node's (AutoRemove)
    channel?.broadcastDone(done);
    return code;
  } finally {
    deps.signal.removeEventListener('abort', onAbort);
    await timings.measure('teardown', () => teardown.run(log));
  }
}

/**
 * The job's secret on the home (0600, read by each worker once the hello says it is there), then the
 * control channel on the first free candidate port.
 */
async function openChannel(deps: NodeDeps, ctx: NodeContext, workers: readonly string[], facts: FactLog): Promise<ChannelServer> {
  const { plan } = ctx;
  const secret = newSecret();
  await deps.fs.writeFile(plan.jobDir.secret, `${secret.toString('hex')}\n`, 0o600);
  const channel = await openChannelServer({
    job: `${plan.jobId}.${plan.stepId}`,
    dir: plan.jobDir.root,
    secret,
    ports: channelPorts(plan.jobId, plan.stepId),
    workers,
    node: plan.node,
    now: deps.clock.now,
    onPortTaken: (port) => deps.log.warn(`control channel port ${port} on ${plan.node} is taken by another process; using the next one (the workers find it)`),
    onRefused: (remote, reason) => deps.log.warn(`refused a connection to the control channel on ${plan.node} from ${remote}: ${reason}`),
    onWarning: (node, key, message) => facts.note(key, message, node),
  });
  deps.log.verbose(`control channel on port ${channel.port}`);
  return channel;
}

/**
 * The job's exit code; a worker lost while it runs (failed, or its srun-docker gone) is said at once,
 * and the job gets a few seconds to notice by itself (mpirun reports the node it lost, and its exit
 * code is the job's); then it is stopped, and with it every node's container.
 */
async function untilJobOrLostWorker(deps: NodeDeps, channel: ChannelServer | undefined, exit: Promise<number>): Promise<number> {
  if (channel === undefined) return exit;
  const first = await Promise.race([exit.then((code) => ({ code })), channel.firstLoss().then((lost) => ({ lost }))]);
  if ('code' in first) return first.code;
  deps.log.error(`${first.lost} while the job ran; stopping the job in ${LOST_WORKER_GRACE_MS / 1000} s unless it ends first`);
  const ended = await Promise.race([exit, deps.clock.sleep(LOST_WORKER_GRACE_MS, { ref: false }).then(() => undefined)]);
  if (ended !== undefined) return ended;
  throw new WorkerLostError(first.lost, LOST_WORKER_GRACE_MS);
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

/** The job's variables (job.env), its host files, and the ssh_config and known_hosts mapping every node to where its sshd is. */
async function writeJobFiles(
  deps: NodeDeps,
  ctx: NodeContext,
  prepared: PreparedNode,
  reports: ReadonlyMap<string, UpReport>,
  ownSlots: Promise<number>,
  ownAddress: string | undefined,
): Promise<Record<string, string>> {
  const { plan } = ctx;
  const nodes: NodeSlots[] = [];
  const endpoints: NodeEndpoint[] = [];
  for (const node of plan.nodes) {
    const report = reports.get(node);
    nodes.push({ node, slots: report?.slots ?? (await ownSlots) });
    endpoints.push(
      report === undefined
        ? { node, address: ownAddress ?? '127.0.0.1', port: plan.port, hostKey: prepared.hostKey }
        : { node, address: report.address, port: report.port, hostKey: report.hostKey },
    );
  }
  const env = buildJobEnv({
    nodes,
    port: plan.port,
    // another job step's rendezvous (or any service) may hold the first: every candidate is this step's own
    masterPort: await firstFreePort(plan.masterPortCandidates),
    masterAddr: ownAddress,
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
    ...(plan.sshconfigdir === undefined ? [writeHostFiles(plan.jobDir, ctx.identity.user, endpoints, deps.fs, prepared.ssh.kind)] : []),
    deps.fs.writeFile(plan.jobDir.jobEnv, jobEnvScript(env), 0o600),
  ]);
  return env;
}

async function makeClientMaterial(deps: NodeDeps, ctx: NodeContext, prepared: PreparedNode): Promise<void> {
  const { plan } = ctx;
  if (plan.sshconfigdir !== undefined) return; // the user's own ssh config reaches the nodes
  await createClientMaterial({ dir: plan.jobDir, port: plan.port, ssh: prepared.ssh.kind }, deps.fs);
}

async function waitForWorkers(
  deps: NodeDeps,
  ctx: NodeContext,
  channel: ChannelServer | undefined,
  workers: readonly string[],
  onAllReported: (reports: ReadonlyMap<string, UpReport>) => void,
): Promise<Map<string, UpReport>> {
  if (channel === undefined) return new Map();
  const { plan } = ctx;
  deps.log.info(`waiting for ${workers.length} worker(s) to answer ssh${plan.sshconfigdir === undefined ? '' : ` on port ${plan.port}`} (up to ${ctx.options.timeoutSeconds} s)`);
  // zero set-up: logins in this process (cheap at 1,000 nodes), at the address and port each node
  // reported; the user's own ssh config: OpenSSH's, by node name
  const probe: (node: string, report: UpReport) => Promise<void> =
    plan.sshconfigdir === undefined
      ? await inProcessLoginProbe({ dir: plan.jobDir, user: ctx.identity.user, timeoutMs: 5_000 }, deps.fs)
      : sshLoginProbe(deps.runner, { port: plan.port, timeoutMs: 5_000 });
  return waitForNodes({
    nodes: workers,
    timeoutSeconds: ctx.options.timeoutSeconds,
    concurrency: READINESS_CONCURRENCY,
    whenUp: async (node) => {
      const report = await channel.session(node).up;
      if (report.port !== plan.port && plan.sshconfigdir !== undefined) {
        throw new LaunchError(`${node} runs sshd on port ${report.port}, the coordinator uses ${plan.port}: run every node with the same options`);
      }
      return report;
    },
    lostReason: (node) => channel.session(node).lostReason,
    probe,
    signal: deps.signal,
    now: deps.clock.now,
    onAllReported,
  });
}
