import { dirname } from 'node:path';
import type { WallClock } from '../platform/timings.js';
import { LaunchError } from '../platform/errors.js';
import type { FileSystem } from '../platform/fs.js';
import type { JobDir } from '../plan/jobdir.js';
import type { Logger } from '../platform/log.js';

/**
 * The nodes of a job step talk over the control channel (`channel/`); the shared home carries only
 * the job directory, which the coordinator alone makes and which every other node opens only after
 * the coordinator's hello said it exists.
 */
/** The coordinator makes the job directory (0700) with its nodes/ folder before it opens the channel. */
export async function ensureJobDir(fs: FileSystem, dir: JobDir): Promise<void> {
  await fs.mkdir(dirname(dir.root), 0o700);
  await fs.mkdir(dir.root, 0o700);
  await fs.mkdir(dir.nodesDir, 0o700);
}

/**
 * The job's secret, read by a worker once the coordinator's hello said it is there. A home that still
 * shows it missing (a "no such file" cached before, NFS's lookup cache) or answers ESTALE is asked
 * again until the deadline; then the error names the path.
 */
export async function readJobSecret(fs: FileSystem, dir: JobDir, deadline: number, clock: WallClock): Promise<Buffer> {
  let last = 'not there';
  for (let attempt = 0; ; attempt += 1) {
    try {
      const text = (await fs.readFile(dir.secret))?.trim();
      if (text !== undefined && /^[0-9a-f]{64}$/.test(text)) return Buffer.from(text, 'hex');
      last = text === undefined ? 'not there' : 'not a secret srun-docker wrote';
    } catch (error) {
      last = (error as NodeJS.ErrnoException).code ?? String(error);
    }
    if (clock.now() > deadline) {
      throw new LaunchError(`cannot read the job's secret ${dir.secret} on this node (${last}) — is the home directory shared between the nodes?`);
    }
    await clock.sleep(Math.min(1_000, 25 * 2 ** Math.min(attempt, 6)));
  }
}

/**
 * A worker's warnings go to the coordinator, which says each once for every node it concerns; this
 * node prints them itself only with --verbose. Said before the channel is up, they wait for it.
 */
export function channelWarner(
  channel: Promise<{ send: (message: { t: 'warn'; key: string; message: string }) => void }>,
  log: Logger,
): (key: string, message: string) => void {
  const seen = new Set<string>();
  return (key, message) => {
    if (seen.has(key)) return;
    seen.add(key);
    log.verbose(`warning: ${message}`);
    void channel.then(
      (link) => link.send({ t: 'warn', key, message }),
      () => log.warn(message),
    );
  };
}
