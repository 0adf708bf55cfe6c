import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ssh2 from 'ssh2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nodeFileSystem } from '../../../src/platform/fs.js';
import { jobDirFor, nodeHostKeyPath, type JobDir } from '../../../src/plan/jobdir.js';
import { inProcessLoginProbe } from '../../../src/ssh/login-probe.js';
import { createClientMaterial, createNodeSshd } from '../../../src/ssh/material.js';

/** A real SSH server on loopback (ssh2) standing in for a container's sshd. */
interface FakeSshd {
  close(): Promise<void>;
}

/** The auth requests the fake server received, in order: method, and whether it carried a signature. */
let authRequests: string[] = [];

function startSshd(port: number, hostKey: Buffer, allowedPub: Buffer, exitCode = 0): Promise<FakeSshd> {
  const allowed = ssh2.utils.parseKey(allowedPub);
  if (allowed instanceof Error) throw allowed;
  const server = new ssh2.Server({ hostKeys: [hostKey] }, (client) => {
    client.on('error', () => undefined);
    client.on('authentication', (ctx) => {
      authRequests.push(ctx.method === 'publickey' ? `publickey${ctx.signature ? ' signed' : ''}` : ctx.method);
      if (ctx.method === 'publickey' && ctx.key.data.equals(allowed.getPublicSSH())) {
        if (!ctx.signature) return ctx.accept();
        if (ctx.blob !== undefined && allowed.verify(ctx.blob, ctx.signature, ctx.hashAlgo) === true) return ctx.accept();
      }
      ctx.reject(['publickey']);
    });
    client.on('ready', () =>
      client.on('session', (accept) => {
        accept().on('exec', (acceptExec) => {
          const channel = acceptExec();
          channel.exit(exitCode);
          channel.end();
        });
      }),
    );
  });
  return new Promise((resolve) => {
    server.listen(port, '127.0.0.1', () => resolve({ close: () => new Promise((r) => server.close(() => r())) }));
  });
}

async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
  const { port } = probe.address() as AddressInfo;
  await new Promise<void>((r) => probe.close(() => r()));
  return port;
}

let home: string;
let port: number;
interface Material {
  dir: JobDir;
  /** The host key the node 127.0.0.1 reported, `type base64`. */
  hostKey: string;
}
let job: Material;
let other: Material;

/** A job's client material, and the host key of its one node 127.0.0.1, as the nodes make them. */
async function material(name: string): Promise<Material> {
  const dir = jobDirFor(home, name, '0');
  await nodeFileSystem.mkdir(dir.nodesDir, 0o700);
  await createClientMaterial({ dir, port, ssh: 'image' }, nodeFileSystem);
  const hostKey = await createNodeSshd({ dir, node: '127.0.0.1', port, user: 'alice', uid: 1000, sessionEnv: {}, ssh: 'image' }, nodeFileSystem);
  return { dir, hostKey };
}

beforeAll(async () => {
  home = mkdtempSync(join(tmpdir(), 'login-probe-'));
  port = await freePort();
  job = await material('job');
  other = await material('other'); // another job step: other keys, same node and port
});
afterAll(() => rmSync(home, { recursive: true, force: true }));

/** Runs the job's probe against a server with the given host key and accepted client key. */
async function probeAgainst(hostKeyOf: Material, acceptsClientOf: Material, exitCode = 0): Promise<void> {
  const sshd = await startSshd(
    port,
    readFileSync(nodeHostKeyPath(hostKeyOf.dir, '127.0.0.1')),
    readFileSync(`${acceptsClientOf.dir.clientKey}.pub`),
    exitCode,
  );
  try {
    const probe = await inProcessLoginProbe({ dir: job.dir, user: 'alice', timeoutMs: 5_000 }, nodeFileSystem);
    await probe('n2', { address: '127.0.0.1', port, hostKey: job.hostKey });
  } finally {
    await sshd.close();
  }
}

describe('in-process ssh login probe against a real SSH server on loopback', () => {
  it('logs in when the server has the pinned host key and takes the job key', async () => {
    await expect(probeAgainst(job, job)).resolves.toBeUndefined();
  });

  it('offers the job key at once: no "none" attempt first (a round trip sshd always refuses)', async () => {
    authRequests = [];
    await probeAgainst(job, job);
    expect(authRequests).toEqual(['publickey', 'publickey signed']);
  });

  it('refuses a server whose host key is not the one the node reported (strict host-key checking)', async () => {
    await expect(probeAgainst(other, job)).rejects.toThrow(/ssh login failed: .*(host|verif)/i);
  });

  it('fails when the server does not take the job key (another job step, another user)', async () => {
    await expect(probeAgainst(job, other)).rejects.toThrow(/ssh login failed: All configured authentication methods failed/);
  });

  it('fails when `true` does not exit 0', async () => {
    await expect(probeAgainst(job, job, 1)).rejects.toThrow('ssh login failed: true exited 1');
  });

  it('names a node where nothing listens yet, with the address and port it reported', async () => {
    const probe = await inProcessLoginProbe({ dir: job.dir, user: 'alice', timeoutMs: 5_000 }, nodeFileSystem);
    await expect(probe('n2', { address: '127.0.0.1', port, hostKey: job.hostKey })).rejects.toThrow(`nothing listening on n2 (127.0.0.1:${port}; sshd not up)`);
  });
});
