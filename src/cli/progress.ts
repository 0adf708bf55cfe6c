import type { PullEvent } from '../docker/client.js';
import type { Logger } from '../platform/log.js';

/**
 * Image pull progress: on a terminal one line rewritten in place; otherwise (srun, sbatch logs)
 * one line per finished layer, so a log file does not fill with progress bars.
 */
export function pullProgressPrinter(
  stream: NodeJS.WritableStream,
  log: Logger,
  tty = (stream as NodeJS.WriteStream).isTTY === true,
): (event: PullEvent) => void {
  return (event) => {
    if (event.status === undefined) return;
    const layer = event.id !== undefined ? `${event.id}: ` : '';
    if (tty) {
      stream.write(`\r\x1b[K${layer}${event.status} ${event.progress ?? ''}`);
      if (event.status.startsWith('Status:')) stream.write('\n');
    } else if (event.progress === undefined) {
      log.info(`pull ${layer}${event.status}`);
    }
  };
}

/** A worker's pull is said once by the coordinator, with every node that pulled: its own progress shows only with --verbose, never rewritten in place. */
export function workerPullProgress(stream: NodeJS.WritableStream, log: Logger): (event: PullEvent) => void {
  return pullProgressPrinter(stream, { ...log, info: (message) => log.verbose(message) }, false);
}
