import { join } from 'node:path';
import type { DockerClient } from '../docker/client.js';
import type { FileSystem } from '../platform/fs.js';
import { jobDirAt, jobsRoot } from '../plan/jobdir.js';
import { LABELS } from '../plan/labels.js';
import type { Liveness } from './liveness.js';
import type { Logger } from '../platform/log.js';

/** Image-reading containers live for well under a second, a start for seconds; older ones were left by a crash. */
const STALE_PROBE_SECONDS = 120;

export interface CleanupInput {
  docker: DockerClient;
  fs: FileSystem;
  log: Logger;
  user: string;
  home: string;
  liveness: Liveness;
  /** The daemon's clock for the probes' age (the same host's). */
  now: () => number;
  /** Remove every container of the user, live jobs too (SLURM epilog, or by hand). */
  all: boolean;
  /** Look at the job directories on the home too (the coordinator and `srun-docker cleanup`; a worker never does). */
  jobDirs: boolean;
  /** Never touch this job step's own containers. */
  keep?: { jobId: string; stepId: string };
}

export interface CleanupResult {
  containers: string[];
  jobDirs: string[];
}

/**
 * Removes what crashed runs of this user left on this node: containers whose srun-docker is gone
 * (their own input closing ends them too; this catches what a daemon restart or an older version
 * left), old image probes, and job directories whose coordinator no longer runs.
 */
export async function cleanupStale(input: CleanupInput): Promise<CleanupResult> {
  const { docker } = input;
  const found = await docker.listContainers([`${LABELS.user}=${input.user}`]);
  const containers: string[] = [];
  for (const c of found) {
    if (input.keep && c.labels[LABELS.job] === input.keep.jobId && c.labels[LABELS.step] === input.keep.stepId) continue;
    if (input.all || isStale(input, c.labels, c.running, c.createdSeconds)) {
      await docker.removeContainer(c.id);
      containers.push(c.name);
    }
  }
  const jobDirs = input.jobDirs ? await removeStaleJobDirs(input) : [];
  for (const name of containers) input.log.info(`removed stale container ${name}`);
  for (const dir of jobDirs) input.log.info(`removed stale job directory ${dir}`);
  return { containers, jobDirs };
}

/**
 * A container is stale when the srun-docker that made it is gone. One whose srun-docker still runs
 * is never touched, running or not: another job of this user on this node may be between creating
 * and starting it (a removal then ends that job before it begins, with no output and code 137), or
 * it is ending by itself. One whose maker cannot be asked from here (another host's, or no label)
 * goes once it has stopped, after the time a start may take.
 */
function isStale(input: CleanupInput, labels: Record<string, string>, running: boolean, createdSeconds: number): boolean {
  const ageSeconds = input.now() / 1000 - createdSeconds;
  if (labels[LABELS.probe] === 'true') return ageSeconds > STALE_PROBE_SECONDS;
  const launcher = labels[LABELS.launcher];
  const alive = launcher === undefined ? undefined : input.liveness.processAlive(launcher);
  if (alive !== undefined) return !alive;
  return !running && ageSeconds > STALE_PROBE_SECONDS;
}

async function removeStaleJobDirs(input: CleanupInput): Promise<string[]> {
  const root = jobsRoot(input.home);
  const removed: string[] = [];
  for (const entry of await input.fs.list(root)) {
    const dir = join(root, entry);
    if (input.keep && entry === `${input.keep.jobId}.${input.keep.stepId}`) continue;
    if (input.all || (await coordinatorGone(input, dir)) === true) {
      await input.fs.remove(dir);
      removed.push(dir);
    }
  }
  return removed;
}

/** From the coordinator file the job's coordinator wrote first: its process (this host) or its channel (another). */
async function coordinatorGone(input: CleanupInput, dir: string): Promise<boolean | undefined> {
  const text = await input.fs.readFile(jobDirAt(dir).coordinator);
  if (text === undefined) return undefined; // being made right now, or an older srun-docker's: left alone
  let info: { node?: unknown; token?: unknown; jobId?: unknown; stepId?: unknown };
  try {
    info = JSON.parse(text) as typeof info;
  } catch {
    return undefined;
  }
  if (typeof info.token === 'string') {
    const alive = input.liveness.processAlive(info.token);
    if (alive !== undefined) return !alive;
  }
  if (typeof info.node !== 'string' || typeof info.jobId !== 'string' || typeof info.stepId !== 'string') return undefined;
  const answers = await input.liveness.coordinatorAnswers(info.node, info.jobId, info.stepId);
  return answers === undefined ? undefined : !answers;
}
