import { dirname } from 'node:path';
import { quote } from 'shell-quote';
import type { FileSystem } from '../platform/fs.js';
import { isShellName } from '../plan/job-env.js';
import { nodeHostKeyPath, nodeSshdConfigPath, type JobDir } from '../plan/jobdir.js';
import { BUILTIN_BINARY } from './builtin.js';
import { keyOnly, writeKeyPair } from './keys.js';
import { builtinPaths } from './paths.js';
import type { SshKind } from './server.js';
import { loadTemplate, renderTemplate } from './template.js';

export interface ClientMaterialInput {
  dir: JobDir;
  /** Which ssh the containers run: the wrappers on the job's PATH are that one's client. */
  ssh: SshKind;
  /** The coordinator's sshd port: the built-in client's default for a host it has no entry of. */
  port: number;
}

/**
 * Zero set-up ssh for one job step, the coordinator's part: the client key, authorized_keys (read by
 * every node's sshd at each login, so it may appear after the sshds start) and an ssh wrapper. The
 * ssh_config and known_hosts follow once every node has said where it is (writeHostFiles).
 * Everything lives in the 0700 job directory and goes with it.
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
    fs.writeFile(dir.sshWrapper, files.sshWrapper, 0o700),
    fs.writeFile(builtinPaths(dir, '').scpWrapper, files.scpWrapper, 0o700),
  ]);
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

/**
 * The job's ssh_config and known_hosts, once every node has said where its sshd is and which host key
 * it presents: each SLURM name maps to its address and port (a NodeName need not resolve in the
 * container), its key pinned under the name itself (HostKeyAlias). The built-in client reads none of
 * that: its wrapper looks each name up in a table of its own, and its known_hosts pins the addresses.
 */
export async function writeHostFiles(dir: JobDir, user: string, endpoints: readonly NodeEndpoint[], fs: FileSystem, ssh: SshKind = 'image'): Promise<void> {
  const sshConfig = await renderSshConfig(dir, user, endpoints);
  await Promise.all([
    fs.writeFile(dir.sshConfig, sshConfig, 0o600),
    fs.writeFile(dir.knownHosts, renderKnownHosts(endpoints), 0o600),
    ...(ssh === 'builtin'
      ? [fs.writeFile(builtinPaths(dir, '').clientKnownHosts, renderDropbearKnownHosts(endpoints), 0o600), fs.writeFile(dir.hostsTable, renderHostsTable(endpoints), 0o600)]
      : []),
  ]);
}

export interface ClientFiles {
  authorizedKeys: string;
  sshWrapper: string;
  scpWrapper: string;
}

/** Pure: the coordinator's files, from the client's public key. */
export async function renderClientFiles(input: ClientMaterialInput, clientPub: string): Promise<ClientFiles> {
  const { dir, port } = input;
  const builtin = input.ssh === 'builtin';
  const [wrapper, scp] = await Promise.all([
    loadTemplate(builtin ? 'ssh_wrapper_builtin' : 'ssh_wrapper'),
    loadTemplate(builtin ? 'scp_wrapper_builtin' : 'scp_wrapper'),
  ]);
  return {
    // the key may only start sessions: no forwarding of agents, ports or X11 to the other nodes
    authorizedKeys: `restrict,pty ${clientPub.trim()}\n`,
    sshWrapper: builtin
      ? renderTemplate(wrapper, { PORT: String(port), HOSTS_TABLE: quote([dir.hostsTable]), CLIENT_HOME: quote([builtinPaths(dir, '').clientHome]), DROPBEAR: BUILTIN_BINARY })
      : renderTemplate(wrapper, { SSH_CONFIG: dir.sshConfig }),
    scpWrapper: builtin ? renderTemplate(scp, { DROPBEAR: BUILTIN_BINARY }) : renderTemplate(scp, { SSH_CONFIG: dir.sshConfig }),
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

/** Pure: Dropbear's client matches the host as it connects to it, without the port: each node's key under its address. */
export function renderDropbearKnownHosts(endpoints: readonly NodeEndpoint[]): string {
  return endpoints.flatMap((e) => (e.hostKey === undefined ? [] : [`${e.address} ${keyOnly(e.hostKey)}\n`])).join('');
}

/** Pure: the built-in ssh wrapper's table, `name address port` a line (the user's `-p` still wins). */
export function renderHostsTable(endpoints: readonly NodeEndpoint[]): string {
  return endpoints.map((e) => `${e.node} ${e.address} ${e.port}\n`).join('');
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
