import { randomBytes } from 'node:crypto';
import { readFile as readFileCallback, type Stats } from 'node:fs';
import { chmod, mkdir, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { LaunchError } from './errors.js';

/** File-system effects, passed in: the job directory lives on the shared home. */
export interface FileSystem {
  /** mkdir -p, then set the mode on the last component (umask must not widen or narrow it). */
  mkdir(path: string, mode: number): Promise<void>;
  /** Written whole under a temporary name, then renamed: readers on other nodes never see half a file. */
  writeFile(path: string, data: string | Uint8Array, mode: number): Promise<void>;
  readFile(path: string): Promise<string | undefined>;
  exists(path: string): Promise<boolean>;
  /** rm -rf; a missing path is not an error. */
  remove(path: string): Promise<void>;
  /** Last modification time in ms since the epoch, undefined when missing. */
  modifiedAt(path: string): Promise<number | undefined>;
  /** The owner's uid, undefined when missing. */
  owner(path: string): Promise<number | undefined>;
  list(dir: string): Promise<string[]>;
}

/**
 * An NFS home answers ESTALE when a file handle it gave out went stale (another client replaced or
 * removed the file meanwhile); asking again looks the path up afresh. After a few tries it is named.
 */
export class StaleHandleError extends LaunchError {
  override readonly name = 'StaleHandleError';
  constructor(readonly path: string) {
    super(`the shared home keeps answering ESTALE (stale file handle) for ${path} — another node may be replacing it; try again, and check the file server if it persists`);
  }
}

/** Any other error of the file system (a full or read-only home, a permission): named with the path, never "unexpected". */
export class FileSystemError extends LaunchError {
  override readonly name = 'FileSystemError';
  constructor(
    readonly path: string,
    /** The system's error code (EACCES, ENOSPC, ...), kept for callers that tell them apart. */
    readonly code: string,
    reason: string,
  ) {
    super(`${path}: ${reason}${FS_HINTS[code] ?? ''}`);
  }
}

const PERMISSION_HINT = ' — check the owner and mode of the directory (srun-docker keeps its files under ~/.srun-docker and /tmp)';
const FS_HINTS: Record<string, string> = {
  EACCES: PERMISSION_HINT,
  EPERM: PERMISSION_HINT,
  ENOSPC: ' — the file system is full: free some space (or quota) and run again',
  EDQUOT: ' — your disk quota is used up: free some space and run again',
  EROFS: ' — the file system is mounted read-only here',
};

const STALE_TRIES = 4;

async function retryingStale<T>(path: string, op: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await op();
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== 'ESTALE') throw named(path, error);
      if (attempt >= STALE_TRIES) throw new StaleHandleError(path);
      await sleep(50 * attempt);
    }
  }
}

/** A system error of the file system as a FileSystemError naming the path; anything else as it is. */
function named(path: string, error: unknown): unknown {
  const code = (error as NodeJS.ErrnoException).code;
  if (typeof code !== 'string' || !(error instanceof Error) || error instanceof LaunchError) return error;
  return new FileSystemError(path, code, error.message);
}

/** The real file system, every call asked again on ESTALE. */
export const nodeFileSystem: FileSystem = staleRetrying({
  async mkdir(path, mode) {
    await mkdir(path, { recursive: true, mode });
    await chmod(path, mode);
  },
  async writeFile(path, data, mode) {
    // unique across the nodes sharing this file system: two nodes may write the same path at once
    const temporary = `${path}.${hostname()}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
    await writeFile(temporary, data, { mode });
    await chmod(temporary, mode);
    await rename(temporary, path);
  },
  readFile(path) {
    // the callback form: a missing file is the common answer of a poll (a worker's status before it
    // reports), and fs/promises turns each one into a rejected promise with a captured stack trace
    return new Promise((resolve, reject) => {
      readFileCallback(path, 'utf8', (error, text) => {
        if (error === null) resolve(text);
        else if (isNotFound(error)) resolve(undefined);
        else reject(error);
      });
    });
  },
  async exists(path) {
    try {
      await stat(path);
      return true;
    } catch (error) {
      if (isNotFound(error)) return false;
      throw error;
    }
  },
  async remove(path) {
    await rm(path, { recursive: true, force: true });
  },
  async modifiedAt(path) {
    return (await statIfThere(path))?.mtimeMs;
  },
  async owner(path) {
    return (await statIfThere(path))?.uid;
  },
  async list(dir) {
    try {
      return await readdir(dir);
    } catch (error) {
      if (isNotFound(error)) return [];
      throw error;
    }
  },
});

export function staleRetrying(fs: FileSystem): FileSystem {
  return {
    mkdir: (path, mode) => retryingStale(path, () => fs.mkdir(path, mode)),
    writeFile: (path, data, mode) => retryingStale(path, () => fs.writeFile(path, data, mode)),
    readFile: (path) => retryingStale(path, () => fs.readFile(path)),
    exists: (path) => retryingStale(path, () => fs.exists(path)),
    remove: (path) => retryingStale(path, () => fs.remove(path)),
    modifiedAt: (path) => retryingStale(path, () => fs.modifiedAt(path)),
    owner: (path) => retryingStale(path, () => fs.owner(path)),
    list: (dir) => retryingStale(dir, () => fs.list(dir)),
  };
}

async function statIfThere(path: string): Promise<Stats | undefined> {
  try {
    return await stat(path);
  } catch (error) {
    if (isNotFound(error)) return undefined;
    throw error;
  }
}

function isNotFound(error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as { code?: string }).code === 'ENOENT';
}
