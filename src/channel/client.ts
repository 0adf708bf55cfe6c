import { connect } from 'node:net';
import { LaunchError } from '../platform/errors.js';
import { newChallenge, proof, proofMatches, sessionKey } from './auth.js';
import { Link, type LinkEnd } from './link.js';
import type { CoordinatorMessage, DoneReason, WorkerMessage } from './messages.js';

/** One connection attempt (connect, then the hello) may take this long before the next port is tried. */
const ATTEMPT_MS = 3_000;

export interface JoinInput {
  job: string;
  node: string;
  /** The job directory this node expects (the hello must name exactly it). */
  dir: string;
  coordinator: string;
  /** The coordinator's address, as this node resolves it. */
  address: () => Promise<string>;
  ports: readonly number[];
  /** Reads the job's secret, once the coordinator has said (its hello) that it exists. */
  readSecret: () => Promise<Buffer>;
  deadline: number;
  /** Deadlines and the pause between rounds (timings.ts WallClock: now, sleep). */
  clock: { now(): number; sleep(ms: number, options?: { signal?: AbortSignal }): Promise<void> };
  signal: AbortSignal;
  /** A port that answered but is not this job's coordinator: said once. */
  onImpostor: (port: number, reason: string) => void;
  /** How long connecting and the hello may take on one port before the next is tried; ATTEMPT_MS unless a test says. */
  attemptMs?: number;
}

/** The worker's end, once both sides have proven the secret. */
export interface CoordinatorLink {
  port: number;
  /** This node's address on the network the coordinator is reached on. */
  localAddress: string;
  send(message: Exclude<WorkerMessage, { t: 'auth' | 'ping' }>): void;
  /** The job's variables for this node's ssh sessions, once the coordinator sends them (never, if the link ends first). */
  env: Promise<Record<string, string>>;
  /** Resolves when the coordinator says the job is over, or with how the connection was lost. */
  ended: Promise<{ done: DoneReason } | { lost: LinkEnd }>;
  /** Whether the coordinator is still there: false once its connection closed or went silent without `done`. */
  coordinatorThere(): boolean;
  close(): void;
}

class NotThisPort extends Error {}
/** Nobody there (yet), rather than somebody else: not worth a line. */
const QUIET = new Set(['closed the connection', 'no hello in time']);

/**
 * Finds this job's coordinator: tries every candidate port in order (the first may be held by
 * another process, then the coordinator took a later one), round after round with a short pause,
 * until one proves it knows the secret or the deadline passes.
 */
export async function joinCoordinator(input: JoinInput): Promise<CoordinatorLink> {
  let lastError = 'nothing listening yet';
  const told = new Set<number>();
  for (let round = 0; ; round += 1) {
    const host = await input.address();
    for (const port of input.ports) {
      input.signal.throwIfAborted();
      try {
        return await attempt(input, host, port);
      } catch (error) {
        if (!(error instanceof NotThisPort)) throw error;
        lastError = `${port}: ${error.message}`;
        if (!QUIET.has(error.message) && !told.has(port)) {
          told.add(port);
          input.onImpostor(port, error.message);
        }
      }
    }
    if (input.clock.now() > input.deadline) {
      throw new LaunchError(
        `the coordinator ${input.coordinator} (${host}) did not answer on its control channel ports (${input.ports.join(', ')}; last: ${lastError}) — is srun-docker running there with the same options?`,
      );
    }
    await input.clock.sleep(Math.min(250, 20 * 2 ** Math.min(round, 4)), { signal: input.signal });
  }
}

async function attempt(input: JoinInput, host: string, port: number): Promise<CoordinatorLink> {
  const socket = connect({ host, port });
  const link = new Link<CoordinatorMessage, WorkerMessage>(socket, input.clock.now);
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new NotThisPort('no hello in time')), input.attemptMs ?? ATTEMPT_MS);
  });
  try {
    const welcomed = await Promise.race([handshake(input, link, () => clearTimeout(timer)), timedOut]);
    return welcomed;
  } catch (error) {
    link.close();
    socket.destroy();
    throw error;
  } finally {
    clearTimeout(timer);
  }
}

async function handshake(input: JoinInput, link: Link<CoordinatorMessage, WorkerMessage>, helloHeard: () => void): Promise<CoordinatorLink> {
  let beforeQueued: (message: CoordinatorMessage) => void = () => undefined;
  const next = nextMessage(link, (message) => beforeQueued(message));
  const hello = await next();
  if (hello.t !== 'hello') throw new NotThisPort(`answered "${hello.t}", not srun-docker's hello`);
  if (hello.job !== input.job || hello.dir !== input.dir) throw new NotThisPort(`answered for job ${String(hello.job)}, not ${input.job}`);
  // this job's coordinator answered: from here only its welcome, its refusal or the link's silence
  // ends the attempt. A timer that fired once the proof was sent closed connections the coordinator
  // had just welcomed, and a session whose connection closed is lost for good ("already connected"
  // to every retry): 320 of 1,024 workers on a busy machine (bench/readiness-scale), and a slow
  // secret read on a shared home restarted the attempt every few seconds.
  helloHeard();
  // the hello says the job directory and its secret exist: the first look at them, never a poll
  const secret = await input.readSecret();
  const challenge = newChallenge();
  const coordinatorProof = proof(secret, 'coordinator', input.job, input.node, challenge);
  // the coordinator's first line under the session's MAC (a ping) can arrive in the same chunk as its
  // welcome, read before an await here could turn the link secure: it read as garbled, and the joined
  // node was lost at once (1 in 40 of 1,024 workers on a busy machine)
  beforeQueued = (message) => {
    if (message.t === 'welcome' && proofMatches(coordinatorProof, message.proof)) link.secure(sessionKey(secret, input.job, input.node, hello.challenge, challenge));
  };
  link.send({ t: 'auth', node: input.node, proof: proof(secret, 'worker', input.job, input.node, hello.challenge), challenge });
  const welcome = await next();
  // a refusal is not final either: only a peer that proves the secret speaks for the coordinator
  if (welcome.t === 'refused') throw new NotThisPort(`refused this node: ${String(welcome.reason)}`);
  if (welcome.t !== 'welcome' || !proofMatches(coordinatorProof, welcome.proof)) {
    throw new NotThisPort('answered without proof of the job secret');
  }
  let sawDone = false;
  let gotEnv: (env: Record<string, string>) => void = () => undefined;
  const env = new Promise<Record<string, string>>((resolve) => (gotEnv = resolve));
  const ended = new Promise<{ done: DoneReason } | { lost: LinkEnd }>((resolve) => {
    link.onMessage = (message) => {
      if (message.t === 'env') gotEnv(stringsOnly(message.env));
      if (message.t !== 'done') return;
      sawDone = true;
      resolve({ done: message.reason });
    };
    void link.closed.then((lost) => resolve({ lost }));
  });
  return {
    port: link.socket.remotePort ?? 0,
    localAddress: unmapped(link.socket.localAddress ?? ''),
    send: (message) => link.send(message),
    env,
    ended,
    coordinatorThere: () => link.isOpen || sawDone,
    close: () => link.close(),
  };
}

/** The next message, one at a time (the handshake is strictly request and answer). */
function nextMessage(
  link: Link<CoordinatorMessage, WorkerMessage>,
  /** Called as each message is read, before the next line of the same chunk is. */
  beforeQueued: (message: CoordinatorMessage) => void,
): () => Promise<CoordinatorMessage> {
  const queue: CoordinatorMessage[] = [];
  let waiting: ((message: CoordinatorMessage) => void) | undefined;
  link.onMessage = (message) => {
    beforeQueued(message);
    if (waiting === undefined) queue.push(message);
    else waiting(message);
  };
  return () => {
    const queued = queue.shift();
    if (queued !== undefined) return Promise.resolve(queued);
    return new Promise((resolve, reject) => {
      waiting = (message) => {
        waiting = undefined;
        resolve(message);
      };
      void link.closed.then((end) => reject(new NotThisPort(end === 'closed' ? 'closed the connection' : `answered, but not in srun-docker's protocol (${end})`)));
    });
  };
}

/** The variables with a string value (the coordinator's, past its MAC: a shape check, not a defence). */
function stringsOnly(value: unknown): Record<string, string> {
  if (typeof value !== 'object' || value === null) return {};
  return Object.fromEntries(Object.entries(value).filter((entry): entry is [string, string] => typeof entry[1] === 'string'));
}

/** `::ffff:10.0.0.2` is 10.0.0.2 on a dual-stack socket. */
export function unmapped(address: string): string {
  return address.startsWith('::ffff:') ? address.slice('::ffff:'.length) : address;
}
