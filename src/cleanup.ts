import { join } from 'node:path';
import type { DockerClient } from './docker/client.js';
import type { FileSystem } from './fs.js';
import { jobsRoot } from './jobdir.js';
import { LABELS } from './labels.js';
import type { Logger } from './log.js';

/** A job whose heartbeat has not moved for this long has no live coordinator. */
export const STALE_JOB_MS = 60_000;
/** Image-reading containers live for well under a second; older ones were left by a crash. */
const STALE_PROBE_SECONDS = 120;

export interface CleanupInput {
  docker: DockerClient;
  fs: FileSystem;
  log: Logger;
  user: string;
  home: string;
  now: () => number;
  /** Remove every container of the user, live jobs too (SLURM epilog, or by hand). */
  all: boolean;
  /** Never touch this job step's own containers. */
  keep?: { jobId: string; stepId: string };
}

export interface CleanupResult {
  containers: string[];
  jobDirs: string[];
}

/**
 * Removes what crashed runs of this user left on this node: containers whose job directory is gone or
 * whose coordinator's heartbeat is stale, old image probes, and stale job directories with their keys.
 */
export async function cleanupStale(input: CleanupInput): Promise<CleanupResult> {
  const { docker } = input;
  const found = await docker.listContainers([`${LABELS.user}=${input.user}`]);
  const containers: string[] = [];
  for (const c of found) {
    if (input.keep && c.labels[LABELS.job] === input.keep.jobId && c.labels[LABELS.step] === input.keep.stepId) continue;
    if (input.all || (await isStale(input, c.labels, c.createdSeconds))) {
      await docker.removeContainer(c.id);
      containers.push(c.name);
    }
  }
  const jobDirs = await removeStaleJobDirs(input);
  for (const name of containers) input.log.info(`removed stale container ${name}`);
  for (const dir of jobDirs) input.log.info(`removed stale job directory ${dir}`);
  return { containers, jobDirs };
}

async function isStale(input: CleanupInput, labels: Record<string, string>, createdSeconds: number): Promise<boolean> {
  const ageSeconds = input.now() / 1000 - createdSeconds;
  if (labels[LABELS.probe] === 'true') return ageSeconds > STALE_PROBE_SECONDS;
  // a worker of another job of this user creates its container before that job's directory may be
  // visible here: a young container is never judged by its job directory
  if (ageSeconds < STALE_JOB_MS / 1000) return false;
  const dir = labels[LABELS.jobDir];
  if (dir === undefined) return false;
  return heartbeatStale(input, dir);
}

async function heartbeatStale(input: CleanupInput, dir: string): Promise<boolean> {
  if (!(await input.fs.exists(dir))) return true;
  const beat = (await input.fs.modifiedAt(join(dir, 'heartbeat'))) ?? (await input.fs.modifiedAt(dir)) ?? 0;
  return input.now() - beat > STALE_JOB_MS;
}

async function removeStaleJobDirs(input: CleanupInput): Promise<string[]> {
  const root = jobsRoot(input.home);
  const removed: string[] = [];
  for (const entry of await input.fs.list(root)) {
    const dir = join(root, entry);
    if (input.keep && entry === `${input.keep.jobId}.${input.keep.stepId}`) continue;
    if (input.all || (await heartbeatStale(input, dir))) {
      await input.fs.remove(dir);
      removed.push(dir);
    }
  }
  return removed;
}
