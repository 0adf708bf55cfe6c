import { dirname, join } from 'node:path';
import { nodeHostKeyPath, type JobDir } from '../plan/jobdir.js';

/**
 * The built-in ssh's files in the job directory, beside the OpenSSH ones they mirror (so a change of
 * where jobdir.ts puts a node's files carries these along).
 */
export interface BuiltinPaths {
  /** This node's host key in Dropbear's format. */
  hostKey: string;
  /** The HOME dbclient gets from the job's ssh wrapper: its known_hosts and key are the job's, never ~/.ssh. */
  clientHome: string;
  clientKnownHosts: string;
  /** dbclient's default key file (~/.ssh/id_dropbear), the job's client key in Dropbear's format. */
  clientKey: string;
  /** The job's scp (Dropbear's, which speaks the rcp protocol) beside its ssh wrapper. */
  scpWrapper: string;
}

export function builtinPaths(dir: JobDir, node: string): BuiltinPaths {
  const clientHome = join(dir.root, 'dbclient-home');
  return {
    hostKey: `${nodeHostKeyPath(dir, node)}.dropbear`,
    clientHome,
    clientKnownHosts: join(clientHome, '.ssh', 'known_hosts'),
    clientKey: join(clientHome, '.ssh', 'id_dropbear'),
    scpWrapper: join(dirname(dir.sshWrapper), 'scp'),
  };
}

/**
 * The PATH of every ssh session in the containers: the job's own ssh and scp first (on a worker too,
 * so that `ssh node2 'scp f node3:'` and launchers that spawn from the workers reach the other nodes
 * with the job's key and port), then the image's.
 */
export function sessionPath(dir: JobDir, imagePath: string): string {
  return `${dir.binDir}:${imagePath}`;
}
