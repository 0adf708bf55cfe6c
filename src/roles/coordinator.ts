import { dirname } from 'node:path';
import {
  readNodeStatus,
  startHeartbeat,
  waitForWorkersGone,
  writeJson,
} from '../coordination.js';
import { LaunchError } from '../errors.js';
import { buildJobEnv, hostfiles, toEnvList, type NodeSlots } from '../job-env.js';
import type { DoneInfo } from '../jobdir.js';
import { createSshMaterial } from '../ssh/material.js';
import { inProcessLoginProbe } from '../ssh/login-probe.js';
import { sshLoginProbe } from '../ssh/probe.js';
import { waitForNodes } from '../readiness.js';
import { Teardown } from '../teardown.js';
import { prepareImage, resolveSlots, startNodeContainer, type NodeContext, type NodeDeps } from './node-container.js';

/** Probes at once: enough to cover 1,000 nodes in a few rounds without a fork storm on one node. */
export const READINESS_CONCURRENCY = 64;
const WORKERS_GONE_WAIT_MS = 15_000;

/**
 * The first node: makes the job's ssh material, starts its container, waits until every worker's
 * sshd takes a real login, runs the script, and returns the script's exit code.
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
    await fs.mkdir(dirname(plan.jobDir.root), 0o700);
    teardown.add('remove job directory', () => fs.remove(plan.jobDir.root));
    await fs.mkdir(plan.jobDir.nodesDir, 0o700);
    teardown.add('wait for workers to leave', async () => {
      const left = await waitForWorkersGone(fs, plan.jobDir, workers, WORKERS_GONE_WAIT_MS, () => Date.now());
      if (left.length > 0) log.warn(`no goodbye from ${left.join(', ')} within ${WORKERS_GONE_WAIT_MS / 1000} s; they remove their containers on their own`);
    });
    teardown.add('tell workers the job is over', () => writeJson(fs, plan.jobDir.done, done));
    const stopHeartbeat = startHeartbeat(fs, plan.jobDir);
    teardown.add('stop heartbeat', async () => stopHeartbeat());
    teardown.add('remove private files', () => fs.remove(ctx.privateDir));

    const prepared = await timings.measure('image+ssh-material', () =>
      prepareImage(deps, ctx, (facts) => makeSshMaterial(deps, ctx, pathOf(facts.env))),
    );
    await writeJson(fs, plan.jobDir.ready, { port: plan.port, sshdConfig: plan.sshdConfig, nodes: plan.nodes });
    // the workers start their containers now too: wait for them while this node starts its own
    const stopWaiting = new AbortController();
    const readiness = timings.measure('readiness', () =>
      waitForWorkers({ ...deps, signal: AbortSignal.any([deps.signal, stopWaiting.signal]) }, ctx, workers),
    );
    readiness.catch(() => undefined); // awaited below; a failed container start must not leave it unhandled
    const containerId = await timings.measure('container', () => startNodeContainer(deps, ctx, prepared, teardown)).catch((error: unknown) => {
      stopWaiting.abort(error);
      throw error;
    });
    await readiness;
    const nodes = await timings.measure('slots', () => collectSlots(deps, ctx, workers));
    await Promise.all([...hostfiles(nodes, plan.jobDir)].map(([path, text]) => fs.writeFile(path, text, 0o600)));
    const imagePath = pathOf(prepared.facts.env);
    const env = buildJobEnv({
      nodes,
      port: plan.port,
      masterPort: plan.masterPort,
      dir: plan.jobDir,
      sshconfigdir: plan.sshconfigdir,
      scriptPath: plan.scriptPath,
      scriptArgs: ctx.options.scriptArgs,
      envlist: plan.envlist,
      imagePath,
      asRoot: ctx.identity.uid === 0,
    });
    log.info(`running ${plan.scriptPath} on ${nodes.length} node(s), np=${env.np}`);
    const code = await timings.measure('job', () =>
      deps.docker.exec(
        containerId,
        // no user: the container's own (the caller's uid:gid) and, on Podman too, its supplementary groups
        { cmd: plan.scriptCommand, env: toEnvList(env), workdir: ctx.cwd },
        { stdout: deps.stdout, stderr: deps.stderr },
      ),
    );
    deps.signal.throwIfAborted();
    done = { reason: 'finished' };
    // workers start removing their containers now, while this node removes its own
    await writeJson(fs, plan.jobDir.done, done);
    return code;
  } finally {
    deps.signal.removeEventListener('abort', onAbort);
    await timings.measure('teardown', () => teardown.run(log));
  }
}

async function makeSshMaterial(deps: NodeDeps, ctx: NodeContext, imagePath: string): Promise<void> {
  const { plan } = ctx;
  if (plan.sshconfigdir !== undefined) {
    if (!(await deps.fs.exists(plan.sshdConfig))) {
      throw new LaunchError(`${plan.sshdConfig} does not exist — create it with: srun-docker ssh-setup --sshconfigdir=${plan.sshconfigdir}`);
    }
    return;
  }
  await createSshMaterial(
    {
      dir: plan.jobDir,
      nodes: plan.nodes,
      port: plan.port,
      user: ctx.identity.user,
      uid: ctx.identity.uid,
      sessionEnv: { PATH: imagePath, ...plan.envlist },
    },
    deps.runner,
    deps.fs,
  );
}

async function waitForWorkers(deps: NodeDeps, ctx: NodeContext, workers: readonly string[]): Promise<void> {
  if (workers.length === 0) return;
  const { plan } = ctx;
  deps.log.info(`waiting for ${workers.length} worker(s) to answer ssh on port ${plan.port} (up to ${ctx.options.timeoutSeconds} s)`);
  const zeroSetup = plan.sshconfigdir === undefined;
  // zero set-up: logins in this process (cheap at 1,000 nodes); the user's own ssh config: OpenSSH's
  const probe = zeroSetup
    ? await inProcessLoginProbe({ dir: plan.jobDir, port: plan.port, user: ctx.identity.user, timeoutMs: 5_000 }, deps.fs)
    : sshLoginProbe(deps.runner, { port: plan.port, timeoutMs: 5_000 });
  const readiness = {
    timeoutSeconds: ctx.options.timeoutSeconds,
    concurrency: READINESS_CONCURRENCY,
    reportedFailure: async (node: string) => {
      const status = await readNodeStatus(deps.fs, plan.jobDir, node);
      return status?.state === 'failed' ? `${node} failed: ${status.error}` : undefined;
    },
    signal: deps.signal,
  };
  await waitForNodes({ ...readiness, nodes: workers, probe });
}

async function collectSlots(deps: NodeDeps, ctx: NodeContext, workers: readonly string[]): Promise<NodeSlots[]> {
  const own = await resolveSlots(ctx.options.slotsPerNode, ctx.gpus, deps.runner);
  const reported = await Promise.all(workers.map((n) => readNodeStatus(deps.fs, ctx.plan.jobDir, n)));
  return ctx.plan.nodes.map((node) => {
    if (node === ctx.plan.node) return { node, slots: own };
    const status = reported[workers.indexOf(node)];
    return { node, slots: status?.state === 'started' ? status.slots : own };
  });
}

function pathOf(env: readonly string[]): string {
  const entry = env.find((e) => e.startsWith('PATH='));
  return entry?.slice('PATH='.length) ?? '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
}
