import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { nodeFileSystem } from '../../src/fs.js';
import { jobDirFor, nodeHostKeyPath, nodeSshdConfigPath, type JobDir } from '../../src/jobdir.js';
import {
  createClientMaterial,
  createNodeSshd,
  knownHostName,
  permitRootLogin,
  renderClientFiles,
  renderKnownHosts,
  renderSshdConfig,
  setEnvLine,
  writeKnownHosts,
  type ClientMaterialInput,
  type NodeSshdInput,
} from '../../src/ssh/material.js';

const DIR = jobDirFor('/home/alice', '77', '0');
const CLIENT_PUB = 'ssh-ed25519 AAAACLIENTKEY srun-docker-client\n';

function input(overrides: Partial<ClientMaterialInput> = {}): ClientMaterialInput {
  return { dir: DIR, nodes: ['n1', 'n2', 'n3'], port: 12001, user: 'alice', ssh: 'image', ...overrides };
}

function sshdInput(overrides: Partial<NodeSshdInput> = {}): NodeSshdInput {
  return { dir: DIR, node: 'n2', port: 12001, user: 'alice', uid: 1001, sessionEnv: {}, ssh: 'image', ...overrides };
}

const render = (o: Partial<ClientMaterialInput> = {}) => renderClientFiles(input(o), CLIENT_PUB);
const lines = (text: string) => text.split('\n').map((l) => l.trim());

describe('knownHostName', () => {
  it.each<[string, number, string]>([
    ['n1', 12001, '[n1]:12001'],
    ['dgx01.cluster', 2222, '[dgx01.cluster]:2222'],
    ['n1', 22, 'n1'],
  ])('%s port %d → %s', (node, port, name) => {
    expect(knownHostName(node, port)).toBe(name);
  });
});

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

  it("known_hosts pins each node's own host key to [node]:port, comments dropped", () => {
    const keys = new Map([
      ['n1', 'ssh-ed25519 AAAAKEY1'],
      ['n2', 'ssh-ed25519 AAAAKEY2 srun-docker-host'],
    ]);
    expect(renderKnownHosts(keys, 12001)).toBe('[n1]:12001 ssh-ed25519 AAAAKEY1\n[n2]:12001 ssh-ed25519 AAAAKEY2\n');
  });

  it('known_hosts uses plain names on port 22', () => {
    expect(renderKnownHosts(new Map([['a', 'ssh-ed25519 AAAAKEY1']]), 22)).toBe('a ssh-ed25519 AAAAKEY1\n');
  });

  it('ssh_config: strict host keys, only the job key, every node', async () => {
    const l = lines((await render()).sshConfig);
    expect(l).toEqual(
      expect.arrayContaining([
        'Host n1 n2 n3',
        'Port 12001',
        'User alice',
        `IdentityFile ${DIR.clientKey}`,
        'IdentitiesOnly yes',
        `UserKnownHostsFile ${DIR.knownHosts}`,
        'StrictHostKeyChecking yes',
      ]),
    );
    expect(l).not.toContain('StrictHostKeyChecking no');
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
    for (const file of [dir.clientKey, `${dir.clientKey}.pub`, dir.authorizedKeys, dir.sshConfig, hostKey, `${hostKey}.pub`, nodeSshdConfigPath(dir, 'n2')]) {
      expect({ file, mode: await mode(file) }).toEqual({ file, mode: 0o600 });
    }
    expect(await mode(dir.sshWrapper)).toBe(0o700);
  });

  it('authorizes the generated client key; each node returns its own host key, which known_hosts pins', async () => {
    await createClientMaterial(input({ dir, nodes: ['n1', 'n2'] }), nodeFileSystem);
    const keys = new Map<string, string>();
    for (const node of ['n1', 'n2']) keys.set(node, await createNodeSshd(sshdInput({ dir, node }), nodeFileSystem));
    const [type, blob] = (await read(`${nodeHostKeyPath(dir, 'n1')}.pub`)).trim().split(/\s+/);
    expect(type).toBe('ssh-ed25519');
    expect(keys.get('n1')).toBe(`${type} ${blob}`);
    expect(keys.get('n2')).not.toBe(keys.get('n1'));
    await writeKnownHosts(dir, 12001, keys, nodeFileSystem);
    expect(await read(dir.knownHosts)).toBe(`[n1]:12001 ${keys.get('n1')}\n[n2]:12001 ${keys.get('n2')}\n`);
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
