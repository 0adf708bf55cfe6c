import { dirname } from 'node:path';
import { isWithin } from './container-spec.js';

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
    // a name below the path on the way to (or in) another needed path below it is that one's: the
    // working directory is not named by a --datamnts directory under it that the daemon cannot reach
    const othersBelow = needed.filter((other) => other.path !== path && isWithin(other.path, path));
    const own = (named: string): boolean => !othersBelow.some((other) => isWithin(named, other.path) || isWithin(other.path, named));
    for (let dir = path; ; dir = dirname(dir)) {
      // the path or a name below it; a directory above only by itself (runc stops at the first it cannot see)
      if (namesPath(message, dir, dir === path ? own : undefined)) return true;
      if (dir === top || dir === dirname(dir)) return false;
    }
  });
}

/**
 * Whether the message names this path as a whole, not as the start of a longer name (`/a/b` in
 * `/a/bc`); with `below`, a path under it counts when `below` takes it.
 */
function namesPath(message: string, path: string, below: ((named: string) => boolean) | undefined): boolean {
  for (let at = message.indexOf(path); at >= 0; at = message.indexOf(path, at + 1)) {
    const next = message[at + path.length];
    if (next === undefined || (next !== '/' && !/[\w.-]/.test(next))) return true;
    if (next === '/' && below?.(namedAt(message, at)) === true) return true;
  }
  return false;
}

/** The path the message names from `at` on: up to a space, a colon or a quote. */
function namedAt(message: string, at: number): string {
  return (/^[^\s:'"]+/.exec(message.slice(at))?.[0] ?? '').replace(/\/+$/, '');
}
