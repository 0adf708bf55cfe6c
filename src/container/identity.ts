import type { EngineFacts } from '../docker/engine.js';
import type { FileSystem } from '../platform/fs.js';
import type { CommandRunner } from '../platform/runner.js';

/** Who runs the job: the container runs as this user, with this home and these groups. */
export interface Identity {
  user: string;
  uid: number;
  gid: number;
  home: string;
  shell: string;
  /** Supplementary gids, handed to the container as GroupAdd. */
  groups: number[];
  /** The host's passwd line of the user and group lines of its groups (files, then getent: LDAP/SSSD too). */
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

/** Where the C library looks first ("files" leads the passwd and group lines of nsswitch.conf almost everywhere). */
export const LOCAL_FILES = { passwd: '/etc/passwd', group: '/etc/group' };

/**
 * Looks the user up like the C library would: the local files first, and `getent` (so directory-
 * service users work as well as local ones) only for what they lack. getent processes at every node's
 * start are on the critical path of every job.
 */
export async function lookUpIdentity(
  input: IdentityInput,
  runner: CommandRunner,
  fs: Pick<FileSystem, 'readFile'>,
  files = LOCAL_FILES,
): Promise<Identity> {
  const gids = [...new Set([input.gid, ...input.groups])];
  const [localPasswd, localGroup] = await Promise.all([fs.readFile(files.passwd), fs.readFile(files.group)]);
  const local = {
    passwd: entriesById(localPasswd ?? '', 2).get(String(input.uid)),
    groups: entriesById(localGroup ?? '', 2),
  };
  const missingGids = gids.filter((g) => !local.groups.has(String(g)));
  const [passwd, group] = await Promise.all([
    local.passwd === undefined ? getent(runner, 'passwd', [input.uid]) : Promise.resolve([local.passwd]),
    missingGids.length > 0 ? getent(runner, 'group', missingGids) : Promise.resolve([]),
  ]);
  const passwdLine = passwd[0] ?? `${input.user}:x:${input.uid}:${input.gid}:${input.user}:${input.home}:/bin/bash`;
  const found = entriesById([...gids.flatMap((g) => local.groups.get(String(g)) ?? []), ...group].join('\n'), 2);
  const groupLines = gids.flatMap((g) => found.get(String(g)) ?? []);
  if (!found.has(String(input.gid))) groupLines.unshift(`${input.user}:x:${input.gid}:`);
  const shell = passwdLine.split(':')[6] ?? '/bin/bash';
  return { ...input, groups: gids.filter((g) => g !== input.gid), passwdLine, groupLines, shell };
}

async function getent(runner: CommandRunner, database: 'passwd' | 'group', ids: readonly number[]): Promise<string[]> {
  const result = await runner.run('getent', [database, ...ids.map(String)], { timeoutMs: 10_000 });
  // exit 2 = some key not found: the lines it did find are still good
  return result.stdout.split('\n').filter((l) => l.trim() !== '');
}

/** `name:x:id:...` lines by their id field; the first line of an id wins, as in the C library. */
function entriesById(text: string, idField: number): Map<string, string> {
  const byId = new Map<string, string>();
  for (const line of lines(text)) {
    const id = line.split(':')[idField];
    if (id !== undefined && !byId.has(id)) byId.set(id, line);
  }
  return byId;
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

/**
 * Who the user is inside the container. Rootless Docker maps the container's root to the user and
 * every other uid to a subordinate one, so running as uid:gid would write the home as a stranger:
 * there the job runs as 0:0, under the user's name and home (the passwd line says 0:0), and its
 * files are the user's on the host. Elsewhere the identity is the host's (rootless Podman keeps it
 * with keep-id, see container-spec.ts).
 */
export function containerIdentity(identity: Identity, engine: EngineFacts): Identity {
  if (!(engine.kind === 'docker' && engine.rootless) || identity.uid === 0) return identity;
  const fields = identity.passwdLine.split(':');
  fields[2] = '0';
  fields[3] = '0';
  const groupName = identity.groupLines.find((l) => l.split(':')[2] === String(identity.gid))?.split(':')[0] ?? identity.user;
  return {
    ...identity,
    uid: 0,
    gid: 0,
    // other host groups would be subordinate gids in there: meaningless, and not the user's
    groups: [],
    passwdLine: fields.join(':'),
    groupLines: [`${groupName}:x:0:`],
  };
}
