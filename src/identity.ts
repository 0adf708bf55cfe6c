import type { CommandRunner } from './runner.js';

/** Who runs the job: the container runs as this user, with this home and these groups. */
export interface Identity {
  user: string;
  uid: number;
  gid: number;
  home: string;
  shell: string;
  /** Supplementary gids, handed to the container as GroupAdd. */
  groups: number[];
  /** The host's passwd line of the user and group lines of its groups (getent: works with LDAP/SSSD). */
  passwdLine: string;
  groupLines: string[];
}

export interface IdentityInput {
  user: string;
  uid: number;
  gid: number;
  home: string;
  groups: number[];
}

/** Looks the user up like the C library would, so directory-service users work as well as local ones. */
export async function lookUpIdentity(input: IdentityInput, runner: CommandRunner): Promise<Identity> {
  const gids = [...new Set([input.gid, ...input.groups])];
  const [passwd, group] = await Promise.all([
    runner.run('getent', ['passwd', String(input.uid)], { timeoutMs: 10_000 }),
    runner.run('getent', ['group', ...gids.map(String)], { timeoutMs: 10_000 }),
  ]);
  const passwdLine =
    passwd.exitCode === 0 && passwd.stdout.trim() !== ''
      ? (passwd.stdout.trim().split('\n')[0] ?? '')
      : `${input.user}:x:${input.uid}:${input.gid}:${input.user}:${input.home}:/bin/bash`;
  const groupLines = group.stdout.split('\n').filter((l) => l.trim() !== '');
  if (!groupLines.some((l) => l.split(':')[2] === String(input.gid))) {
    groupLines.unshift(`${input.user}:x:${input.gid}:`);
  }
  const shell = passwdLine.split(':')[6] ?? '/bin/bash';
  return { ...input, groups: gids.filter((g) => g !== input.gid), passwdLine, groupLines, shell };
}

/**
 * The container's /etc/passwd: the image's own entries (system users its software expects)
 * plus the caller's, which wins over an image entry with the same name or uid.
 */
export function mergePasswd(imagePasswd: string, identity: Identity): string {
  const kept = lines(imagePasswd).filter((line) => {
    const [name, , uid] = line.split(':');
    return name !== identity.user && uid !== String(identity.uid);
  });
  return [...kept, identity.passwdLine].join('\n') + '\n';
}

/** Same for /etc/group: the host's groups of the user win over image groups with the same gid or name. */
export function mergeGroup(imageGroup: string, identity: Identity): string {
  const hostNames = new Set(identity.groupLines.map((l) => l.split(':')[0]));
  const hostGids = new Set(identity.groupLines.map((l) => l.split(':')[2]));
  const kept = lines(imageGroup).filter((line) => {
    const [name, , gid] = line.split(':');
    return !hostNames.has(name) && !hostGids.has(gid);
  });
  return [...kept, ...identity.groupLines].join('\n') + '\n';
}

function lines(text: string): string[] {
  return text.split('\n').filter((l) => l.trim() !== '' && !l.startsWith('#'));
}
