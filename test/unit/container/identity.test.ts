import { describe, expect, it } from 'vitest';
import type { FileSystem } from '../../../src/platform/fs.js';
import { LOCAL_FILES, lookUpIdentity, mergeGroup, mergePasswd, type Identity, type IdentityInput } from '../../../src/container/identity.js';
import type { CommandResult, CommandRunner } from '../../../src/platform/runner.js';

const IDENTITY: Identity = {
  user: 'alice',
  uid: 1001,
  gid: 1002,
  home: '/home/alice',
  shell: '/bin/bash',
  groups: [27],
  passwdLine: 'alice:x:1001:1002:Alice:/home/alice:/bin/bash',
  groupLines: ['alice:x:1002:', 'sudo:x:27:alice'],
};

const IMAGE_PASSWD = `root:x:0:0:root:/root:/bin/bash
# a comment
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin

sshd:x:100:65534::/run/sshd:/usr/sbin/nologin
`;

describe('mergePasswd', () => {
  it.each<[string, string, string[]]>([
    ['keeps image entries, drops comments and blanks, adds the caller last', IMAGE_PASSWD, [
      'root:x:0:0:root:/root:/bin/bash',
      'daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin',
      'sshd:x:100:65534::/run/sshd:/usr/sbin/nologin',
      IDENTITY.passwdLine,
    ]],
    ['an image user with the same name is replaced', 'alice:x:500:500::/home/img:/bin/sh\nroot:x:0:0::/root:/bin/sh\n', [
      'root:x:0:0::/root:/bin/sh',
      IDENTITY.passwdLine,
    ]],
    ['an image user with the same uid is replaced', 'ubuntu:x:1001:1001::/home/ubuntu:/bin/bash\n', [IDENTITY.passwdLine]],
    ['an empty image file', '', [IDENTITY.passwdLine]],
  ])('%s', (_name, image, expected) => {
    expect(mergePasswd(image, IDENTITY)).toBe(expected.join('\n') + '\n');
  });
});

describe('mergeGroup', () => {
  it.each<[string, string, string[]]>([
    ['keeps image groups, adds the caller groups', 'root:x:0:\n#c\n\nvideo:x:44:\n', [
      'root:x:0:',
      'video:x:44:',
      ...IDENTITY.groupLines,
    ]],
    ['same name is replaced', 'sudo:x:999:bob\n', IDENTITY.groupLines],
    ['same gid is replaced', 'ubuntu:x:1002:\n', IDENTITY.groupLines],
  ])('%s', (_name, image, expected) => {
    expect(mergeGroup(image, IDENTITY)).toBe(expected.join('\n') + '\n');
  });
});

/** A runner that answers `getent` from tables and records the calls. */
function fakeGetent(passwd: Record<string, string>, group: Record<string, string>) {
  const calls: string[][] = [];
  const runner: CommandRunner = {
    run(file, args): Promise<CommandResult> {
      calls.push([file, ...args]);
      const [db, ...keys] = args;
      const table = db === 'passwd' ? passwd : group;
      const found = keys.map((k) => table[k]).filter((l): l is string => l !== undefined);
      return Promise.resolve({
        exitCode: found.length === keys.length ? 0 : 2,
        stdout: found.map((l) => `${l}\n`).join(''),
        stderr: '',
        timedOut: false,
      });
    },
  };
  return { runner, calls };
}

const INPUT: IdentityInput = { user: 'alice', uid: 1001, gid: 1002, home: '/home/alice', groups: [1002, 27, 44] };

/** The node's /etc/passwd and /etc/group; none by default (every answer from getent). */
function localFiles(passwd?: string, group?: string): Pick<FileSystem, 'readFile'> {
  const files = new Map<string, string | undefined>([
    [LOCAL_FILES.passwd, passwd],
    [LOCAL_FILES.group, group],
  ]);
  return { readFile: (path) => Promise.resolve(files.get(path)) };
}
const NO_FILES = localFiles();

describe('lookUpIdentity', () => {
  it('takes the passwd and group lines from getent', async () => {
    const { runner, calls } = fakeGetent(
      { '1001': 'alice:x:1001:1002:Alice:/home/alice:/bin/zsh' },
      { '1002': 'alice:x:1002:', '27': 'sudo:x:27:alice', '44': 'video:x:44:alice' },
    );
    const id = await lookUpIdentity(INPUT, runner, NO_FILES);
    expect(calls).toEqual([
      ['getent', 'passwd', '1001'],
      ['getent', 'group', '1002', '27', '44'],
    ]);
    expect(id.passwdLine).toBe('alice:x:1001:1002:Alice:/home/alice:/bin/zsh');
    expect(id.shell).toBe('/bin/zsh');
    expect(id.groupLines).toEqual(['alice:x:1002:', 'sudo:x:27:alice', 'video:x:44:alice']);
    expect(id.groups).toEqual([27, 44]);
    expect(id).toMatchObject({ user: 'alice', uid: 1001, gid: 1002, home: '/home/alice' });
  });

  it('synthesizes the lines when getent knows neither the user nor the group', async () => {
    const { runner } = fakeGetent({}, {});
    const id = await lookUpIdentity({ ...INPUT, groups: [] }, runner, NO_FILES);
    expect(id.passwdLine).toBe('alice:x:1001:1002:alice:/home/alice:/bin/bash');
    expect(id.shell).toBe('/bin/bash');
    expect(id.groupLines).toEqual(['alice:x:1002:']);
    expect(id.groups).toEqual([]);
  });

  it('keeps the groups getent found and synthesizes only the missing primary one', async () => {
    const { runner } = fakeGetent({ '1001': 'alice:x:1001:1002::/home/alice:/bin/bash' }, { '27': 'sudo:x:27:alice' });
    const id = await lookUpIdentity(INPUT, runner, NO_FILES);
    expect(id.groupLines).toEqual(['alice:x:1002:', 'sudo:x:27:alice']);
  });

  it('a user and groups all in the local files: no getent at all', async () => {
    const { runner, calls } = fakeGetent({}, {});
    const files = localFiles(
      'root:x:0:0:root:/root:/bin/bash\n# a comment\nalice:x:1001:1002:Alice:/home/alice:/bin/zsh\n',
      'root:x:0:\nsudo:x:27:alice\nalice:x:1002:\nvideo:x:44:alice,bob\n',
    );
    const id = await lookUpIdentity(INPUT, runner, files);
    expect(calls).toEqual([]);
    expect(id.passwdLine).toBe('alice:x:1001:1002:Alice:/home/alice:/bin/zsh');
    expect(id.shell).toBe('/bin/zsh');
    expect(id.groupLines).toEqual(['alice:x:1002:', 'sudo:x:27:alice', 'video:x:44:alice,bob']);
    expect(id.groups).toEqual([27, 44]);
  });

  it('a directory-service user (not in /etc/passwd) with one local group: getent only for what the files lack', async () => {
    const { runner, calls } = fakeGetent(
      { '1001': 'alice:*:1001:1002:Alice:/home/alice:/bin/bash' },
      { '1002': 'alice:*:1002:', '44': 'video:*:44:alice' },
    );
    const id = await lookUpIdentity(INPUT, runner, localFiles('root:x:0:0:root:/root:/bin/bash\n', 'sudo:x:27:alice\n'));
    expect(calls).toEqual([
      ['getent', 'passwd', '1001'],
      ['getent', 'group', '1002', '44'],
    ]);
    expect(id.passwdLine).toBe('alice:*:1001:1002:Alice:/home/alice:/bin/bash');
    expect(id.groupLines).toEqual(['alice:*:1002:', 'sudo:x:27:alice', 'video:*:44:alice']);
  });

  it('the first line of a uid wins, as in the C library', async () => {
    const { runner } = fakeGetent({}, {});
    const files = localFiles('alice:x:1001:1002::/home/alice:/bin/zsh\nalias:x:1001:1002::/home/alias:/bin/sh\n', 'alice:x:1002:\n');
    expect((await lookUpIdentity({ ...INPUT, groups: [] }, runner, files)).passwdLine).toBe('alice:x:1001:1002::/home/alice:/bin/zsh');
  });
});
