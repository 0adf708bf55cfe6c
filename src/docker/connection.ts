import type Docker from 'dockerode';
import { Agent } from 'node:https';
import { join } from 'node:path';
import { UsageError } from '../platform/errors.js';

/** How dockerode reaches the daemon, what to call it in messages, and a warning to print once. */
export interface DockerConnection {
  /** docker-modem hands `agent` to https.request (its typings leave it out). */
  options: Docker.DockerOptions & { agent?: Agent };
  where: string;
  warning?: string;
}

/**
 * Over the unix socket the Host header means nothing to the daemon; an IP literal there spares every
 * node Node's first check of the name against its IPv6 pattern (for TLS server names), a RegExp
 * compiled on first use, on the critical path of every node's first request.
 */
const SOCKET_HEADERS = { Host: '127.0.0.1' };
const DEFAULT_SOCKET = '/var/run/docker.sock';

/**
 * DOCKER_HOST as the docker CLI reads it: unset or `unix://PATH` a socket; `tcp://HOST[:PORT]` over
 * TLS when DOCKER_TLS_VERIFY is set (the daemon's certificate checked against ca.pem, this client's
 * cert.pem and key.pem, from DOCKER_CERT_PATH or ~/.docker), TLS without that check when only
 * DOCKER_TLS is set, and plain HTTP otherwise — never silently: that gets a warning, since anyone
 * who can reach the port can drive the daemon. Certificates that cannot be read are a usage error.
 */
export function dockerConnection(env: Record<string, string | undefined>, readFile: (path: string) => Buffer): DockerConnection {
  const host = env.DOCKER_HOST ?? '';
  if (host === '') return { options: { socketPath: DEFAULT_SOCKET, headers: SOCKET_HEADERS }, where: DEFAULT_SOCKET };
  if (host.startsWith('unix://')) return { options: { socketPath: host.slice('unix://'.length), headers: SOCKET_HEADERS }, where: host };
  if (!host.startsWith('tcp://')) {
    throw new UsageError(`DOCKER_HOST="${host}" is not unix://PATH or tcp://HOST[:PORT] — fix it, or unset it to use ${DEFAULT_SOCKET}`);
  }
  const url = new URL(host.replace(/^tcp:/, 'http:'));
  const verify = (env.DOCKER_TLS_VERIFY ?? '') !== '';
  const tls = verify || (env.DOCKER_TLS ?? '') !== '';
  const port = Number(url.port || (tls ? 2376 : 2375));
  const hostname = url.hostname.replace(/^\[(.*)\]$/, '$1');
  if (!tls) {
    return {
      options: { host: hostname, port, protocol: 'http' },
      where: host,
      warning:
        `DOCKER_HOST=${host} is plain HTTP, without TLS: whoever can reach that port can drive the daemon — ` +
        'set DOCKER_TLS_VERIFY=1 and DOCKER_CERT_PATH (ca.pem, cert.pem, key.pem) to use TLS',
    };
  }
  const dir = env.DOCKER_CERT_PATH || join(env.HOME ?? '', '.docker');
  const read = (name: string, required: boolean): Buffer | undefined => {
    try {
      return readFile(join(dir, name));
    } catch (error) {
      if (!required) return undefined;
      const code = (error as NodeJS.ErrnoException).code ?? String(error);
      throw new UsageError(
        `${verify ? 'DOCKER_TLS_VERIFY' : 'DOCKER_TLS'} is set but ${join(dir, name)} cannot be read (${code}) — ` +
          'point DOCKER_CERT_PATH at the directory with ca.pem, cert.pem and key.pem',
        { cause: error },
      );
    }
  };
  const ca = verify ? read('ca.pem', true) : undefined;
  const cert = read('cert.pem', verify);
  const key = read('key.pem', verify);
  const options: DockerConnection['options'] = { host: hostname, port, protocol: 'https', ca, cert, key };
  if (!verify) options.agent = new Agent({ rejectUnauthorized: false, cert, key });
  return {
    options,
    where: `${host} (TLS)`,
    ...(verify ? {} : { warning: `DOCKER_TLS is set without DOCKER_TLS_VERIFY: the daemon at ${host} is reached over TLS, but its certificate is not checked` }),
  };
}
