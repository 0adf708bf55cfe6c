import { join } from 'node:path';

/**
 * The per-job-step directory on the shared home (0700). It carries the ssh material and the
 * few markers by which the coordinator and the workers coordinate without any network of their own.
 */
export interface JobDir {
  root: string;
  /** Written by the coordinator when the job is over (or failed): workers leave. */
  done: string;
  /** Rewritten by the coordinator every few seconds; a frozen heartbeat means it is gone. */
  heartbeat: string;
  nodesDir: string;
  clientKey: string;
  authorizedKeys: string;
  /** Written by the coordinator once every node has said which host key its sshd presents. */
  knownHosts: string;
  sshConfig: string;
  binDir: string;
  sshWrapper: string;
  hostfile: string;
  mpichHostfile: string;
  /** The job's variables as sh `export` lines: the coordinator's container sources them before it runs the job. */
  jobEnv: string;
  /** The job's exit code, written by the coordinator's container as the job ends. */
  jobExit: string;
}

export function jobDirFor(home: string, jobId: string, stepId: string): JobDir {
  const root = join(home, '.srun-docker', 'jobs', `${jobId}.${stepId}`);
  return {
    root,
    done: join(root, 'done.json'),
    heartbeat: join(root, 'heartbeat'),
    nodesDir: join(root, 'nodes'),
    clientKey: join(root, 'id_ed25519'),
    authorizedKeys: join(root, 'authorized_keys'),
    knownHosts: join(root, 'known_hosts'),
    sshConfig: join(root, 'ssh_config'),
    binDir: join(root, 'bin'),
    sshWrapper: join(root, 'bin', 'ssh'),
    hostfile: join(root, 'hostfile'),
    mpichHostfile: join(root, 'hostfile.mpich'),
    jobEnv: join(root, 'job.env'),
    jobExit: join(root, 'job.exit'),
  };
}

/** What is worth remembering between jobs: images' passwd/group by image id, daemons' limits by node. */
export function cacheRoot(home: string): string {
  return join(home, '.srun-docker', 'cache');
}

export function jobsRoot(home: string): string {
  return join(home, '.srun-docker', 'jobs');
}

export function nodeStatusPath(dir: JobDir, node: string): string {
  return join(dir.nodesDir, `${node}.json`);
}

/** The node whose status file this entry of the nodes directory is (its sshd log and half-written files are none). */
export function nodeOfStatusFile(entry: string): string | undefined {
  return entry.endsWith('.json') && !entry.startsWith('.') ? entry.slice(0, -'.json'.length) : undefined;
}

/** sshd's own messages on a node, kept in the job dir so they outlive an auto-removed container. */
export function sshdLogPath(dir: JobDir, node: string): string {
  return join(dir.nodesDir, `${node}.sshd.log`);
}

/**
 * Each node's own sshd: its host key and config, made by that node (no node waits for another to
 * start its container); the coordinator pins every node's key in known_hosts once it has answered.
 */
export function nodeHostKeyPath(dir: JobDir, node: string): string {
  return join(dir.nodesDir, `${node}.ssh_host_ed25519_key`);
}

export function nodeSshdConfigPath(dir: JobDir, node: string): string {
  return join(dir.nodesDir, `${node}.sshd_config`);
}

/**
 * A worker's report, read by the coordinator: its sshd answers (on which port, with which host key —
 * none in --sshconfigdir mode, where the user's ssh config pins it — and its slots), or why it failed.
 */
export type NodeStatus =
  | { state: 'started'; slots: number; port: number; hostKey?: string }
  | { state: 'failed'; error: string }
  | { state: 'gone' };

export interface DoneInfo {
  reason: 'finished' | 'failed' | 'interrupted';
}
