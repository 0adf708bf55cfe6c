import { setTimeout as sleep } from 'node:timers/promises';
import { ensureJobDir, HEARTBEAT_STALE_MS, readJson, watchIntervalMs, watchUntilDone, writeJson } from '../coordination.js';
import type { FileSystem } from '../fs.js';
import { nodeStatusPath, type NodeStatus } from '../jobdir.js';
import type { LaunchPlan } from '../plan.js';
import { resolveSlots } from '../slots.js';
import { Teardown } from '../teardown.js';
import { containerStopped, ownSshdListens, prepareNode, startNodeContainer, type NodeContext, type NodeDeps } from './node-container.js';

/** How long a worker waits for its own sshd to listen before it reports it up anyway (the coordinator's login decides). */
const SSHD_LISTEN_MAX_MS = 10_000;

/**
 * Every other node: makes its own sshd host key and config, starts its container with sshd without
 * waiting for anyone, says so once sshd listens, and keeps the container until the coordinator says
 * done — or is plainly gone.
 */
export async function runWorker(deps: NodeDeps, ctx: NodeContext): Promise<number> {
  const { plan } = ctx;
  const { fs, log } = deps;
  const teardown = new Teardown();
  const onAbort = (): void => void teardown.run(log);
  deps.signal.addEventListener('abort', onAbort, { once: true });
  teardown.add('say goodbye', () => writeStatus(fs, plan, { state: 'gone' }));
  teardown.add('remove private files', () => fs.remove(ctx.privateDir));
  try {
    const prepared = await deps.timings.measure('prepare', () => prepareNode(deps, ctx, ensureJobDir(fs, plan.jobDir)));
    const slots = resolveSlots(ctx.options.slotsPerNode, ctx.gpus, deps.runner, fs);
    slots.catch(() => undefined); // awaited below, unless the container start fails first
    const containerId = await deps.timings.measure('container', () => startNodeContainer(deps, ctx, prepared, teardown));
    const running = async (): Promise<boolean> => (await deps.docker.inspectContainer(containerId))?.running === true;
    const listening = await deps.timings.measure('sshd', () => ownSshdListens(deps, plan, SSHD_LISTEN_MAX_MS, running));
    if (!listening && !(await running())) throw await containerStopped(fs, plan);
    await writeStatus(fs, plan, { state: 'started', slots: await slots, port: plan.port, hostKey: prepared.hostKey });
    const end = await watchUntilDone({
      fs,
      dir: plan.jobDir,
      signal: deps.signal,
      now: Date.now,
      intervalMs: watchIntervalMs(plan.nodes.length),
      containerRunning: running,
    });
    if (end === 'container-exited') throw await containerStopped(fs, plan);
    if (end === 'coordinator-gone') {
      log.warn(`the coordinator ${plan.nodes[0] ?? ''} stopped (no heartbeat for ${HEARTBEAT_STALE_MS / 1000} s); removing this node's container and the job's keys`);
      // nobody else is left to remove the job directory with its keys
      teardown.add('remove the orphaned job directory', () => fs.remove(plan.jobDir.root));
    } else log.verbose(`leaving: ${end}`);
    return 0;
  } catch (error) {
    deps.signal.throwIfAborted();
    await reportWorkerFailure(deps.fs, ctx.plan, error);
    throw error;
  } finally {
    deps.signal.removeEventListener('abort', onAbort);
    await deps.timings.measure('teardown', () => teardown.run(log));
  }
}

async function writeStatus(fs: FileSystem, plan: LaunchPlan, status: NodeStatus): Promise<void> {
  if (!(await fs.exists(plan.jobDir.nodesDir))) return;
  const path = nodeStatusPath(plan.jobDir, plan.node);
  // never overwrite a failure with a goodbye: the coordinator must learn why
  if (status.state === 'gone' && (await readJson<NodeStatus>(fs, path))?.state === 'failed') return;
  await writeJson(fs, path, status);
}

/**
 * The coordinator names this node and this reason instead of waiting for its deadline. The job
 * directory may not exist yet (this node failed before the coordinator got going): wait a little.
 */
export async function reportWorkerFailure(fs: FileSystem, plan: LaunchPlan, error: unknown): Promise<void> {
  const message = error instanceof Error ? error.message : String(error);
  for (let attempt = 0; attempt < 50; attempt += 1) {
    if (await fs.exists(plan.jobDir.nodesDir)) {
      await writeStatus(fs, plan, { state: 'failed', error: message }).catch(() => undefined);
      return;
    }
    if (await fs.exists(plan.jobDir.done)) return;
    await sleep(200);
  }
}
