import type { Socket } from 'node:net';
import { messageMac } from './auth.js';
import { parseMessage } from './messages.js';

/** A line longer than this is not srun-docker talking: the connection is closed (bounded memory per peer). */
export const MAX_LINE_BYTES = 64 * 1024;
/** Each side sends a ping this often; a peer silent for SILENCE_MS is lost (a crashed node sends no FIN). */
export const PING_MS = 1_000;
export const SILENCE_MS = 6_000;

export type LinkEnd = 'closed' | 'silent' | 'garbled' | 'forged';

/**
 * One end of a channel connection: newline-framed JSON, pings both ways, and — once `secure` is
 * called after the handshake — a sequence number and a MAC on every line, so nobody between the
 * two ends (a process that took the port first and relays) can add, change or replay a message.
 */
export class Link<In extends { t: string }, Out extends { t: string }> {
  private buffer = '';
  private key: Buffer | undefined;
  private sent = 0;
  private received = 0;
  private lastHeard: number;
  private ended: LinkEnd | undefined;
  private readonly timer: NodeJS.Timeout;
  private readonly endedPromise: Promise<LinkEnd>;
  private resolveEnded: (end: LinkEnd) => void = () => undefined;
  onMessage: (message: In) => void = () => undefined;

  constructor(
    readonly socket: Socket,
    private readonly now: () => number,
  ) {
    this.lastHeard = now();
    this.endedPromise = new Promise((resolve) => (this.resolveEnded = resolve));
    socket.setNoDelay(true);
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => this.take(chunk));
    socket.on('close', () => this.end('closed'));
    socket.on('error', () => this.end('closed'));
    this.timer = setInterval(() => this.tick(), PING_MS);
    this.timer.unref();
  }

  /** Resolves once, with why the connection is over. */
  get closed(): Promise<LinkEnd> {
    return this.endedPromise;
  }

  get isOpen(): boolean {
    return this.ended === undefined;
  }

  /** From now on every line in both directions carries a MAC under `key`. */
  secure(key: Buffer): void {
    this.key = key;
  }

  send(message: Out | { t: 'ping' }): void {
    if (this.ended !== undefined) return;
    const body = JSON.stringify(message);
    if (this.key === undefined) {
      // in the handshake each line asks the other side for its answer: the silence counts from the
      // question. A worker whose secret read took 6 s sent its proof, then called the coordinator
      // silent before the welcome could arrive — after the coordinator had bound the node to it.
      this.lastHeard = this.now();
      this.socket.write(`${body}\n`);
      return;
    }
    this.sent += 1;
    this.socket.write(`${body}\t${messageMac(this.key, this.sent, body)}\n`);
  }

  /** Sends what is queued, then closes. */
  close(): void {
    if (this.ended === undefined) this.socket.end();
    this.end('closed');
  }

  private take(chunk: string): void {
    this.lastHeard = this.now();
    this.buffer += chunk;
    if (this.buffer.length > MAX_LINE_BYTES && !this.buffer.includes('\n')) return this.abort('garbled');
    let newline: number;
    while (this.ended === undefined && (newline = this.buffer.indexOf('\n')) >= 0) {
      const line = this.buffer.slice(0, newline);
      this.buffer = this.buffer.slice(newline + 1);
      this.line(line);
    }
  }

  private line(line: string): void {
    let body = line;
    if (this.key !== undefined) {
      const tab = line.lastIndexOf('\t');
      body = line.slice(0, tab);
      this.received += 1;
      if (tab < 0 || line.slice(tab + 1) !== messageMac(this.key, this.received, body)) return this.abort('forged');
    }
    const message = parseMessage<In>(body);
    if (message === undefined) return this.abort('garbled');
    if (message.t !== 'ping') this.onMessage(message);
  }

  private tick(): void {
    if (this.now() - this.lastHeard > SILENCE_MS) return this.abort('silent');
    // only once secured: a ping in flight while the other side turns secure would read as forged
    if (this.key !== undefined) this.send({ t: 'ping' });
  }

  private abort(end: LinkEnd): void {
    this.socket.destroy();
    this.end(end);
  }

  private end(end: LinkEnd): void {
    clearInterval(this.timer);
    if (this.ended !== undefined) return;
    this.ended = end;
    this.resolveEnded(end);
  }
}
