import { opendir, stat } from 'node:fs/promises';
import { dirname } from 'node:path';

/** What looking a path up afresh needs of the file system, passed in. */
export interface LookupOps<S> {
  stat(path: string): Promise<S>;
  /** Opens a directory and closes it again. */
  openDir(path: string): Promise<void>;
}

export const nodeLookupOps: LookupOps<Awaited<ReturnType<typeof stat>>> = {
  stat: (path) => stat(path),
  async openDir(path) {
    await (await opendir(path)).close();
  },
};

/**
 * A path's stat, asked once more before it is called missing. An NFS client with `lookupcache=all`
 * (the default) keeps a "no such file" until its copy of the directory's attributes expires (30–60 s):
 * a script made on the login node a moment after a node last looked for it is missing there.
 * Opening a directory makes the client ask the server for the directory's attributes first
 * (close-to-open), and a directory that changed drops the names it had cached as missing. So every
 * directory on the way is opened, from the top, and the path is asked again. Returns undefined when
 * it is still missing; any other error is thrown as it came.
 */
export async function statAfresh<S>(path: string, ops: LookupOps<S>): Promise<S | undefined> {
  try {
    return await ops.stat(path);
  } catch (error) {
    if (!isNotFound(error)) throw error;
  }
  for (const dir of ancestors(path)) {
    try {
      await ops.openDir(dir);
    } catch {
      break; // a directory that is missing (or closed to us) even now: the ones below it cannot help
    }
  }
  try {
    return await ops.stat(path);
  } catch (error) {
    if (isNotFound(error)) return undefined;
    throw error;
  }
}

/** The directories above an absolute path, from the top down, the root left out. */
function ancestors(path: string): string[] {
  const dirs: string[] = [];
  for (let dir = dirname(path); dir !== dirname(dir); dir = dirname(dir)) dirs.unshift(dir);
  return dirs;
}

function isNotFound(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}
