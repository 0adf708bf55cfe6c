import { newSecret } from '../channel/auth.js';
import type { DoneReason, UpReport } from '../channel/messages.js';
import { channelPorts } from '../channel/ports.js';
import { openChannelServer, type ChannelServer } from '../channel/server.js';
import { ensureJobDir } from './coordination.js';
import { controlFifoPath, newNonce, openControlFifo, type ControlFifo } from '../container/control-fifo.js';
import type { AttachedContainer } from '../docker/client.js';
import { InternalError, LaunchError, WorkerLostError } from '../platform/errors.js';
import { FactLog } from './facts.js';
import { LABELS } from '../plan/labels.js';
import { allSettledOrFirstError } from '../platform/settle.js';
import { buildJobEnv, hostfiles, jobEnvScript, type NodeSlots } from '../plan/job-env.js';
import { sessionEnvScript } from '../ssh/session-shell.js';
import { createClientMaterial, writeHostFiles, type NodeEndpoint } from '../ssh/material.js';
import { inProcessLoginProbe } from '../ssh/login-probe.js';
import { sshLoginProbe } from '../ssh/probe.js';
import { waitForNodes } from './readiness.js';
import { firstFreePort } from '../plan/ports.js';
import { resolveSlots } from '../slurm/slots.js';
import { ResourceScope } from '../platform/scope.js';
import type { Terminal } from '../platform/terminal.js';
import { containerStopped, imagePath, ownSshdListens, prepareNode, sshdNetDir, startNodeContainer, type NodeContext, type NodeDeps, type PreparedNode } from './node-container.js';

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
 * The first node: makes the job's directory and control channel, prepares and starts its own
 * container while the workers start theirs, waits until every worker's sshd takes a real login,
 * pins every node's host key, runs the script, and returns the script's exit code. Each step adopts
 * what it makes into the run's scope; the teardown undoes exactly that, last made first.
 */
export async function runCoordinator(deps: NodeDeps, ctx: NodeContext): Promise<number> {
  const run = new CoordinatorRun(deps, ctx);
  const onAbort = (): void => run.interrupt();
  deps.signal.addEventListener('abort', onAbort, { once: true });
  try {
    const channel = await run.allocate();
    const prepared = await run.prepare();
    const container = await run.start(prepared, channel);
    const env = await run.waitUntilReady(container);
    const code = await run.runJob(container, env, channel);
    run.finished(channel);
    return code;
  } finally {
    deps.signal.removeEventListener('abort', onAbort);
    await deps.timings.measure('teardown', () => run.tearDown());
  }
}

/** What the coordinator's steps hand on: the node's preparation, and what is being made beside it. */
interface Prepared {
  node: PreparedNode;
  /** The job's client key and ssh config, needed only for the logins. */
  material: Promise<void>;
  control: Promise<ControlFifo>;
  nonce: string;
  ownSlots: Promise<number>;
}

/** The coordinator's own container, and the wait for every node that runs beside it. */
interface Started {
  session: AttachedContainer;
  hasEnded: () => boolean;
  /** Lets the job run: `go` with the nonce, through the control FIFO. */
  go: () => Promise<void>;
  readiness: Promise<ReadonlyMap<string, UpReport>>;
  ownSshd: Promise<void>;
  /** The job's files, being written since every worker reported, or written now from these reports. */
  jobFiles: (reports: ReadonlyMap<string, UpReport>) => Promise<Record<string, string>>;
}

/** One coordinator run: its steps in order, and the scope that holds what they made. */
class CoordinatorRun {
  private readonly scope: ResourceScope;
  private readonly facts: FactLog;
  /** This node's warnings go through the job's FactLog: said once, with every node they concern. */
  private readonly ownDeps: NodeDeps;
  private readonly workers: readonly string[];
  /** What the workers are told when the job is over (the teardown tells them). */
  private done: DoneReason = 'failed';
  /** Once the job has run: this node's container then ends by itself, and is given the time to. */
  private own: AttachedContainer | undefined;

  constructor(
    private readonly deps: NodeDeps,
    private readonly ctx: NodeContext,
  ) {
    const { plan } = ctx;
    this.scope = new ResourceScope(deps.log);
    this.workers = plan.nodes.filter((n) => n !== plan.node);
    this.facts = new FactLog(deps.log, plan.nodes.length > 1);
    this.ownDeps = { ...deps, warnOnce: (key, message) => this.facts.note(key, message, plan.node) };
    ctx.earlyWarnings.forEach((message) => this.ownDeps.warnOnce(message, message));
    if (this.workers.length === 0) this.facts.flush();
  }

  /** SIGINT/SIGTERM: the workers are told so, and everything made so far is undone now. */
  interrupt(): void {
    this.done = 'interrupted';
    void this.tearDown();
  }

  tearDown(): Promise<void> {
    return this.scope.close();
  }

  /** The job directory, with coordinator.json first in it (a cleanup elsewhere asks this process, or this channel, whether the job lives), and the control channel. */
  async allocate(): Promise<ChannelServer | undefined> {
    const { fs, timings } = this.deps;
    const { plan } = this.ctx;
    await ensureJobDir(fs, plan.jobDir);
    this.scope.adopt('remove job directory', plan.jobDir.root, (root) => fs.remove(root));
    const coordinatorInfo = { node: plan.node, token: plan.labels[LABELS.launcher], jobId: plan.jobId, stepId: plan.stepId };
    await fs.writeFile(plan.jobDir.coordinator, `${JSON.stringify(coordinatorInfo)}\n`, 0o600);
    this.scope.defer('say anything still untold', () => this.facts.flush());
    if (this.workers.length === 0) return undefined;
    const channel = await timings.measure('channel', () => openChannel(this.deps, this.ctx, this.workers, this.facts));
    return this.scope.adopt('tell the workers, wait for their goodbyes, close the control channel', channel, async (open) => {
      open.broadcastDone(this.done);
      const left = await open.waitForGoodbyes(WORKERS_GONE_WAIT_MS);
      if (left.length > 0) this.deps.log.warn(`no goodbye from ${left.join(', ')} within ${WORKERS_GONE_WAIT_MS / 1000} s; they remove their containers on their own`);
      await open.close();
    });
  }

  /**
   * This node's image, user files and sshd material; beside it, the job's client material (it needs
   * to know which ssh the image gets, so it follows the preparation; this node's container does not
   * wait for it), the control FIFO (the job's link to this process; its nonce is in no file, argument
   * or variable) and this node's slot count.
   */
  async prepare(): Promise<Prepared> {
    const { deps, ctx, scope } = this;
    const preparing = deps.timings.measure('prepare', () => prepareNode(this.ownDeps, ctx, Promise.resolve()));
    preparing.catch(() => undefined); // awaited below
    // a run that fails at once (no daemon) must not remove the job directory while these are written into it
    const material = scope.adoptPending('finish writing the ssh material', preparing.then((p) => makeClientMaterial(deps, ctx, p)));
    const control = scope.adoptPending('close the control FIFO', openControlFifo(controlFifoPath(ctx.plan.jobDir, ctx.plan.node)), (fifo) => fifo.close());
    const node = await preparing;
    const ownSlots = resolveSlots(ctx.options.slotsPerNode, ctx.gpus, deps.runner, deps.fs);
    ownSlots.catch(() => undefined); // awaited with the job files, unless the container start fails first
    return { node, material, control, nonce: newNonce(), ownSlots };
  }

  /**
   * The wait for the workers (once the client material is there), and this node's container,
   * attached to this process's input and output, the user's terminal in raw mode if there is one.
   */
  async start(prepared: Prepared, channel: ChannelServer | undefined): Promise<Started> {
    const { deps, ctx, scope } = this;
    // the job's files need only what the workers reported: they are written while the last logins run
    let jobFiles: Promise<Record<string, string>> | undefined;
    const writeFilesFor = (reports: ReadonlyMap<string, UpReport>): Promise<Record<string, string>> =>
      (jobFiles = scope.adoptPending('finish writing the job files', writeJobFiles(deps, ctx, prepared, reports, channel)));
    const stopWaiting = new AbortController();
    const readiness = deps.timings.measure('readiness', async () => {
      await prepared.material;
      return waitForWorkers({ ...deps, signal: AbortSignal.any([deps.signal, stopWaiting.signal]) }, ctx, channel, this.workers, writeFilesFor);
    });
    readiness.catch(() => undefined); // awaited by waitUntilReady; a failed container start must not leave it unhandled
    const { stdin, terminal } = deps.input();
    const containerId = await deps.timings
      .measure('container', () =>
        startNodeContainer(this.ownDeps, ctx, prepared.node, scope, {
          beforeStart: async (id) => {
            await prepared.control;
            this.own = await deps.docker.attach(id, { stdin, stdout: deps.stdout, stderr: deps.stderr }, { jobEndNonce: prepared.nonce, tty: terminal !== undefined });
          },
          terminal: terminal !== undefined,
          // after the job's end the container exits by itself within milliseconds: a forced removal
          // then would race it with a kill (one more runc run on a busy node)
          ending: async () => {
            if (this.done === 'finished' && this.own !== undefined) await Promise.race([this.own.exited, deps.clock.sleep(OWN_EXIT_GRACE_MS, { ref: false })]);
          },
          removed: async () => this.own?.removed,
        }),
      )
      .catch((error: unknown) => {
        stopWaiting.abort(error);
        throw error;
      });
    const session = this.own ?? notAttached(containerId);
    let ended = false;
    void session.exited.then(() => (ended = true));
    scope.defer('stop passing the input on', () => session.stopInput());
    session.startInput();
    if (terminal !== undefined) scope.defer('restore the terminal', onTerminal(terminal, session, deps.log));
    const hasEnded = (): boolean => ended;
    // this node's own sshd must listen too, on one node as well: pdsh-style launchers, and scripts
    // that ssh to every host of $hostlist, log in to this one (started at once, 1 job in 15 found
    // nothing listening yet)
    const ownSshd = sshdNetDir(deps, ctx, containerId).then((netDir) => waitForOwnSshd(deps, ctx, hasEnded, netDir));
    // awaited by waitUntilReady; a failure there also ends the wait for the workers
    ownSshd.catch((error: unknown) => stopWaiting.abort(error));
    const go = async (): Promise<void> => (await prepared.control).go(prepared.nonce);
    return { session, hasEnded, go, readiness, ownSshd, jobFiles: (reports) => jobFiles ?? writeFilesFor(reports) };
  }

  /** Every worker's sshd took a login and this node's listens: the job's files are written, its variables returned. */
  async waitUntilReady(started: Started): Promise<Record<string, string>> {
    // a failure of this node's own sshd has ended the wait for the workers already (start: stopWaiting)
    const reports = await started.readiness;
    // the job's files are written while this node's own sshd may still be starting (a one-node job waits for nothing else)
    const [, env] = await allSettledOrFirstError([started.ownSshd, started.jobFiles(reports)]);
    if (started.hasEnded()) throw await containerStopped(this.deps.fs, this.ctx.plan);
    this.facts.flush();
    return env;
  }

  /** Says go to this node's container (it runs the job as the caller's uid:gid, with its supplementary groups); the job's exit code. */
  async runJob(started: Started, env: Record<string, string>, channel: ChannelServer | undefined): Promise<number> {
    const { deps, ctx } = this;
    deps.log.info(`running ${ctx.plan.scriptPath} on ${ctx.plan.nodes.length} node(s), np=${env.np}`);
    const code = await deps.timings.measure('job', async () => {
      await started.go();
      return untilJobOrLostWorker(deps, channel, jobExitCode(started.session, () => deps.fs.readFile(ctx.plan.jobDir.jobExit)));
    });
    started.session.stopInput();
    deps.signal.throwIfAborted();
    return code;
  }

  /** The job is over: the workers start removing their containers now, while Docker removes this node's (AutoRemove). */
  finished(channel: ChannelServer | undefined): void {
    this.done = 'finished';
    channel?.broadcastDone(this.done);
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

function notAttached(id: string): never {
  throw new InternalError(`container ${id} started without being attached`);
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
async function waitForOwnSshd(deps: NodeDeps, ctx: NodeContext, hasEnded: () => boolean, netDir: string | undefined): Promise<void> {
  const listening = await ownSshdListens(deps, ctx.plan, ctx.options.timeoutSeconds * 1000, async () => !hasEnded(), netDir);
  if (!listening) {
    throw hasEnded()
      ? await containerStopped(deps.fs, ctx.plan)
      : new LaunchError(`sshd on ${ctx.plan.node} did not listen on port ${ctx.plan.port} within ${ctx.options.timeoutSeconds} s`);
  }
}

/**
 * The job's variables (job.env, and every node's ssh sessions' copy: this node's written here, the
 * workers' by themselves once the channel brought them), its host files, and the ssh_config and
 * known_hosts mapping every node to where its sshd is.
 */
async function writeJobFiles(
  deps: NodeDeps,
  ctx: NodeContext,
  prepared: Prepared,
  reports: ReadonlyMap<string, UpReport>,
  channel: ChannelServer | undefined,
): Promise<Record<string, string>> {
  const { plan } = ctx;
  const ownAddress = channel?.localAddress();
  const nodes: NodeSlots[] = [];
  const endpoints: NodeEndpoint[] = [];
  for (const node of plan.nodes) {
    const report = reports.get(node);
    nodes.push({ node, slots: report?.slots ?? (await prepared.ownSlots) });
    endpoints.push(
      report === undefined
        ? { node, address: ownAddress ?? '127.0.0.1', port: plan.port, hostKey: prepared.node.hostKey }
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
    imagePath: imagePath(prepared.node.facts.env),
    asRoot: ctx.identity.uid === 0,
  });
  await allSettledOrFirstError([
    ...[...hostfiles(nodes, plan.jobDir)].map(([path, text]) => deps.fs.writeFile(path, text, 0o600)),
    ...(plan.sshconfigdir === undefined ? [writeHostFiles(plan.jobDir, ctx.identity.user, endpoints, deps.fs, prepared.node.ssh.kind)] : []),
    deps.fs.writeFile(plan.jobDir.jobEnv, jobEnvScript(env, ctx.cwd), 0o600),
    deps.fs.writeFile(prepared.node.session.env, sessionEnvScript(env, 0, prepared.node.containerVariables), 0o600),
    ...(channel === undefined ? [] : [channel.shareEnv(() => env)]),
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
