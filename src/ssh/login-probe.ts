import { Client } from 'ssh2';
import type { FileSystem } from '../fs.js';
import type { JobDir } from '../jobdir.js';
import { knownHostName } from './material.js';

export interface LoginProbeTarget {
  dir: JobDir;
  port: number;
  user: string;
  timeoutMs: number;
}

/**
 * A real ssh login into a node's container, done in this process: key exchange, the host key checked
 * against the job's pinned known_hosts, public-key auth with the job's key, `true` run, exit 0.
 * Spawning OpenSSH per probe costs ~20 ms of CPU a node (and re-reads an ssh_config naming every
 * node), which on 1,000 nodes turned readiness into seconds of queueing; this costs ~3 ms.
 */
export async function inProcessLoginProbe(target: LoginProbeTarget, fs: FileSystem): Promise<(node: string) => Promise<void>> {
  const privateKey = await fs.readFile(target.dir.clientKey);
  const knownHosts = await fs.readFile(target.dir.knownHosts);
  if (privateKey === undefined || knownHosts === undefined) throw new Error(`the job's ssh material is missing in ${target.dir.root}`);
  const pinned = parseKnownHosts(knownHosts);
  return (node) => login(node, target, privateKey, pinned.get(knownHostName(node, target.port)));
}

function login(node: string, target: LoginProbeTarget, privateKey: string, expectedKey: Buffer | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    const client = new Client();
    let settled = false;
    const finish = (error?: Error): void => {
      if (settled) return;
      settled = true;
      client.end();
      if (error) reject(error);
      else resolve();
    };
    client.on('error', (error: NodeJS.ErrnoException) =>
      finish(new Error(error.code === 'ECONNREFUSED' ? `nothing listening on ${node}:${target.port} (sshd not up)` : `ssh login failed: ${error.message}`)),
    );
    client.on('close', () => finish(new Error('ssh connection closed before the login finished')));
    client.on('ready', () => {
      client.exec('true', (error, channel) => {
        if (error) return finish(new Error(`ssh login failed: ${error.message}`));
        channel.on('exit', (code: number | null) => finish(code === 0 ? undefined : new Error(`ssh login failed: true exited ${String(code)}`)));
        channel.resume();
      });
    });
    client.connect({
      host: node,
      port: target.port,
      username: target.user,
      privateKey,
      readyTimeout: target.timeoutMs,
      // strict host-key checking, as the job's own ssh does: only the job's pinned key is accepted
      hostVerifier: (key: Buffer) => expectedKey !== undefined && key.equals(expectedKey),
    });
  });
}

/** known_hosts as createSshMaterial writes it: `name[,name...] type base64` → name → key blob. */
export function parseKnownHosts(text: string): Map<string, Buffer> {
  const pinned = new Map<string, Buffer>();
  for (const line of text.split('\n')) {
    const [names, , key] = line.trim().split(/\s+/);
    if (names === undefined || key === undefined) continue;
    for (const name of names.split(',')) pinned.set(name, Buffer.from(key, 'base64'));
  }
  return pinned;
}
