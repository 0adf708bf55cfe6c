import { join } from 'node:path';

/**
 * The per-job-step directory on the shared home (0700), made by the coordinator alone. It carries only
 * what must be on the home: the job's secret and the ssh material. A worker opens nothing in it
 * before the coordinator's hello (control channel) has said it exists: a shared home caches a
 * "no such file" for 30–60 s.
 */
export interface JobDir {
  root: string;
  /** Who coordinates (node, process token, job step): written first, so a cleanup can tell whether the job is alive. */
  coordinator: string;
  /** The job step's secret (hex, 0600): both ends of the control channel prove they know it. */
  secret: string;
  nodesDir: string;
  clientKey: string;
  authorizedKeys: string;
  /** Written by the coordinator once every node has said which host key its sshd presents. */
  knownHosts: string;
  sshConfig: string;
  /** `name address port` per node, for the built-in ssh wrapper (Dropbear's client reads no ssh_config). */
  hostsTable: string;
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
  return jobDirAt(join(home, '.srun-docker', 'jobs', `${jobId}.${stepId}`));
}

export function jobDirAt(root: string): JobDir {
  return {
    root,
    coordinator: join(root, 'coordinator.json'),
    secret: join(root, 'secret'),
    nodesDir: join(root, 'nodes'),
    clientKey: join(root, 'id_ed25519'),
    authorizedKeys: join(root, 'authorized_keys'),
    knownHosts: join(root, 'known_hosts'),
    sshConfig: join(root, 'ssh_config'),
    hostsTable: join(root, 'hosts'),
    binDir: join(root, 'bin'),
    sshWrapper: join(root, 'bin', 'ssh'),
    hostfile: join(root, 'hostfile'),
    mpichHostfile: join(root, 'hostfile.mpich'),
    jobEnv: join(root, 'job.env'),
    jobExit: join(root, 'job.exit'),
  };
}

/**
 * What is worth remembering between jobs on a node (images' passwd/group by image id, the daemon's
 * limits): node-local, so no node ever looks up on the shared home a file another node is writing.
 */
export function cacheRoot(tmpdir: string, uid: number): string {
  return join(tmpdir, `srun-docker-cache-${uid}`);
}

export function jobsRoot(home: string): string {
  return join(home, '.srun-docker', 'jobs');
}

/** This node's generated /etc/passwd and /etc/group: where the daemon can mount them (a per-job /tmp it cannot see). */
export function nodeEtcDir(dir: JobDir, node: string): string {
  return join(dir.nodesDir, `${node}.etc`);
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

