import type { FileSystem } from '../fs.js';
import { isShellName } from '../job-env.js';
import { nodeHostKeyPath, nodeSshdConfigPath, type JobDir } from '../jobdir.js';
import { keyOnly, writeKeyPair } from './keys.js';
import { loadTemplate, renderTemplate } from './template.js';

export interface ClientMaterialInput {
  dir: JobDir;
}

/**
 * Zero set-up ssh for one job step, the coordinator's part: the client key, authorized_keys (read by
 * every node's sshd at each login, so it may appear after the sshds start) and an ssh wrapper. The
 * ssh_config and known_hosts follow once every node has said where it is (writeHostFiles).
 * Everything lives in the 0700 job directory and goes with it.
 */
export async function createClientMaterial(input: ClientMaterialInput, fs: FileSystem): Promise<void> {
  const { dir } = input;
  await fs.mkdir(dir.binDir, 0o700);
  const clientPub = await writeKeyPair(dir.clientKey, 'srun-docker-client', fs);
  const files = await renderClientFiles(input, clientPub);
  await Promise.all([fs.writeFile(dir.authorizedKeys, files.authorizedKeys, 0o600), fs.writeFile(dir.sshWrapper, files.sshWrapper, 0o700)]);
}

/** Where one node's sshd is reached: its address on the cluster network, its port, the host key it presents. */
export interface NodeEndpoint {
  node: string;
  address: string;
  port: number;
  hostKey: string | undefined;
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

/**
 * The job's ssh_config and known_hosts, once every node has said where its sshd is and which host key
 * it presents: each SLURM name maps to its address and port (a NodeName need not resolve in the
 * container), its key pinned under the name itself (HostKeyAlias).
 */
export async function writeHostFiles(dir: JobDir, user: string, endpoints: readonly NodeEndpoint[], fs: FileSystem): Promise<void> {
  const sshConfig = await renderSshConfig(dir, user, endpoints);
  await Promise.all([fs.writeFile(dir.sshConfig, sshConfig, 0o600), fs.writeFile(dir.knownHosts, renderKnownHosts(endpoints), 0o600)]);
}

export interface ClientFiles {
  authorizedKeys: string;
  sshWrapper: string;
}

/** Pure: the coordinator's files, from the client's public key. */
export async function renderClientFiles(input: ClientMaterialInput, clientPub: string): Promise<ClientFiles> {
  const wrapper = await loadTemplate('ssh_wrapper');
  return {
    // the key may only start sessions: no forwarding of agents, ports or X11 to the other nodes
    authorizedKeys: `restrict,pty ${clientPub.trim()}\n`,
    sshWrapper: renderTemplate(wrapper, { SSH_CONFIG: input.dir.sshConfig }),
  };
}

/** Pure: the client's ssh_config: one block per node (address, port, key alias), then what all share. */
export async function renderSshConfig(dir: JobDir, user: string, endpoints: readonly NodeEndpoint[]): Promise<string> {
  const blocks = endpoints.map((e) => `Host ${e.node}\n  HostName ${e.address}\n  Port ${e.port}\n  HostKeyAlias ${e.node}\n`).join('');
  return renderTemplate(await loadTemplate('ssh_config'), {
    NODE_BLOCKS: blocks.trimEnd(),
    HOSTS: endpoints.map((e) => e.node).join(' '),
    USER: user,
    IDENTITY: dir.clientKey,
    KNOWN_HOSTS: dir.knownHosts,
  });
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

/** Pure: each node's own host key pinned under its SLURM name (the ssh_config's HostKeyAlias), in the order given. */
export function renderKnownHosts(endpoints: readonly NodeEndpoint[]): string {
  return endpoints.flatMap((e) => (e.hostKey === undefined ? [] : [`${e.node} ${keyOnly(e.hostKey)}\n`])).join('');
}

/** The job runs as root only when the caller is root; then root must be able to log in, by key. */
export function permitRootLogin(uid: number): string {
  return uid === 0 ? 'prohibit-password' : 'no';
}

/** sshd_config's SetEnv (OpenSSH >= 7.8); values with spaces or quotes cannot be written safely and are left out. */
export function setEnvLine(env: Record<string, string>): string {
  const pairs = Object.entries(env).filter(([name, value]) => isShellName(name) && /^[^\s"'\\]*$/.test(value));
  return pairs.length === 0 ? '' : `SetEnv ${pairs.map(([n, v]) => `${n}=${v}`).join(' ')}`;
}
