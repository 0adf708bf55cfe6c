import { createAndStart, ensureImage, imagePaths, mountOfOwnFailed, ownFileBinds, removeStaleNamed, startErrorText, userFiles, type FileDelivery, type NodeFiles } from '../container/container.js';
import { mountsToWiden, ownTop } from '../container/reachable.js';
import type { DockerClient, ImageFacts, PullEvent } from '../docker/client.js';
import type { FileSystem } from '../platform/fs.js';
import type { Identity } from '../container/identity.js';
import type { Logger } from '../platform/log.js';
import type { RunOptions } from '../plan/run-options.js';
import { dirname, join } from 'node:path';
import { readFile, readlink } from 'node:fs/promises';
import { builtinFiles, dropbearHostPath, verifyDropbear } from '../ssh/builtin.js';
import { sessionPath } from '../ssh/paths.js';
import { containerVariables, sessionFiles, sessionShellScript, withSessionShell, type SessionFiles } from '../ssh/session-shell.js';
import { chooseSsh, OPENSSH_CLIENTS, OPENSSH_SERVER, type SshChoice } from '../ssh/server.js';
import { LaunchError, UsageError, type ScriptNotFoundError } from '../platform/errors.js';
import { allSettledOrFirstError } from '../platform/settle.js';
import { sshdLogPath } from '../plan/jobdir.js';
import { waitForSshdListening } from '../ssh/listening.js';
import { createNodeSshd } from '../ssh/material.js';
import { deliveryMemory, limitMemory, type DeliveryMemory } from '../container/limits-cache.js';
import { nodeContainerEnv, nodeContainerSpec } from '../container/node-spec.js';
import { isWithin, samePathDataMount } from '../container/container-spec.js';
import type { LaunchPlan } from '../plan/plan.js';
import type { EngineFacts } from '../docker/engine.js';
import type { StepResources } from '../slurm/resources.js';
import { assertPortFree } from '../plan/ports.js';
import type { CommandRunner } from '../platform/runner.js';
import type { ResourceScope } from '../platform/scope.js';
import type { Terminal } from '../platform/terminal.js';
import type { Timings, WallClock } from '../platform/timings.js';

/** The effects a node needs, passed in (the CLI gives the real ones, tests may give fakes). */
export interface NodeDeps {
  docker: DockerClient;
  runner: CommandRunner;
  fs: FileSystem;
  log: Logger;
  warnOnce: (key: string, message: string) => void;
  timings: Timings;
  clock: WallClock;
  signal: AbortSignal;
  onPullProgress: (event: PullEvent) => void;
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  /** srun-docker's own input, and the user's terminal when input and output are one; asked for by the coordinator only (workers never read it). */
  input: () => { stdin: NodeJS.ReadableStream; terminal: Terminal | undefined };
}

export interface NodeContext {
  options: RunOptions;
  plan: LaunchPlan;
  identity: Identity;
  gpus: string[];
  /** The step's CPUs and memory on this node. */
  resources: StepResources;
  /** The engine that answers (its identity is already mapped into `identity`, see containerIdentity). */
  engine: EngineFacts;
  /** A private (0700) directory of this node's in the job directory: its ssh sessions' shell and variables (the container reads them as the user). */
  privateDir: string;
  /** This node's own cache directory (node-local). */
  cacheDir: string;
  cwd: string;
  /** The daemon's answer to the ping: its failure is the one to report, whatever other call failed meanwhile. */
  daemonAnswers: Promise<void>;
  /** This user's leftovers from crashed runs, being removed once the daemon answered: awaited before the container starts. */
  staleCleanup: Promise<void>;
  /** Warnings found before the role began (the plan's, the daemon connection's): the role says them through its warnOnce. */
  earlyWarnings: readonly string[];
  /** A worker only: this node does not find the --script (the coordinator may: see runWorker). */
  scriptNotFound?: ScriptNotFoundError;
}

export interface PreparedNode {
  facts: ImageFacts;
  /** /etc/passwd and /etc/group, the built-in ssh when it is used: mounted, or written into the container before it starts. */
  files: NodeFiles;
  /** Which of the two this node's daemon takes. */
  delivery: DeliveryMemory;
  /** This node's sshd host key (`type base64`) to pin in known_hosts; none in --sshconfigdir mode. */
  hostKey: string | undefined;
  /** The image's OpenSSH or the built-in one, and why. */
  ssh: SshChoice;
  /** Which of the paths srun-docker asked about the image has (imageFactPaths). */
  present: ReadonlySet<string>;
  /** The shell of this node's ssh sessions, and where it finds the job's variables. */
  session: SessionFiles;
  /** The container's own variables (the image's, then srun-docker's), which its ssh sessions get beneath the job's. */
  containerVariables: Record<string, string>;
}

/** What a node asks about the image before it starts it: its OpenSSH, the script's directory, the user's shell. */
export function imageFactPaths(plan: LaunchPlan, identity: Identity): string[] {
  return [...new Set([OPENSSH_SERVER, ...OPENSSH_CLIENTS, plan.scriptPath, dirname(plan.scriptPath), identity.shell])];
}

/** --sshconfigdir is the user's own sshd_config: always the image's OpenSSH. */
export function sshChoiceFor(ctx: Pick<NodeContext, 'options' | 'plan'>, present: ReadonlySet<string>): SshChoice {
  if (ctx.plan.sshconfigdir !== undefined) return { kind: 'image', reason: "--sshconfigdir: the image's OpenSSH with your sshd_config" };
  return chooseSsh(ctx.options.ssh, present, ctx.plan.image);
}

/** The user's login shell where the image has it, else /bin/sh: a host's /bin/bash in an image without bash would end every ssh session. */
function withShellOf(identity: Identity, present: ReadonlySet<string>): Identity {
  if (present.has(identity.shell)) return identity;
  const fields = identity.passwdLine.split(':');
  fields[6] = '/bin/sh';
  return { ...identity, shell: '/bin/sh', passwdLine: fields.join(':') };
}

/**
 * Everything this node's container needs before it exists: the image, its passwd/group merged with
 * the caller's, this node's own sshd host key and config (in the job directory) — nothing from any
 * other node — and the way cleared (leftovers of crashed runs gone, the port free).
 */
export async function prepareNode(
  deps: NodeDeps,
  ctx: NodeContext,
  /** The job directory being made (a worker makes it alongside the image's inspection; the coordinator has already). */
  jobDirMade: Promise<void>,
): Promise<PreparedNode> {
  const { plan } = ctx;
  // the daemon's round trips overlap: each one is ~10 ms of every job's start
  const cleared = clearTheWay(deps, ctx);
  const image = ensureImage(deps.docker, plan.image, ctx.options.pull, deps.onPullProgress, plan.node);
  cleared.catch(() => undefined); // awaited below, unless the image fails first
  image.catch(() => undefined); // awaited after the ping, whose error names a daemon that is down
  await ctx.daemonAnswers;
  const { facts, pulled } = await image;
  if (pulled) deps.warnOnce('pulled', `${plan.image} was not on the node: pulled it`);
  const imageRef = { name: plan.image, id: facts.id, cacheDir: join(ctx.cacheDir, 'images') };
  // what the image has needs only the image: a worker looks while it is still joining the coordinator
  const present = await imagePaths(deps.docker, imageRef, imageFactPaths(plan, ctx.identity), deps.fs, plan.labels);
  await jobDirMade;
  const ssh = sshChoiceFor(ctx, present);
  deps.log.verbose(`ssh: ${ssh.reason}`);
  const dropbear = ssh.kind === 'builtin' ? await verifyDropbear(dropbearHostPath(), (path) => readFile(path).catch(() => undefined)) : undefined;
  const identity = withShellOf(ctx.identity, present);
  const session = sessionFiles(ctx.privateDir, identity.shell);
  const delivery = await deliveryMemory(deps.fs, ctx.cacheDir, plan.node, deps.clock.now);
  const etc = userFiles(deps.docker, imageRef, { ...identity, passwdLine: withSessionShell(identity.passwdLine, session) }, deps.fs, plan.labels);
  // all write into directories a failed run's teardown removes: none is left running when one fails
  const [etcFiles, hostKey] = await allSettledOrFirstError([
    etc,
    prepareSshd(deps, ctx, imagePath(facts.env), ssh),
    deps.fs.mkdir(ctx.privateDir, 0o700).then(async () => {
      await deps.fs.mkdir(dirname(session.shell), 0o700);
      await allSettledOrFirstError([
        deps.fs.writeFile(session.shell, sessionShellScript(session, identity.shell), 0o755),
        // to be mounted; the daemon that cannot mount them gets them written in (startNodeContainer)
        ...(delivery.delivery === 'mount' ? (await etc).map((f) => deps.fs.writeFile(join(ctx.privateDir, f.name), f.content, f.mode)) : []),
      ]);
    }),
  ]);
  await cleared;
  const files: NodeFiles = {
    put: [{ dir: '/etc', files: etcFiles }, ...(dropbear === undefined ? [] : [builtinFiles(dropbear)])],
    binds: ownFileBinds(ctx.privateDir, dropbear === undefined ? undefined : dropbearHostPath()),
  };
  const variables = containerVariables(facts.env, nodeContainerEnv(plan, ctx.identity, ctx.gpus));
  return { facts, files, delivery, hostKey, ssh, present, session, containerVariables: variables };
}

/**
 * This user's leftovers from crashed runs removed first (one may hold the port), then the port
 * checked, then a stale container of this job step's name removed.
 */
async function clearTheWay(deps: NodeDeps, ctx: NodeContext): Promise<void> {
  const { plan } = ctx;
  await ctx.staleCleanup;
  await assertPortFree(plan.port, plan.node);
  await removeStaleNamed(deps.docker, plan.containerName, ctx.identity.user, deps.log);
}

/** Zero set-up: this node's host key and sshd_config in the job directory. --sshconfigdir: the user's, which must exist. */
async function prepareSshd(deps: NodeDeps, ctx: NodeContext, path: string, ssh: SshChoice): Promise<string | undefined> {
  const { plan } = ctx;
  if (plan.sshconfigdir !== undefined) {
    if (!(await deps.fs.exists(plan.sshdConfig))) {
      throw new LaunchError(`${plan.sshdConfig} does not exist — create it with: srun-docker ssh-setup --sshconfigdir=${plan.sshconfigdir}`);
    }
    return undefined;
  }
  return createNodeSshd(
    { dir: plan.jobDir, node: plan.node, port: plan.port, user: ctx.identity.user, uid: ctx.identity.uid, sessionEnv: { PATH: sessionPath(plan.jobDir, path), ...plan.envlist }, ssh: ssh.kind },
    deps.fs,
  );
}

/** What the coordinator adds around its own container: it attaches before the start, and waits for Docker's removal. */
export interface ContainerHooks {
  beforeStart: (id: string) => Promise<void>;
  /** Before the forced removal: until a container that is ending by itself has ended (then AutoRemove removes it). */
  ending: () => Promise<void>;
  /** After the forced removal (a no-op once AutoRemove has begun): until the container is gone. */
  removed: () => Promise<void>;
  /** The job runs on a terminal (the container gets one). */
  terminal: boolean;
}

/** Starts this node's container with sshd (the way cleared by prepareNode); its removal is in `scope` before it is created. */
export async function startNodeContainer(
  deps: NodeDeps,
  ctx: NodeContext,
  prepared: PreparedNode,
  scope: ResourceScope,
  hooks?: ContainerHooks,
): Promise<string> {
  const { plan } = ctx;
  // adopted by name before it is made: a create that fails half-way (a daemon timeout) may still have made it
  scope.adopt(`remove container ${plan.containerName}`, plan.containerName, async (name) => {
    await hooks?.ending();
    await deps.docker.removeContainer(name);
    await hooks?.removed();
  });
  warnEngineLimits(deps, ctx);
  // rootless Podman is sent no ulimits at all: what its node's daemon refused before does not apply
  const limits = ctx.engine.kind === 'podman' && ctx.engine.rootless ? undefined : await limitMemory(deps.fs, ctx.cacheDir, plan.node, deps.clock.now);
  const start = (delivery: FileDelivery, widerMounts: readonly string[]): Promise<string> =>
    createAndStart(
      deps.docker,
      (dropped) =>
        nodeContainerSpec(
          ctx.options,
          plan,
          {
            identity: ctx.identity,
            cwd: ctx.cwd,
            gpus: ctx.gpus,
            resources: ctx.resources,
            engine: ctx.engine,
            imageHas: (path) => prepared.present.has(path),
            imagePath: imagePath(prepared.facts.env),
            ssh: prepared.ssh.kind,
            fileBinds: delivery === 'mount' ? prepared.files.binds : [],
            terminal: hooks?.terminal,
            widerMounts,
          },
          dropped,
        ),
      plan.dockopts.ulimitNames,
      deps.warnOnce,
      limits,
      async (id) => {
        const put = delivery === 'put' ? prepared.files.put.map((c) => deps.docker.putFiles(id, c.dir, c.files)) : [];
        await allSettledOrFirstError([...put, hooks?.beforeStart(id)]);
      },
    );
  let delivery = prepared.delivery.delivery;
  let widerMounts: string[] = [];
  let id: string | undefined;
  // each retry takes one way out of a mount a root daemon on NFS with root_squash cannot make
  for (let attempt = 0; id === undefined; attempt += 1) {
    try {
      id = await start(delivery, widerMounts);
    } catch (error) {
      if (delivery === 'mount' && mountOfOwnFailed(error, prepared.files.binds)) {
        // the job directory or the package in the home
        deps.log.verbose(`the daemon on ${plan.node} cannot mount srun-docker's files (${startErrorText(error)}): it writes them into the containers instead, on this node from now on`);
        await prepared.delivery.rememberPut();
        delivery = 'put';
        continue;
      }
      const widen = attempt < MOUNT_RETRIES ? await mountsToMoveUp(deps, ctx, error, widerMounts) : [];
      if (widen.length === 0) throw error;
      const tops = [...new Set(widen.map((w) => w.top))];
      deps.log.verbose(`the daemon on ${plan.node} cannot mount ${widen.map((w) => w.path).join(', ')}: mounting ${tops.join(', ')} instead (${startErrorText(error)})`);
      widerMounts = [...widerMounts, ...tops];
    }
  }
  deps.log.verbose(`container ${plan.containerName} started (${id.slice(0, 12)}), sshd on port ${plan.port}`);
  // its passwd and group stay until the job directory goes: on a shared home (NFS, FUSE) a mounted
  // file that is removed is gone for the container too
  return id;
}

/**
 * A guard: each retry moves up a mount not moved before, so the retries end by themselves (one per
 * directory the job needs: the working directory, the script's, each --datamnts entry).
 */
const MOUNT_RETRIES = 8;

/**
 * The directories the job needs outside the home (the working directory, the script's, --datamnts
 * entries at their own path and read-write) whose mount the failed start named, each with the
 * highest directory of the user's above it (reachable.ts); none already moved up. Asked only after
 * a start failed.
 */
async function mountsToMoveUp(deps: NodeDeps, ctx: NodeContext, error: unknown, done: readonly string[]): Promise<{ path: string; top: string }[]> {
  const { plan, identity } = ctx;
  const data = ctx.options.datamnts.map(samePathDataMount).filter((p) => p !== undefined);
  const paths = [...new Set([...plan.neededPaths, dirname(plan.scriptPath), ...data])].filter((p) => !isWithin(p, identity.home) && !done.some((d) => isWithin(p, d)));
  const needed = await Promise.all(paths.map(async (path) => ({ path, top: await ownTop(path, identity.uid, (p) => deps.fs.owner(p).catch(() => undefined)) })));
  return mountsToWiden(startErrorText(error), needed);
}

/** What the engine would silently not apply: a limit the user asked for is refused, a default is warned about once. */
function warnEngineLimits(deps: NodeDeps, ctx: NodeContext): void {
  const { engine, resources, plan } = ctx;
  if (engine.kind === 'podman' && engine.rootless) {
    if (plan.dockopts.ulimitNames.length > 0) {
      throw new UsageError(
        `rootless Podman ignores the ulimits of an API request, so --dockopts --ulimit ${plan.dockopts.ulimitNames.join(', ')} would have no effect — ` +
          'drop it and raise the limit for your login or systemd user session (e.g. LimitMEMLOCK=infinity)',
      );
    }
    deps.warnOnce('podman-ulimits', "rootless Podman ignores ulimits: the containers get your login's own limits (memlock, stack), not unlimited memlock and a 64 MiB stack");
  }
  const user = plan.dockopts.hostConfig;
  if (resources.cpuset !== undefined && !engine.cpuset && user.CpusetCpus === undefined) {
    deps.warnOnce('cpuset', `the container engine cannot pin CPUs here (rootless without the cpuset controller?): the container is not held to this step's CPUs ${resources.cpuset}`);
  }
  if (resources.memoryBytes !== undefined && !engine.memoryLimit && user.Memory === undefined) {
    deps.warnOnce('memory', `the container engine cannot limit memory here: the container is not held to this step's ${Math.round(resources.memoryBytes / 1024 ** 2)} MiB`);
  }
}

/**
 * Until this node's own sshd listens (true), or `maxMs` passed or `stillRunning` says the container
 * stopped (false): sshd will never listen then.
 */
export function ownSshdListens(deps: NodeDeps, plan: LaunchPlan, maxMs: number, stillRunning: () => Promise<boolean>, netDir?: string): Promise<boolean> {
  return waitForSshdListening({ port: plan.port, maxMs, intervalMs: 5, stillWorthWaiting: stillRunning, signal: deps.signal, now: deps.clock.now, netDir });
}

/**
 * The network namespace this node's sshd listens in, by its /proc tables' directory: undefined for
 * the node's own (every engine's host network but rootless Docker's). Rootless Docker's host network
 * is rootlesskit's namespace (slirp4netns) unless it was started without one: its tables are then
 * those of the container's process, and no other node reaches a sshd there, so a job of more than
 * one node stops at once, saying so, rather than waiting out its timeout for logins that cannot come.
 */
export async function sshdNetDir(deps: NodeDeps, ctx: NodeContext, containerId: string): Promise<string | undefined> {
  const { engine, plan } = ctx;
  if (engine.kind !== 'docker' || !engine.rootless) return undefined;
  const pid = (await deps.docker.inspectContainer(containerId))?.pid ?? 0;
  if (pid <= 0) return undefined;
  const [own, its] = await Promise.all(['/proc/self/ns/net', `/proc/${pid}/ns/net`].map((path) => readlink(path).catch(() => undefined)));
  // either unreadable: it cannot be told from here, and the node's own tables are what there is
  if (own === undefined || its === undefined || own === its) return undefined;
  if (plan.nodes.length > 1) {
    throw new LaunchError(
      `rootless Docker on ${plan.node} runs its containers in rootlesskit's own network, not the node's: the other nodes cannot reach their sshd — ` +
        'run jobs of more than one node with rootless Podman (DOCKER_HOST=unix://$XDG_RUNTIME_DIR/podman/podman.sock) or the node\'s root Docker daemon',
    );
  }
  return `/proc/${pid}/net`;
}

/** Why this node's container stopped, as far as sshd's log says. */
export async function containerStopped(fs: FileSystem, plan: LaunchPlan): Promise<LaunchError> {
  const reason = sshdFailure((await fs.readFile(sshdLogPath(plan.jobDir, plan.node))) ?? '');
  return new LaunchError(`the container on ${plan.node} stopped${reason ? ` (sshd: ${reason})` : ''}`);
}

/** sshd's log also holds harmless lines about probes that hung up; only a failure explains a stop. */
function sshdFailure(log: string): string | undefined {
  const failures = log.split('\n').filter((l) => /fatal|error|not found|Bind to port|in use|Could not load|Permission denied/i.test(l));
  return failures.pop()?.trim();
}

/** The PATH the image sets: what ssh sessions and the job get. */
export function imagePath(env: readonly string[]): string {
  const entry = env.find((e) => e.startsWith('PATH='));
  return entry?.slice('PATH='.length) ?? '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
}
