import { dirname } from 'node:path';
import { LaunchError } from '../errors.js';
import type { FileSystem } from '../fs.js';
import type { JobDir } from '../jobdir.js';
import type { CommandRunner } from '../runner.js';
import { loadTemplate, renderTemplate } from './template.js';

export interface SshMaterialInput {
  dir: JobDir;
  nodes: readonly string[];
  port: number;
  user: string;
  uid: number;
  /** Variables every ssh session in the containers gets (the image's PATH, --envlist values). */
  sessionEnv: Record<string, string>;
}

/**
 * Zero set-up ssh for one job step: a client key, a host key, authorized_keys, a known_hosts that
 * pins the host key to the allocated node names, ssh_config, sshd_config and an ssh wrapper.
 * Everything lives in the 0700 job directory and goes with it.
 */
export async function createSshMaterial(input: SshMaterialInput, runner: CommandRunner, fs: FileSystem): Promise<void> {
  const { dir } = input;
  await fs.mkdir(dir.binDir, 0o700);
  const [clientPub, hostPub] = await Promise.all([
    generateKey(dir.clientKey, 'srun-docker-client', runner, fs),
    generateKey(dir.hostKey, 'srun-docker-host', runner, fs),
  ]);
  const files = await renderSshFiles(input, clientPub, hostPub);
  await Promise.all([
    fs.writeFile(dir.authorizedKeys, files.authorizedKeys, 0o600),
    fs.writeFile(dir.knownHosts, files.knownHosts, 0o600),
    fs.writeFile(dir.sshConfig, files.sshConfig, 0o600),
    fs.writeFile(dir.sshdConfig, files.sshdConfig, 0o600),
    fs.writeFile(dir.sshWrapper, files.sshWrapper, 0o700),
  ]);
}

export interface SshFiles {
  authorizedKeys: string;
  knownHosts: string;
  sshConfig: string;
  sshdConfig: string;
  sshWrapper: string;
}

/** Pure: the text of every file, from the two public keys. */
export async function renderSshFiles(input: SshMaterialInput, clientPub: string, hostPub: string): Promise<SshFiles> {
  const { dir, nodes, port, user } = input;
  const [sshd, ssh, wrapper] = await Promise.all([
    loadTemplate('sshd_config'),
    loadTemplate('ssh_config'),
    loadTemplate('ssh_wrapper'),
  ]);
  return {
    // the key may only start sessions: no forwarding of agents, ports or X11 to the other nodes
    authorizedKeys: `restrict,pty ${clientPub.trim()}\n`,
    knownHosts: `${nodes.map((n) => knownHostName(n, port)).join(',')} ${keyOnly(hostPub)}\n`,
    sshConfig: renderTemplate(ssh, {
      HOSTS: nodes.join(' '),
      PORT: String(port),
      USER: user,
      IDENTITY: dir.clientKey,
      KNOWN_HOSTS: dir.knownHosts,
    }),
    sshdConfig: renderTemplate(sshd, {
      PORT: String(port),
      HOST_KEY: dir.hostKey,
      AUTHORIZED_KEYS: dir.authorizedKeys,
      USER: user,
      PERMIT_ROOT_LOGIN: permitRootLogin(input.uid),
      SET_ENV: setEnvLine(input.sessionEnv),
    }),
    sshWrapper: renderTemplate(wrapper, { SSH_CONFIG: dir.sshConfig }),
  };
}

/** The job runs as root only when the caller is root; then root must be able to log in, by key. */
export function permitRootLogin(uid: number): string {
  return uid === 0 ? 'prohibit-password' : 'no';
}

/** known_hosts writes non-default ports as [host]:port. */
export function knownHostName(node: string, port: number): string {
  return port === 22 ? node : `[${node}]:${port}`;
}

/** sshd_config's SetEnv (OpenSSH >= 7.8); values with spaces or quotes cannot be written safely and are left out. */
export function setEnvLine(env: Record<string, string>): string {
  const pairs = Object.entries(env).filter(([name, value]) => /^[A-Za-z_][A-Za-z0-9_]*$/.test(name) && /^[^\s"'\\]*$/.test(value));
  return pairs.length === 0 ? '' : `SetEnv ${pairs.map(([n, v]) => `${n}=${v}`).join(' ')}`;
}

function keyOnly(publicKeyLine: string): string {
  const [type, key] = publicKeyLine.trim().split(/\s+/);
  return `${type ?? ''} ${key ?? ''}`;
}

async function generateKey(path: string, comment: string, runner: CommandRunner, fs: FileSystem): Promise<string> {
  await fs.remove(path);
  await fs.remove(`${path}.pub`);
  const result = await runner.run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', comment, '-f', path], {
    timeoutMs: 30_000,
  });
  if (result.exitCode !== 0) {
    throw new LaunchError(
      `ssh-keygen failed in ${dirname(path)} (exit ${result.exitCode}: ${result.stderr.trim()}) — install openssh-client on the node`,
    );
  }
  const pub = await fs.readFile(`${path}.pub`);
  if (pub === undefined) throw new LaunchError(`ssh-keygen wrote no ${path}.pub`);
  return pub;
}
