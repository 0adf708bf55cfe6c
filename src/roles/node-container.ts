import { createAndStart, ensureImage, removeStaleNamed, writeUserFiles, type UserFiles } from '../container.js';
import type { DockerClient, ImageFacts, PullEvent } from '../docker/client.js';
import type { FileSystem } from '../fs.js';
import type { Identity } from '../identity.js';
import type { Logger } from '../log.js';
import type { RunOptions } from '../options.js';
import { join } from 'node:path';
import { cacheRoot } from '../jobdir.js';
import { limitMemory } from '../limits-cache.js';
import { nodeContainerSpec } from '../node-spec.js';
import type { LaunchPlan } from '../plan.js';
import { assertPortFree } from '../ports.js';
import type { CommandRunner } from '../runner.js';
import type { Teardown } from '../teardown.js';
import type { Timings } from '../timings.js';

/** The effects a node needs, passed in (the CLI gives the real ones, tests may give fakes). */
export interface NodeDeps {
  docker: DockerClient;
  runner: CommandRunner;
  fs: FileSystem;
  log: Logger;
  warnOnce: (key: string, message: string) => void;
  timings: Timings;
  signal: AbortSignal;
  onPullProgress: (event: PullEvent) => void;
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
}

export interface NodeContext {
  options: RunOptions;
  plan: LaunchPlan;
  identity: Identity;
  gpus: string[];
  /** A private (0700) local directory for the generated passwd/group; removed by teardown. */
  privateDir: string;
  cwd: string;
}

export interface PreparedImage {
  facts: ImageFacts;
  userFiles: UserFiles;
}

/**
 * Image present, and its passwd/group merged with the caller's — before any container exists.
 * `alongside` runs concurrently once the image's config is known (the coordinator's ssh material).
 */
export async function prepareImage(
  deps: NodeDeps,
  ctx: NodeContext,
  alongside: (facts: ImageFacts) => Promise<void> = async () => undefined,
): Promise<PreparedImage> {
  const { plan } = ctx;
  const facts = await ensureImage(deps.docker, plan.image, ctx.options.pull, deps.onPullProgress, plan.node);
  const [userFiles] = await Promise.all([
    writeUserFiles(deps.docker, { name: plan.image, id: facts.id, cacheDir: join(cacheRoot(ctx.identity.home), 'images') }, ctx.identity, ctx.privateDir, deps.fs, plan.labels),
    alongside(facts),
  ]);
  return { facts, userFiles };
}

/**
 * Starts this node's container with sshd; its removal is registered before it is created.
 * `beforeStart` runs between create and start: a worker creates early and waits there.
 */
export async function startNodeContainer(
  deps: NodeDeps,
  ctx: NodeContext,
  prepared: PreparedImage,
  teardown: Teardown,
  beforeStart?: () => Promise<void>,
): Promise<string> {
  const { plan } = ctx;
  await assertPortFree(plan.port, plan.node);
  await removeStaleNamed(deps.docker, plan.containerName, ctx.identity.user, deps.log);
  teardown.add(`remove container ${plan.containerName}`, () => deps.docker.removeContainer(plan.containerName));
  const id = await createAndStart(
    deps.docker,
    (dropped) =>
      nodeContainerSpec(
        ctx.options,
        plan,
        { identity: ctx.identity, cwd: ctx.cwd, gpus: ctx.gpus, passwdFile: prepared.userFiles.passwdFile, groupFile: prepared.userFiles.groupFile },
        dropped,
      ),
    plan.dockopts.ulimitNames,
    deps.warnOnce,
    await limitMemory(deps.fs, cacheRoot(ctx.identity.home), plan.node, Date.now),
    beforeStart,
  );
  deps.log.verbose(`container ${plan.containerName} started (${id.slice(0, 12)}), sshd on port ${plan.port}`);
  return id;
}

/** --slots_per_node, else the GPUs SLURM gave the node, else what nvidia-smi lists, else 1. */
export async function resolveSlots(given: number | undefined, gpus: readonly string[], runner: CommandRunner): Promise<number> {
  if (given !== undefined) return given;
  if (gpus.length > 0) return gpus.length;
  const smi = await runner.run('nvidia-smi', ['-L'], { timeoutMs: 15_000 });
  const count = smi.exitCode === 0 ? smi.stdout.split('\n').filter((l) => l.startsWith('GPU ')).length : 0;
  return count > 0 ? count : 1;
}
