import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { nodeFileSystem } from '../../../src/platform/fs.js';
import { jobDirFor, nodeHostKeyPath, nodeSshdConfigPath, type JobDir } from '../../../src/plan/jobdir.js';
import {
  createClientMaterial,
  createNodeSshd,
  permitRootLogin,
  renderClientFiles,
  renderKnownHosts,
  renderSshConfig,
  renderSshdConfig,
  setEnvLine,
  writeHostFiles,
  type ClientMaterialInput,
  type NodeEndpoint,
  type NodeSshdInput,
} from '../../../src/ssh/material.js';

const DIR = jobDirFor('/home/alice', '77', '0');
const CLIENT_PUB = 'ssh-ed25519 AAAACLIENTKEY srun-docker-client\n';

function input(overrides: Partial<ClientMaterialInput> = {}): ClientMaterialInput {
  return { dir: DIR, port: 12001, ssh: 'image', ...overrides };
}

function sshdInput(overrides: Partial<NodeSshdInput> = {}): NodeSshdInput {
  return { dir: DIR, node: 'n2', port: 12001, user: 'alice', uid: 1001, sessionEnv: {}, ssh: 'image', ...overrides };
}

const render = (o: Partial<ClientMaterialInput> = {}) => renderClientFiles(input(o), CLIENT_PUB);
const lines = (text: string) => text.split('\n').map((l) => l.trim());

const ENDPOINTS: NodeEndpoint[] = [
  { node: 'n1', address: '10.1.0.1', port: 12001, hostKey: 'ssh-ed25519 AAAAKEY1' },
  { node: 'n2', address: '10.1.0.2', port: 12007, hostKey: 'ssh-ed25519 AAAAKEY2 srun-docker-host' },
  { node: 'n3', address: '10.1.0.3', port: 12001, hostKey: 'ssh-ed25519 AAAAKEY3' },
];

describe('setEnvLine', () => {
  it.each<[string, Record<string, string>, string]>([
    ['nothing to set', {}, ''],
    ['simple values', { PATH: '/usr/bin:/bin', A: '1' }, 'SetEnv PATH=/usr/bin:/bin A=1'],
    ['empty value is safe', { E: '' }, 'SetEnv E='],
    ['a value with a space is dropped', { A: 'two words', B: 'ok' }, 'SetEnv B=ok'],
    ['quotes and backslashes are dropped', { Q: 'a"b', S: "it's", BS: 'a\\b', T: 'a\tb' }, ''],
    ['bad names are dropped', { '1A': 'x', 'A-B': 'y', _ok: 'z' }, 'SetEnv _ok=z'],
  ])('%s', (_name, env, line) => {
    expect(setEnvLine(env)).toBe(line);
  });
});

describe('renderClientFiles, renderSshdConfig, renderKnownHosts', () => {
  it('authorized_keys holds the client key, restricted', async () => {
    const { authorizedKeys } = await render();
    expect(authorizedKeys).toBe('restrict,pty ssh-ed25519 AAAACLIENTKEY srun-docker-client\n');
  });

  it("known_hosts pins each node's own host key under its SLURM name (the alias ssh looks it up by), comments dropped", () => {
    expect(renderKnownHosts(ENDPOINTS)).toBe('n1 ssh-ed25519 AAAAKEY1\nn2 ssh-ed25519 AAAAKEY2\nn3 ssh-ed25519 AAAAKEY3\n');
    expect(renderKnownHosts([{ node: 'a', address: '1.2.3.4', port: 22, hostKey: undefined }])).toBe('');
  });

  it('ssh_config: each node at its own address and port under its SLURM name, strict host keys, only the job key', async () => {
    const text = await renderSshConfig(DIR, 'alice', ENDPOINTS);
    expect(text).toContain('Host n2\n  HostName 10.1.0.2\n  Port 12007\n  HostKeyAlias n2\n');
    const l = lines(text);
    expect(l).toEqual(
      expect.arrayContaining([
        'Host n1 n2 n3',
        'User alice',
        `IdentityFile ${DIR.clientKey}`,
        'IdentitiesOnly yes',
        `UserKnownHostsFile ${DIR.knownHosts}`,
        'StrictHostKeyChecking yes',
      ]),
    );
    expect(l).not.toContain('StrictHostKeyChecking no');
    // a node's own block comes before the shared one: ssh takes the first value it finds
    expect(text.indexOf('HostName 10.1.0.3')).toBeLessThan(text.indexOf('Host n1 n2 n3'));
  });

  it("sshd_config: port, this node's own host key, the job's authorized keys, one user, keys only", async () => {
    const l = lines(await renderSshdConfig(sshdInput({ sessionEnv: { PATH: '/usr/bin', BAD: 'a b' } })));
    expect(l).toEqual(
      expect.arrayContaining([
        'Port 12001',
        `HostKey ${DIR.nodesDir}/n2.ssh_host_ed25519_key`,
        `AuthorizedKeysFile ${DIR.authorizedKeys}`,
        'AllowUsers alice',
        'UsePAM no',
        'PasswordAuthentication no',
        'SetEnv PATH=/usr/bin',
      ]),
    );
    expect(l.join('\n')).not.toContain('BAD');
  });

  it.each<[string, number, string]>([
    ['a normal user: no root login', 1001, 'PermitRootLogin no'],
    ['a root caller: root by key only', 0, 'PermitRootLogin prohibit-password'],
  ])('sshd_config, %s', async (_name, uid, line) => {
    const l = lines(await renderSshdConfig(sshdInput({ uid, user: uid === 0 ? 'root' : 'alice' })));
    expect(l).toContain(line);
    expect(l).not.toContain('PermitRootLogin yes');
    expect(permitRootLogin(uid)).toBe(line.split(' ')[1]);
  });

  it('the wrapper runs ssh with the job config', async () => {
    const { sshWrapper } = await render();
    expect(sshWrapper.startsWith('#!/bin/sh')).toBe(true);
    expect(sshWrapper).toContain(`ssh" -F "${DIR.sshConfig}" "$@"`);
  });
});

describe('the material on the real file system, keys made in-process', () => {
  let home: string;
  let dir: JobDir;

  beforeEach(async () => {
    home = await mkdtemp(join(tmpdir(), 'srun-docker-ssh-'));
    dir = jobDirFor(home, '77', '0');
    await nodeFileSystem.mkdir(dir.nodesDir, 0o700);
  });
  afterEach(async () => {
    await rm(home, { recursive: true, force: true });
  });

  const mode = async (path: string) => (await stat(path)).mode & 0o777;
  const read = async (p: string) => (await nodeFileSystem.readFile(p)) ?? '';

  it('writes every file with private modes', async () => {
    await createClientMaterial(input({ dir }), nodeFileSystem);
    await createNodeSshd(sshdInput({ dir }), nodeFileSystem);
    expect(await mode(dir.binDir)).toBe(0o700);
    const hostKey = nodeHostKeyPath(dir, 'n2');
    await writeHostFiles(dir, 'alice', ENDPOINTS, nodeFileSystem);
    for (const file of [dir.clientKey, `${dir.clientKey}.pub`, dir.authorizedKeys, dir.sshConfig, dir.knownHosts, hostKey, `${hostKey}.pub`, nodeSshdConfigPath(dir, 'n2')]) {
      expect({ file, mode: await mode(file) }).toEqual({ file, mode: 0o600 });
    }
    expect(await mode(dir.sshWrapper)).toBe(0o700);
  });

  it('authorizes the generated client key; each node returns its own host key, which known_hosts pins', async () => {
    await createClientMaterial(input({ dir }), nodeFileSystem);
    const keys = new Map<string, string>();
    for (const node of ['n1', 'n2']) keys.set(node, await createNodeSshd(sshdInput({ dir, node }), nodeFileSystem));
    const [type, blob] = (await read(`${nodeHostKeyPath(dir, 'n1')}.pub`)).trim().split(/\s+/);
    expect(type).toBe('ssh-ed25519');
    expect(keys.get('n1')).toBe(`${type} ${blob}`);
    expect(keys.get('n2')).not.toBe(keys.get('n1'));
    const endpoints = ['n1', 'n2'].map((node) => ({ node, address: '127.0.0.1', port: 12001, hostKey: keys.get(node) }));
    await writeHostFiles(dir, 'alice', endpoints, nodeFileSystem);
    expect(await read(dir.knownHosts)).toBe(`n1 ${keys.get('n1')}\nn2 ${keys.get('n2')}\n`);
    expect(await read(dir.authorizedKeys)).toBe(`restrict,pty ${(await read(`${dir.clientKey}.pub`)).trim()}\n`);
  });

  it('OpenSSH reads the keys as its own: ssh-keygen -y derives the same public key', async () => {
    await createClientMaterial(input({ dir }), nodeFileSystem);
    const hostKey = await createNodeSshd(sshdInput({ dir }), nodeFileSystem);
    for (const [path, expected] of [
      [nodeHostKeyPath(dir, 'n2'), hostKey],
      [dir.clientKey, (await read(`${dir.clientKey}.pub`)).trim().split(/\s+/).slice(0, 2).join(' ')],
    ] as const) {
      const derived = await execa('ssh-keygen', ['-y', '-f', path], { stdin: 'ignore', timeout: 20_000 });
      expect(derived.stdout.trim().split(/\s+/).slice(0, 2).join(' ')).toBe(expected);
    }
  });

  it('replaces the keys of an earlier attempt instead of failing', async () => {
    const first = await createNodeSshd(sshdInput({ dir }), nodeFileSystem);
    expect(await createNodeSshd(sshdInput({ dir }), nodeFileSystem)).not.toBe(first);
  });
});
