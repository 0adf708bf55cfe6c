import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { createServer, type Server } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JOB_IMAGE, runCli, testUser, writeJobScript } from '../support/cli.js';
import { containersOf, removeAllOf } from '../support/docker.js';

/**
 * DOCKER_HOST=tcp://… with DOCKER_TLS_VERIFY/DOCKER_CERT_PATH is TLS, as with the docker CLI: a TLS
 * endpoint on 127.0.0.1 (this test's own, with certificates made by openssl here) that demands a
 * client certificate and forwards to the local daemon's socket.
 */

const user = testUser();
let dir = '';
let work = '';
let server: Server | undefined;
let port = 0;
/** Connections the endpoint took whose TLS handshake (client certificate included) succeeded. */
let secured = 0;
const sockets = new Set<Socket>();

function openssl(...args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
}

/** A CA, a server certificate for 127.0.0.1 and a client certificate, all signed by that CA, in `name/`. */
function makeCa(name: string): void {
  mkdirSync(join(dir, name));
  const at = (file: string): string => join(name, file);
  openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', `/CN=${name} test CA`, '-keyout', at('ca-key.pem'), '-out', at('ca.pem'));
  for (const [who, ext] of [
    ['server', 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n'],
    ['client', 'extendedKeyUsage=clientAuth\n'],
  ] as const) {
    writeFileSync(join(dir, at(`${who}.ext`)), ext);
    openssl('req', '-newkey', 'rsa:2048', '-nodes', '-subj', `/CN=${who}`, '-keyout', at(`${who}-key.pem`), '-out', at(`${who}.csr`));
    openssl('x509', '-req', '-in', at(`${who}.csr`), '-CA', at('ca.pem'), '-CAkey', at('ca-key.pem'), '-CAcreateserial', '-days', '1', '-extfile', at(`${who}.ext`), '-out', at(`${who}.pem`));
  }
}

/** A DOCKER_CERT_PATH for the test user: this CA's ca.pem, and the good client's cert.pem/key.pem. */
function certPath(name: string, caOf: string): string {
  const path = join(dir, `certs-${name}`);
  mkdirSync(path);
  writeFileSync(join(path, 'ca.pem'), readFileSync(join(dir, caOf, 'ca.pem')));
  writeFileSync(join(path, 'cert.pem'), readFileSync(join(dir, 'good', 'client.pem')));
  writeFileSync(join(path, 'key.pem'), readFileSync(join(dir, 'good', 'client-key.pem')), { mode: 0o600 });
  for (const f of ['', 'ca.pem', 'cert.pem', 'key.pem']) chownSync(join(path, f), user.uid, user.gid);
  return path;
}

beforeAll(async () => {
  await removeAllOf(user.name);
  dir = mkdtempSync('/tmp/srun-docker-tls-');
  chmodSync(dir, 0o711); // the test user reaches its own certs-* directories, never the CAs' keys
  makeCa('good');
  makeCa('other');
  const pem = (f: string): Buffer => readFileSync(join(dir, 'good', f));
  server = createServer({ key: pem('server-key.pem'), cert: pem('server.pem'), ca: pem('ca.pem'), requestCert: true, rejectUnauthorized: true }, (tlsSocket) => {
    secured += 1;
    const daemon = connect('/var/run/docker.sock');
    sockets.add(tlsSocket).add(daemon);
    tlsSocket.pipe(daemon).pipe(tlsSocket);
    const close = (): void => {
      tlsSocket.destroy();
      daemon.destroy();
    };
    tlsSocket.on('error', close).on('close', close);
    daemon.on('error', close).on('close', close);
  });
  server.on('tlsClientError', () => undefined); // the wrong-CA case: the client hangs up in the handshake
  await new Promise<void>((resolve) => server?.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  port = typeof address === 'object' && address !== null ? address.port : 0;
  work = mkdtempSync(join(user.home, 'tls-'));
  chownSync(work, user.uid, user.gid);
});

afterAll(async () => {
  await removeAllOf(user.name);
  for (const s of sockets) s.destroy();
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  rmSync(dir, { recursive: true, force: true });
  rmSync(work, { recursive: true, force: true });
});

describe('a remote daemon over TLS (DOCKER_HOST=tcp://, DOCKER_TLS_VERIFY, DOCKER_CERT_PATH)', () => {
  it('a one-node job runs through the TLS endpoint, with no plain-HTTP warning', async () => {
    const job = writeJobScript(work, 'tls.sh', 'echo "ran over tls as $(id -un)"');
    const before = secured;
    const result = await runCli(['--container=' + JOB_IMAGE, `--script=${job}`], {
      cwd: work,
      env: { DOCKER_HOST: `tcp://127.0.0.1:${port}`, DOCKER_TLS_VERIFY: '1', DOCKER_CERT_PATH: certPath('right', 'good') },
    });
    expect(result.stderr).not.toMatch(/plain HTTP/);
    expect(result.exitCode, result.all).toBe(0);
    expect(result.stdout).toContain(`ran over tls as ${user.name}`);
    // every call went through the endpoint: ping, image, create, attach, start, removal
    expect(secured - before).toBeGreaterThanOrEqual(3);
    expect(await containersOf(user.name)).toEqual([]);
  });

  it('a daemon whose certificate is not signed by DOCKER_CERT_PATH/ca.pem is refused, not talked to', async () => {
    const job = writeJobScript(work, 'never.sh', 'echo "must not run"');
    const before = secured;
    const result = await runCli(['--container=' + JOB_IMAGE, `--script=${job}`], {
      cwd: work,
      env: { DOCKER_HOST: `tcp://127.0.0.1:${port}`, DOCKER_TLS_VERIFY: '1', DOCKER_CERT_PATH: certPath('wrong', 'other') },
    });
    console.log(`wrong CA: exit ${result.exitCode}: ${result.stderr.trim()}`);
    expect(result.exitCode).toBe(1);
    expect(result.stdout).not.toContain('must not run');
    expect(result.stderr.trim().split('\n').pop()).toMatch(
      new RegExp(`error: Docker daemon not answering at tcp://127.0.0.1:${port} \\(TLS\\) \\(.*(certificate|self.signed).*\\) — the TLS handshake failed: check that DOCKER_CERT_PATH's ca.pem`),
    );
    expect(secured - before).toBe(0);
  });

  it('the same endpoint without TLS settings: one warning that it is plain HTTP, then a clear failure', async () => {
    const job = writeJobScript(work, 'plain.sh', 'echo "must not run"');
    const result = await runCli(['--container=' + JOB_IMAGE, `--script=${job}`], { cwd: work, env: { DOCKER_HOST: `tcp://127.0.0.1:${port}` } });
    expect(result.exitCode).toBe(1);
    expect(result.stderr.match(/is plain HTTP, without TLS/g)).toHaveLength(1);
    expect(result.stderr).toMatch(/error: Docker daemon not answering at tcp:\/\/127.0.0.1/);
  });
});
