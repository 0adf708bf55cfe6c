import { dirname } from 'node:path';
import { quote } from 'shell-quote';
import type { FileSystem } from '../fs.js';
import { isShellName } from '../job-env.js';
import { nodeHostKeyPath, nodeSshdConfigPath, type JobDir } from '../jobdir.js';
import { BUILTIN_BINARY } from './builtin.js';
import { keyOnly, writeKeyPair } from './keys.js';
import { builtinPaths } from './paths.js';
import type { SshKind } from './server.js';
import { loadTemplate, renderTemplate } from './template.js';

export interface ClientMaterialInput {
  dir: JobDir;
  nodes: readonly string[];
  port: number;
  user: string;
  /** Which ssh the containers run: the wrappers on the job's PATH are that one's client. */
  ssh: SshKind;
}

/**
 * Zero set-up ssh for one job step, the coordinator's part: the client key, authorized_keys (read by
 * every node's sshd at each login, so it may appear after the sshds start), ssh_config and an ssh
 * wrapper. Everything lives in the 0700 job directory and goes with it.
 */
export async function createClientMaterial(input: ClientMaterialInput, fs: FileSystem): Promise<void> {
  const { dir } = input;
  const builtin = input.ssh === 'builtin' ? builtinPaths(dir, '') : undefined;
  await Promise.all([fs.mkdir(dir.binDir, 0o700), ...(builtin ? [fs.mkdir(dirname(builtin.clientKey), 0o700)] : [])]);
  // the built-in client (dbclient) reads only Dropbear's key format: the same key in both
  const clientPub = await writeKeyPair(dir.clientKey, 'srun-docker-client', fs, builtin?.clientKey);
  const files = await renderClientFiles(input, clientPub);
  await Promise.all([
    fs.writeFile(dir.authorizedKeys, files.authorizedKeys, 0o600),
    fs.writeFile(dir.sshConfig, files.sshConfig, 0o600),
    fs.writeFile(dir.sshWrapper, files.sshWrapper, 0o700),
    fs.writeFile(builtinPaths(dir, '').scpWrapper, files.scpWrapper, 0o700),
  ]);
}

export interface NodeSshdInput {
  dir: JobDir;
  node: string;
  port: number;
  user: string;
  uid: number;
  /** Variables every ssh session in the containers gets (the image's PATH, --envlist values). */
  sessionEnv: Record<string, string>;
  ssh: SshKind;
}

/**
 * Every node's own part: its ssh server's host key and config (the built-in server takes its options
 * on the command line, and its host key in Dropbear's format). Returns the host key as `type base64`.
 */
export async function createNodeSshd(input: NodeSshdInput, fs: FileSystem): Promise<string> {
  const dropbearKey = input.ssh === 'builtin' ? builtinPaths(input.dir, input.node).hostKey : undefined;
  const [hostPub] = await Promise.all([
    writeKeyPair(nodeHostKeyPath(input.dir, input.node), 'srun-docker-host', fs, dropbearKey),
    ...(input.ssh === 'image' ? [fs.writeFile(nodeSshdConfigPath(input.dir, input.node), await renderSshdConfig(input), 0o600)] : []),
  ]);
  return keyOnly(hostPub);
}

/** The job's known_hosts, once every node has said which host key it presents (the built-in client's too, in its own form). */
export async function writeKnownHosts(dir: JobDir, port: number, hostKeys: ReadonlyMap<string, string>, fs: FileSystem, ssh: SshKind = 'image'): Promise<void> {
  await Promise.all([
    fs.writeFile(dir.knownHosts, renderKnownHosts(hostKeys, port), 0o600),
    ...(ssh === 'builtin' ? [fs.writeFile(builtinPaths(dir, '').clientKnownHosts, renderDropbearKnownHosts(hostKeys), 0o600)] : []),
  ]);
}

export interface ClientFiles {
  authorizedKeys: string;
  sshConfig: string;
  sshWrapper: string;
  scpWrapper: string;
}

/** Pure: the coordinator's files, from the client's public key. */
export async function renderClientFiles(input: ClientMaterialInput, clientPub: string): Promise<ClientFiles> {
  const { dir, nodes, port, user } = input;
  const builtin = input.ssh === 'builtin';
  const [ssh, wrapper, scp] = await Promise.all([
    loadTemplate('ssh_config'),
    loadTemplate(builtin ? 'ssh_wrapper_builtin' : 'ssh_wrapper'),
    loadTemplate(builtin ? 'scp_wrapper_builtin' : 'scp_wrapper'),
  ]);
  return {
    // the key may only start sessions: no forwarding of agents, ports or X11 to the other nodes
    authorizedKeys: `restrict,pty ${clientPub.trim()}\n`,
    sshConfig: renderTemplate(ssh, {
      HOSTS: nodes.join(' '),
      PORT: String(port),
      USER: user,
      IDENTITY: dir.clientKey,
      KNOWN_HOSTS: dir.knownHosts,
    }),
    sshWrapper: builtin
      ? renderTemplate(wrapper, { PORT: String(port), CLIENT_HOME: quote([builtinPaths(dir, '').clientHome]), DROPBEAR: BUILTIN_BINARY })
      : renderTemplate(wrapper, { SSH_CONFIG: dir.sshConfig }),
    scpWrapper: builtin ? renderTemplate(scp, { DROPBEAR: BUILTIN_BINARY }) : renderTemplate(scp, { SSH_CONFIG: dir.sshConfig }),
  };
}

/** Pure: Dropbear's client matches the host name as typed, without the port. */
export function renderDropbearKnownHosts(hostKeys: ReadonlyMap<string, string>): string {
  return [...hostKeys].map(([node, key]) => `${node} ${keyOnly(key)}\n`).join('');
}

/** Pure: one node's sshd_config. */
export async function renderSshdConfig(input: NodeSshdInput): Promise<string> {
  return renderTemplate(await loadTemplate('sshd_config'), {
    PORT: String(input.port),
    HOST_KEY: nodeHostKeyPath(input.dir, input.node),
    AUTHORIZED_KEYS: input.dir.authorizedKeys,
    USER: input.user,
    PERMIT_ROOT_LOGIN: permitRootLogin(input.uid),
    SET_ENV: setEnvLine(input.sessionEnv),
  });
}

/** Pure: each node's own host key pinned to `[node]:port`, in the order given. */
export function renderKnownHosts(hostKeys: ReadonlyMap<string, string>, port: number): string {
  return [...hostKeys].map(([node, key]) => `${knownHostName(node, port)} ${keyOnly(key)}\n`).join('');
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
  const pairs = Object.entries(env).filter(([name, value]) => isShellName(name) && /^[^\s"'\\]*$/.test(value));
  return pairs.length === 0 ? '' : `SetEnv ${pairs.map(([n, v]) => `${n}=${v}`).join(' ')}`;
}
