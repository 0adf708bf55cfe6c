import { Transform, type TransformCallback } from 'node:stream';

/**
 * How the coordinator's container says the job has ended: once the job's process has exited, its
 * main process prints `\x1esrun-docker-job-end:<nonce>:<exit code>\n` on the container's stdout and
 * again on its stderr (one line on a terminal, where both are one stream and the newline is `\r\n`;
 * container-command.ts). Everything the job wrote before its exit comes before that line on each
 * stream, so once the lines have come through, all its output has been forwarded — ~90 ms before
 * Docker ends the attached output here (the container's exit goes through containerd and the daemon
 * first), and the other nodes can start removing their containers that much sooner.
 *
 * The nonce is fresh per run and reaches the container only through its control FIFO
 * (control-fifo.ts), after the job's variables, arguments and files are fixed: output of the job
 * cannot carry it, so no output ends the job early or sets its exit code.
 */
export const JOB_END_LEAD = '\x1e';
const MAX_CODE_DIGITS = 3;

/** The marker of one run's end lines, with the nonce only srun-docker and the container's main process know. */
export function jobEndMarker(nonce: string): string {
  return `srun-docker-job-end:${nonce}`;
}

/**
 * Passes a stream through unchanged except for the job-end line, which it removes, reporting the
 * exit code the line carries (once). Bytes that could be the start of that line are held back until
 * the next chunk tells; the lead byte (ASCII record separator) keeps that to output that ends in one.
 */
export class JobEndStripper extends Transform {
  private readonly line: Buffer;
  private pending: Buffer = Buffer.alloc(0);
  private seen = false;

  constructor(
    marker: string,
    private readonly onEnd: (code: number | undefined) => void,
  ) {
    super();
    this.line = Buffer.from(`${JOB_END_LEAD}${marker}:`, 'latin1');
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    if (this.seen) {
      callback(null, chunk);
      return;
    }
    const data = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    const at = data.indexOf(this.line);
    if (at === -1) {
      const keep = this.partialLineAtEnd(data);
      this.pending = data.subarray(data.length - keep);
      callback(null, keep === data.length ? undefined : data.subarray(0, data.length - keep));
      return;
    }
    const newline = data.indexOf(0x0a, at + this.line.length);
    // on a terminal the line ends in \r\n (its output processing turns \n into that)
    const end = newline > 0 && data[newline - 1] === 0x0d ? newline - 1 : newline;
    if (end === -1 || end - at - this.line.length > MAX_CODE_DIGITS) {
      if (end === -1 && data.length - at - this.line.length <= MAX_CODE_DIGITS + 1) {
        // the code and newline are still to come: hold the line (and nothing before it)
        this.pending = data.subarray(at);
        callback(null, at === 0 ? undefined : data.subarray(0, at));
        return;
      }
      // the marker followed by something else: output like any other, never held without bound
      this.pending = Buffer.alloc(0);
      callback(null, data);
      return;
    }
    const code = data.subarray(at + this.line.length, end).toString('latin1');
    this.seen = true;
    this.pending = Buffer.alloc(0);
    const rest = data.subarray(newline + 1);
    // what came before the line is passed on first
    callback(null, at === 0 && rest.length === 0 ? undefined : Buffer.concat([data.subarray(0, at), rest]));
    this.onEnd(/^\d+$/.test(code) ? Number(code) : undefined);
  }

  override _flush(callback: TransformCallback): void {
    // the output ended without the line (the container was stopped): what was held back is output
    callback(null, this.pending.length === 0 ? undefined : this.pending);
  }

  /** How many bytes at the end of `data` could be the start of the job-end line. */
  private partialLineAtEnd(data: Buffer): number {
    const lead = data.lastIndexOf(this.line[0] ?? 0, data.length - 1);
    if (lead === -1 || data.length - lead >= this.line.length) return 0;
    const tail = data.subarray(lead);
    return this.line.subarray(0, tail.length).equals(tail) ? tail.length : 0;
  }
}
