import type { FileSystem } from '../fs.js';
import { isShellName } from '../job-env.js';
import { nodeHostKeyPath, nodeSshdConfigPath, type JobDir } from '../jobdir.js';
import { keyOnly, writeKeyPair } from './keys.js';
import { loadTemplate, renderTemplate } from './template.js';

export interface ClientMaterialInput {
  dir: JobDir;
  nodes: readonly string[];
  port: number;
  user: string;
}

/**
 * Zero set-up ssh for one job step, the coordinator's part: the client key, authorized_keys (read by
 * every node's sshd at each login, so it may appear after the sshds start), ssh_config and an ssh
 * wrapper. Everything lives in the 0700 job directory and goes with it.
 */
export async function createClientMaterial(input: ClientMaterialInput, fs: FileSystem): Promise<void> {
  const { dir } = input;
  await fs.mkdir(dir.binDir, 0o700);
  const clientPub = await writeKeyPair(dir.clientKey, 'srun-docker-client', fs);
  const files = await renderClientFiles(input, clientPub);
  await Promise.all([
    fs.writeFile(dir.authorizedKeys, files.authorizedKeys, 0o600),
    fs.writeFile(dir.sshConfig, files.sshConfig, 0o600),
    fs.writeFile(dir.sshWrapper, files.sshWrapper, 0o700),
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
}

/** Every node's own part: its sshd's host key and config. Returns the host key as `type base64`. */
export async function createNodeSshd(input: NodeSshdInput, fs: FileSystem): Promise<string> {
  const hostPub = await writeKeyPair(nodeHostKeyPath(input.dir, input.node), 'srun-docker-host', fs);
  await fs.writeFile(nodeSshdConfigPath(input.dir, input.node), await renderSshdConfig(input), 0o600);
  return keyOnly(hostPub);
}

/** The job's known_hosts, once every node has said which host key it presents. */
export async function writeKnownHosts(dir: JobDir, port: number, hostKeys: ReadonlyMap<string, string>, fs: FileSystem): Promise<void> {
  await fs.writeFile(dir.knownHosts, renderKnownHosts(hostKeys, port), 0o600);
}

export interface ClientFiles {
  authorizedKeys: string;
  sshConfig: string;
  sshWrapper: string;
}

/** Pure: the coordinator's files, from the client's public key. */
export async function renderClientFiles(input: ClientMaterialInput, clientPub: string): Promise<ClientFiles> {
  const { dir, nodes, port, user } = input;
  const [ssh, wrapper] = await Promise.all([loadTemplate('ssh_config'), loadTemplate('ssh_wrapper')]);
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
    sshWrapper: renderTemplate(wrapper, { SSH_CONFIG: dir.sshConfig }),
  };
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
