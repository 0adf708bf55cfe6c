import { createServer, type Server } from 'node:net';
import { LaunchError } from '../platform/errors.js';
import { newChallenge, proof, proofMatches, sessionKey } from './auth.js';
import { unmapped } from './client.js';
import { Link } from './link.js';
import type { CoordinatorMessage, DoneReason, UpReport, WorkerMessage } from './messages.js';

/** A connection that has not proven the secret within this long is dropped. */
const HANDSHAKE_MS = 10_000;
/**
 * Connections the kernel may hold for this process before it accepts them. Node's default, 511,
 * is fewer than the workers of a large job, who all connect within milliseconds of each other: the
 * ones beyond it are dropped and sent again a second later (512 of 1,024 joins in
 * bench/readiness-scale). Linux caps it at net.core.somaxconn (4096 since 5.4, 128 before).
 */
const LISTEN_BACKLOG = 4096;

export interface ChannelServerInput {
  job: string;
  dir: string;
  secret: Buffer;
  ports: readonly number[];
  workers: readonly string[];
  node: string;
  now: () => number;
  /** A candidate port another process holds: said once, with the node and the port. */
  onPortTaken: (port: number) => void;
  /** A connection that failed the handshake (a forged peer, a squatter's client): said, never fatal. */
  onRefused: (remote: string, reason: string) => void;
  /** A warning a worker sent (one fact, by key). */
  onWarning: (node: string, key: string, message: string) => void;
}

/** What the coordinator hears from one worker. */
export interface WorkerSession {
  /** Resolves with its report once its sshd listens; rejects with its failure, or when it left before that. */
  up: Promise<UpReport>;
  /** Why it is no longer usable (it failed, or its srun-docker is gone), once that happened. */
  lostReason: string | undefined;
  /** Once its connection is over: after its goodbye, or lost. Never rejects. */
  gone: Promise<void>;
  /** Resolves, with why, if it is lost (it failed, or its srun-docker is gone) rather than leaving with a goodbye. */
  lost: Promise<string>;
}

export interface ChannelServer {
  port: number;
  session(node: string): WorkerSession;
  /** This node's address as the workers reached it (the first connection's), once one has joined. */
  localAddress(): string | undefined;
  /** The first worker lost (failed, or its srun-docker gone), with why. */
  firstLoss(): Promise<string>;
  /**
   * Sends each worker its ssh sessions' variables; resolves once every one has written them, rejects
   * when one is lost first.
   */
  shareEnv(envFor: (node: string) => Record<string, string>): Promise<void>;
  /** Tells every connected worker the job is over. */
  broadcastDone(reason: DoneReason): void;
  /** Until every worker's connection is over, or `maxMs`; the workers not gone by then. */
  waitForGoodbyes(maxMs: number): Promise<string[]>;
  close(): Promise<void>;
}

/**
 * The coordinator's end: listens on the first free candidate port, proves itself and checks each
 * worker's proof, then holds one connection per worker for the whole job (1,000 of them are a few
 * MB: a small buffer and one timer each).
 */
export async function openChannelServer(input: ChannelServerInput): Promise<ChannelServer> {
  const sessions = new Map(input.workers.map((node) => [node, newSession()]));
  let localAddress: string | undefined;
  const links = new Set<Link<WorkerMessage, CoordinatorMessage>>();
  const server = createServer((socket) => {
    const link = new Link<WorkerMessage, CoordinatorMessage>(socket, input.now);
    links.add(link);
    void link.closed.then(() => links.delete(link));
    localAddress ??= unmapped(socket.localAddress ?? '') || undefined;
    handshake(link, input, sessions);
  });
  const port = await listenOnFirstFree(server, input.ports, input.onPortTaken);
  return {
    port,
    session: (node) => {
      const session = sessions.get(node);
      if (session === undefined) throw new LaunchError(`${node} is not a worker of this job`);
      return session.view;
    },
    localAddress: () => localAddress,
    firstLoss: () => Promise.race([...sessions.values()].map((s) => s.view.lost)),
    shareEnv: async (envFor) => {
      for (const [node, session] of sessions) session.link?.send({ t: 'env', env: envFor(node) });
      await Promise.all([...sessions.values()].map((s) => s.envWritten));
    },
    broadcastDone: (reason) => {
      for (const session of sessions.values()) session.link?.send({ t: 'done', reason });
    },
    waitForGoodbyes: async (maxMs) => {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<void>((resolve) => (timer = setTimeout(resolve, maxMs)));
      await Promise.race([Promise.all([...sessions.values()].map((s) => s.view.gone)), timeout]);
      clearTimeout(timer);
      return [...sessions].filter(([, s]) => !s.isGone).map(([node]) => node);
    },
    close: async () => {
      for (const link of links) link.close();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

interface SessionState {
  view: WorkerSession;
  link: Link<WorkerMessage, CoordinatorMessage> | undefined;
  isGone: boolean;
  /** Resolves once it said its sessions' variables are written; rejects once it is lost. */
  envWritten: Promise<void>;
  reportUp: (report: UpReport) => void;
  reportEnvWritten: () => void;
  lose: (reason: string) => void;
  leave: () => void;
}

function newSession(): SessionState {
  let resolveUp: (report: UpReport) => void = () => undefined;
  let rejectUp: (error: Error) => void = () => undefined;
  let resolveGone: () => void = () => undefined;
  let resolveLost: (reason: string) => void = () => undefined;
  const up = new Promise<UpReport>((resolve, reject) => {
    resolveUp = resolve;
    rejectUp = reject;
  });
  up.catch(() => undefined); // a worker lost before anyone waits for it
  let resolveEnv: () => void = () => undefined;
  let rejectEnv: (error: Error) => void = () => undefined;
  const envWritten = new Promise<void>((resolve, reject) => {
    resolveEnv = resolve;
    rejectEnv = reject;
  });
  envWritten.catch(() => undefined);
  const view: WorkerSession = {
    up,
    lostReason: undefined,
    gone: new Promise((resolve) => (resolveGone = resolve)),
    lost: new Promise((resolve) => (resolveLost = resolve)),
  };
  const state: SessionState = {
    view,
    link: undefined,
    isGone: false,
    envWritten,
    reportUp: resolveUp,
    reportEnvWritten: resolveEnv,
    lose: (reason) => {
      view.lostReason ??= reason;
      rejectUp(new LaunchError(view.lostReason));
      rejectEnv(new LaunchError(view.lostReason));
      resolveLost(view.lostReason);
      state.leave();
    },
    leave: () => {
      state.isGone = true;
      resolveGone();
    },
  };
  return state;
}

function handshake(
  link: Link<WorkerMessage, CoordinatorMessage>,
  input: ChannelServerInput,
  sessions: Map<string, SessionState>,
): void {
  const remote = `${link.socket.remoteAddress ?? '?'}:${link.socket.remotePort ?? '?'}`;
  const challenge = newChallenge();
  const refuse = (reason: string): void => {
    input.onRefused(remote, reason);
    link.send({ t: 'refused', reason });
    link.close();
  };
  const timer = setTimeout(() => refuse('no proof of the job secret in time'), HANDSHAKE_MS);
  timer.unref();
  void link.closed.then((end) => {
    clearTimeout(timer);
    if (end === 'garbled' || end === 'forged') input.onRefused(remote, end === 'garbled' ? 'it does not speak srun-docker' : 'a message without the session\'s MAC');
  });
  link.send({ t: 'hello', v: 1, job: input.job, dir: input.dir, challenge });
  link.onMessage = (message) => {
    if (message.t !== 'auth') return refuse(`expected the job's proof, got "${message.t}"`);
    const session = sessions.get(message.node);
    if (session === undefined) return refuse(`${String(message.node)} is not a node of job ${input.job}`);
    if (!proofMatches(proof(input.secret, 'worker', input.job, message.node, challenge), message.proof)) return refuse('wrong proof of the job secret');
    if (typeof message.challenge !== 'string' || message.challenge.length < 16) return refuse('no challenge');
    if (session.link !== undefined) return refuse(`${message.node} is already connected`);
    clearTimeout(timer);
    link.send({ t: 'welcome', proof: proof(input.secret, 'coordinator', input.job, message.node, message.challenge) });
    link.secure(sessionKey(input.secret, input.job, message.node, challenge, message.challenge));
    session.link = link;
    link.onMessage = (said) => heard(message.node, said, session, input.onWarning);
    void link.closed.then((end) => {
      if (!session.isGone) session.lose(`${message.node}'s srun-docker is gone (control channel ${end})`);
    });
  };
}

function heard(node: string, message: WorkerMessage, session: SessionState, onWarning: ChannelServerInput['onWarning']): void {
  switch (message.t) {
    case 'up':
      session.reportUp({ port: message.port, slots: message.slots, hostKey: message.hostKey, address: message.address });
      return;
    case 'failed':
      session.lose(`${node} failed: ${message.error}`);
      return;
    case 'warn':
      onWarning(node, String(message.key), String(message.message));
      return;
    case 'env-written':
      session.reportEnvWritten();
      return;
    case 'bye':
      session.view.lostReason ??= `${node} left`;
      session.leave();
      return;
    default:
      return;
  }
}

async function listenOnFirstFree(server: Server, ports: readonly number[], onPortTaken: (port: number) => void): Promise<number> {
  for (const port of ports) {
    const error = await new Promise<NodeJS.ErrnoException | undefined>((resolve) => {
      server.once('error', resolve);
      server.listen({ port, host: '0.0.0.0', exclusive: true, backlog: LISTEN_BACKLOG }, () => {
        server.off('error', resolve);
        resolve(undefined);
      });
    });
    if (error === undefined) return port;
    if (error.code !== 'EADDRINUSE' && error.code !== 'EACCES') throw error;
    onPortTaken(port);
  }
  throw new LaunchError(`every control channel port of this job step is taken on this node (${ports.join(', ')}) — another job step or process holds them; try again`);
}

