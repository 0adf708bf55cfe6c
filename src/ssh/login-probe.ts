import type { Client } from 'ssh2';
import type { FileSystem } from '../platform/fs.js';
import type { JobDir } from '../plan/jobdir.js';
import { keyBlob } from './keys.js';
import { loadSsh2 } from './ssh2.js';
import { LaunchError, SshLoginError } from '../platform/errors.js';

export interface LoginProbeTarget {
  dir: JobDir;
  user: string;
  timeoutMs: number;
}

/** Where a node said its sshd is, and the host key it said it presents. */
export interface SshdEndpoint {
  address: string;
  port: number;
  hostKey?: string;
}

/**
 * A real ssh login into a node's container, done in this process: key exchange, the host key checked
 * against the one that node reported (and the job's known_hosts pins), public-key auth with the
 * job's key, `true` run, exit 0.
 * Spawning OpenSSH per probe costs ~20 ms of CPU a node (and re-reads an ssh_config naming every
 * node), which on 1,000 nodes turned readiness into seconds of queueing; this costs ~3 ms.
 */
export async function inProcessLoginProbe(
  target: LoginProbeTarget,
  fs: FileSystem,
): Promise<(node: string, endpoint: SshdEndpoint) => Promise<void>> {
  const privateKey = await fs.readFile(target.dir.clientKey);
  if (privateKey === undefined) throw new LaunchError(`the job's client key is missing in ${target.dir.root}`);
  const { Client: SshClient } = await loadSsh2();
  return (node, endpoint) => login(new SshClient(), node, endpoint, target, privateKey);
}

function login(client: Client, node: string, endpoint: SshdEndpoint, target: LoginProbeTarget, privateKey: string): Promise<void> {
  const expectedKey = keyBlob(endpoint.hostKey ?? '');
  return new Promise((resolve, reject) => {
    let settled = false;
    const finish = (error?: Error): void => {
      if (settled) return;
      settled = true;
      client.end();
      if (error) reject(error);
      else resolve();
    };
    client.on('error', (error: NodeJS.ErrnoException) =>
      finish(new SshLoginError(error.code === 'ECONNREFUSED' ? `nothing listening on ${node} (${endpoint.address}:${endpoint.port}; sshd not up)` : `ssh login failed: ${error.message}`)),
    );
    client.on('close', () => finish(new SshLoginError('ssh connection closed before the login finished')));
    // a login is a dozen small back-and-forth packets: with Nagle on, each waits for a delayed ACK
    client.on('connect', () => client.setNoDelay(true));
    client.on('ready', () => {
      client.exec('true', (error, channel) => {
        if (error) return finish(new SshLoginError(`ssh login failed: ${error.message}`));
        channel.on('exit', (code: number | null) => finish(code === 0 ? undefined : new SshLoginError(`ssh login failed: true exited ${String(code)}`)));
        channel.resume();
      });
    });
    client.connect({
      host: endpoint.address,
      port: endpoint.port,
      username: target.user,
      privateKey,
      // the job's key is the only way in: ssh2 would first try "none", a round trip sshd always
      // refuses, on the critical path of the last worker's login
      authHandler: ['publickey'],
      readyTimeout: target.timeoutMs,
      // strict host-key checking, as the job's own ssh does: only the job's pinned key is accepted
      hostVerifier: (key: Buffer) => expectedKey !== undefined && key.equals(expectedKey),
    });
  });
}
