/** What the nodes say over the channel: one JSON object a line. */

export type DoneReason = 'finished' | 'failed' | 'interrupted';

/** Coordinator → worker. */
export type CoordinatorMessage =
  /** First line on every connection; `dir` is the job directory, made (with its secret) before the port was opened. */
  | { t: 'hello'; v: 1; job: string; dir: string; challenge: string }
  | { t: 'welcome'; proof: string }
  | { t: 'refused'; reason: string }
  /** The job's variables for the worker's ssh sessions, once every node has reported (before the job starts). */
  | { t: 'env'; env: Record<string, string> }
  | { t: 'done'; reason: DoneReason }
  | { t: 'ping' };

/** What a worker says once its sshd listens: everything the coordinator needs to log in and to write the job's files. */
export interface UpReport {
  port: number;
  slots: number;
  /** `type base64`; none in --sshconfigdir mode, where the user's own ssh config pins it. */
  hostKey?: string;
  /** The address this node is reached at from the coordinator (its end of the channel's connection). */
  address: string;
}

/** Worker → coordinator. */
export type WorkerMessage =
  | { t: 'auth'; node: string; proof: string; challenge: string }
  | ({ t: 'up' } & UpReport)
  | { t: 'failed'; error: string }
  /** A condition the coordinator says once for every node it concerns (`key` names the fact). */
  | { t: 'warn'; key: string; message: string }
  /** Its ssh sessions' variables are written (session-shell.ts): the job may start. */
  | { t: 'env-written' }
  | { t: 'bye' }
  | { t: 'ping' };

/** Parses one line; undefined for anything that is not an object with a string `t`. */
export function parseMessage<T extends { t: string }>(line: string): T | undefined {
  try {
    const value: unknown = JSON.parse(line);
    if (typeof value === 'object' && value !== null && typeof (value as { t?: unknown }).t === 'string') return value as T;
  } catch {
    // a peer that is not srun-docker (a squatter, a port scanner): the caller treats it as not the channel
  }
  return undefined;
}
