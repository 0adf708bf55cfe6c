import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { open, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { JobDir } from '../plan/jobdir.js';
import { LaunchError } from '../platform/errors.js';

/**
 * The coordinator's container's link to srun-docker: a FIFO among this node's own files in the job
 * directory (the container mounts the home; the daemon cannot see a private /tmp). srun-docker opens
 * it read-write before the container starts (so neither side waits for the other), the container's
 * main process opens it for reading at its start and removes its name; srun-docker writes one line,
 * `go NONCE`, once every node answers. When srun-docker ends, however it ends (SIGKILL too), the
 * kernel closes its end: the container sees the FIFO's end and ends the job (container-command.ts).
 *
 * Checked on the test bed: through Docker's bind mounts, and on a FUSE home (bindfs) — there the
 * container reads the FIFO with the shell's `read`; `cat` on an unlinked FIFO fails with ENOENT.
 */
export function controlFifoPath(dir: JobDir, node: string): string {
  return join(dir.nodesDir, `${node}.control`);
}

export interface ControlFifo {
  /** Starts the job: `go NONCE` on a line of its own. */
  go(nonce: string): Promise<void>;
  /** srun-docker's end: the container, still running, ends within a second or two. */
  close(): Promise<void>;
}

/** Makes the FIFO (mode 0600) and holds it open read-write. */
export async function openControlFifo(path: string, makeFifo: (path: string) => Promise<void> = mkfifo): Promise<ControlFifo> {
  await makeFifo(path);
  // O_RDWR: a FIFO opened for both never blocks on Linux, whether or not the other side has it yet
  const handle: FileHandle = await open(path, 'r+');
  let closed: Promise<void> | undefined;
  return {
    go: async (nonce) => {
      await handle.write(`go ${nonce}\n`);
    },
    close: () => (closed ??= handle.close().catch(() => undefined)),
  };
}

/** A fresh secret per run: the end lines carry it, and the job never sees it (job-end.ts). */
export function newNonce(): string {
  return randomBytes(16).toString('hex');
}

/** Node.js has no mkfifo; coreutils' is on every node. Spawned directly: execa costs a module load. */
function mkfifo(path: string): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile('mkfifo', ['-m', '0600', path], { timeout: 10_000 }, (error, _stdout, stderr) => {
      if (error === null) resolve();
      else reject(new LaunchError(`mkfifo ${path} failed: ${stderr.trim() || error.message}`));
    });
  });
}
