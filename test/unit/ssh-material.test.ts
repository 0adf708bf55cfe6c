import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { nodeFileSystem } from '../../src/fs.js';
import { jobDirFor, type JobDir } from '../../src/jobdir.js';
import { execaRunner } from '../../src/runner.js';
import {
  createSshMaterial,
  knownHostName,
  permitRootLogin,
  renderSshFiles,
  setEnvLine,
  type SshMaterialInput,
} from '../../src/ssh/material.js';

const DIR = jobDirFor('/home/alice', '77', '0');
const CLIENT_PUB = 'ssh-ed25519 AAAACLIENTKEY srun-docker-client\n';
const HOST_PUB = 'ssh-ed25519 AAAAHOSTKEY srun-docker-host\n';

function input(overrides: Partial<SshMaterialInput> = {}): SshMaterialInput {
  return { dir: DIR, nodes: ['n1', 'n2', 'n3'], port: 12001, user: 'alice', uid: 1001, sessionEnv: {}, ...overrides };
}

const render = (o: Partial<SshMaterialInput> = {}) => renderSshFiles(input(o), CLIENT_PUB, HOST_PUB);
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

describe('renderSshFiles', () => {
  it('authorized_keys holds the client key, restricted', async () => {
    const { authorizedKeys } = await render();
    expect(authorizedKeys).toBe('restrict,pty ssh-ed25519 AAAACLIENTKEY srun-docker-client\n');
  });

  it('known_hosts pins the host key to [node]:port for every node', async () => {
    const { knownHosts } = await render();
    expect(knownHosts).toBe('[n1]:12001,[n2]:12001,[n3]:12001 ssh-ed25519 AAAAHOSTKEY\n');
  });

  it('known_hosts uses plain names on port 22', async () => {
    expect((await render({ nodes: ['a', 'b'], port: 22 })).knownHosts).toBe('a,b ssh-ed25519 AAAAHOSTKEY\n');
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

  it('sshd_config: port, host key, authorized keys, one user, keys only', async () => {
    const l = lines((await render({ sessionEnv: { PATH: '/usr/bin', BAD: 'a b' } })).sshdConfig);
    expect(l).toEqual(
      expect.arrayContaining([
        'Port 12001',
        `HostKey ${DIR.hostKey}`,
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
    const l = lines((await render({ uid, user: uid === 0 ? 'root' : 'alice' })).sshdConfig);
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

describe('createSshMaterial with ssh-keygen and the real file system', () => {
  let home: string;
  let dir: JobDir;

  beforeEach(async () => {
    home = await mkdtemp(join(tmpdir(), 'srun-docker-ssh-'));
    dir = jobDirFor(home, '77', '0');
  });
  afterEach(async () => {
    await rm(home, { recursive: true, force: true });
  });

  const mode = async (path: string) => (await stat(path)).mode & 0o777;

  it('writes every file with private modes', async () => {
    await createSshMaterial(input({ dir }), execaRunner, nodeFileSystem);
    expect(await mode(dir.binDir)).toBe(0o700);
    for (const file of [dir.clientKey, dir.hostKey, dir.authorizedKeys, dir.knownHosts, dir.sshConfig, dir.sshdConfig]) {
      expect({ file, mode: await mode(file) }).toEqual({ file, mode: 0o600 });
    }
    expect(await mode(dir.sshWrapper)).toBe(0o700);
  }, 30_000);

  it('pins the generated host key and authorizes the generated client key', async () => {
    await createSshMaterial(input({ dir, nodes: ['n1', 'n2'] }), execaRunner, nodeFileSystem);
    const read = async (p: string) => (await nodeFileSystem.readFile(p)) ?? '';
    const hostPub = (await read(`${dir.hostKey}.pub`)).trim().split(/\s+/);
    const clientPub = (await read(`${dir.clientKey}.pub`)).trim();
    expect(hostPub[0]).toBe('ssh-ed25519');
    expect(await read(dir.knownHosts)).toBe(`[n1]:12001,[n2]:12001 ${hostPub[0]} ${hostPub[1]}\n`);
    expect(await read(dir.authorizedKeys)).toBe(`restrict,pty ${clientPub}\n`);
  }, 30_000);

  it('replaces the keys of an earlier attempt instead of failing', async () => {
    await createSshMaterial(input({ dir }), execaRunner, nodeFileSystem);
    const first = await nodeFileSystem.readFile(`${dir.hostKey}.pub`);
    await createSshMaterial(input({ dir }), execaRunner, nodeFileSystem);
    expect(await nodeFileSystem.readFile(`${dir.hostKey}.pub`)).not.toBe(first);
  }, 30_000);
});
