import { dirname } from 'node:path';

/**
 * A root daemon on NFS exported with root_squash is "nobody" to the file server: it cannot look up a
 * name in a directory only you can enter (a 0700 `/scratch/alice`), so a bind mount of your working
 * directory below it fails, with runc's words (`stat ...: permission denied`, or `mkdir ...: file
 * exists` for a path it cannot see). It can still mount that directory itself: the name is looked up
 * in its parent, which others may enter. So the mount moves up to the highest directory of yours
 * above the path, at the same path inside, and the job sees the same files (and the rest of that
 * directory of yours).
 */

/** Who owns a path (its uid), undefined when it cannot be told (missing, unreadable): passed in. */
export type OwnerOf = (path: string) => Promise<number | undefined>;

/** The highest directory above `path` (or `path` itself) that is `uid`'s, every directory between owned by `uid` too. */
export async function ownTop(path: string, uid: number, ownerOf: OwnerOf): Promise<string> {
  let top = path;
  // ends at the root too: dirname('/') is '/', the top already
  for (let dir = dirname(path); dir !== top && (await ownerOf(dir)) === uid; dir = dirname(dir)) top = dir;
  return top;
}

/**
 * Pure: the paths of `needed` whose mount the failed start named (the path, or a directory above it
 * up to its own top), each with the top to mount instead; those whose top is the path itself cannot
 * move up and are left out.
 */
export function mountsToWiden(message: string, needed: readonly { path: string; top: string }[]): { path: string; top: string }[] {
  return needed.filter(({ path, top }) => {
    if (top === path) return false;
    for (let dir = path; ; dir = dirname(dir)) {
      // the path or a name below it; a directory above only by itself (runc stops at the first it cannot see)
      if (namesPath(message, dir, dir === path)) return true;
      if (dir === top || dir === dirname(dir)) return false;
    }
  });
}

/** Whether the message names this path as a whole, not as the start of a longer name (`/a/b` in `/a/bc`); with `below`, a path under it counts. */
function namesPath(message: string, path: string, below: boolean): boolean {
  for (let at = message.indexOf(path); at >= 0; at = message.indexOf(path, at + 1)) {
    const next = message[at + path.length];
    if (next === undefined || (next === '/' ? below : !/[\w.-]/.test(next))) return true;
  }
  return false;
}
