import type { ReadStream, WriteStream } from 'node:tty';

/** The user's terminal, when srun-docker's input and output are one (`srun --pty`, a run in a terminal). */
export interface Terminal {
  /**
   * Raw mode on the user's side: every byte (Ctrl-C too) goes to the job's terminal, whose own line
   * discipline echoes and signals. Returns the restore, which is safe to call more than once.
   */
  raw(): () => void;
  size(): { rows: number; columns: number };
  /** Calls `listener` on each SIGWINCH; returns the unsubscribe. */
  onResize(listener: () => void): () => void;
}

/**
 * The process's terminal, or undefined when input or output is not one: output to a file or a pipe
 * keeps its separate stdout and stderr and its plain `\n` (a terminal merges them and adds `\r`).
 */
export function processTerminal(stdin: NodeJS.ReadableStream, stdout: NodeJS.WritableStream): Terminal | undefined {
  const input = stdin as Partial<ReadStream>;
  const output = stdout as Partial<WriteStream>;
  if (input.isTTY !== true || output.isTTY !== true || input.setRawMode === undefined) return undefined;
  const tin = stdin as ReadStream;
  const tout = stdout as WriteStream;
  return {
    raw: () => {
      const wasRaw = tin.isRaw;
      tin.setRawMode(true);
      let restored = false;
      const restore = (): void => {
        if (restored) return;
        restored = true;
        process.off('exit', restore);
        tin.setRawMode(wasRaw);
      };
      // the last exit path: an error thrown past every finally, a process.exit somewhere
      process.on('exit', restore);
      return restore;
    },
    size: () => ({ rows: tout.rows, columns: tout.columns }),
    onResize: (listener) => {
      tout.on('resize', listener);
      return () => tout.off('resize', listener);
    },
  };
}
