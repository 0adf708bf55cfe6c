import { readFile } from 'node:fs/promises';
import { waitForSshBanner } from './banner.js';
import { waitUntil, type WaitUntil } from '../platform/wait-until.js';

/** Where the kernel's tables of a network namespace's TCP sockets are: this process's (the node's: containers use the host network). */
export const NODE_NET_DIR = '/proc/net';
const LISTEN = '0A';
/**
 * How long a wait reads the IPv4 table alone. Each read walks the kernel's whole TCP hash table, which
 * is sized by the host's memory, not by its sockets: ~3.5 ms of CPU a read on a 24 GiB host, more on
 * a GPU node. OpenSSH and Dropbear bind 0.0.0.0 beside ::, so the IPv4 table shows them as soon as the
 * other would; a server configured for IPv6 alone (--sshconfigdir) is still seen after this.
 */
const IPV4_ONLY_MS = 100;

/** Pure: whether a /proc/net/tcp{,6} table has a socket listening on `port`, on any local address. */
export function listensIn(table: string, port: number): boolean {
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0');
  return table.split('\n').some((line) => {
    const [, local, , state] = line.trim().split(/\s+/);
    return state === LISTEN && local?.endsWith(`:${hexPort}`) === true;
  });
}

/** Whether something listens on TCP `port` here; undefined where the tables cannot be read (not Linux). */
export async function tcpListening(
  port: number,
  read: (path: string) => Promise<string> = (path) => readFile(path, 'utf8'),
  paths: readonly string[] = tcpTables(NODE_NET_DIR),
): Promise<boolean | undefined> {
  const tables = await Promise.all(paths.map((path) => read(path).catch(() => undefined)));
  if (tables.every((table) => table === undefined)) return undefined;
  return tables.some((table) => table !== undefined && listensIn(table, port));
}

/** The IPv4 and IPv6 tables of the namespace whose tables are in `netDir`. */
function tcpTables(netDir: string): string[] {
  return [`${netDir}/tcp`, `${netDir}/tcp6`];
}

export interface SshdWait extends WaitUntil {
  port: number;
  /** The network namespace sshd listens in, by its tables' directory: the node's (NODE_NET_DIR) unless said. */
  netDir?: string;
}

/**
 * Until this node's sshd listens on `port`: a login that connects then waits in its backlog until
 * sshd accepts it. Reading sshd's greeting instead made sshd fork and re-execute itself for that
 * connection, a whole sshd start spent on every node of every job for nothing.
 * Where the kernel's socket tables cannot be read, the greeting it is.
 */
export async function waitForSshdListening(input: SshdWait, read?: (path: string) => Promise<string>): Promise<boolean> {
  const started = input.now();
  const both = tcpTables(input.netDir ?? NODE_NET_DIR);
  const ipv4 = both.slice(0, 1);
  const first = (await tcpListening(input.port, read, ipv4)) ?? (await tcpListening(input.port, read, both));
  if (first === undefined) return waitForSshBanner({ ...input, host: '127.0.0.1' });
  if (first) return true;
  return waitUntil(input, async () => (await tcpListening(input.port, read, input.now() - started < IPV4_ONLY_MS ? ipv4 : both)) === true);
}
