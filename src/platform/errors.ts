/**
 * Domain errors. Each carries the facts and the next step in its message;
 * the CLI catches them once and maps them to an exit code.
 */

import { signalExitCode } from './signals.js';

/** Bad input from the user: exit code 2, nothing has been created yet. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
  readonly exitCode = 2;
  /** `node1 coordinator`, once known: printed with the error. */
  where?: string;
}

/**
 * The --script is not there on this node. A worker that alone does not find it goes on if the
 * coordinator (which did) answers: a home that caches lookups (NFS) may still hold a "no such file"
 * on this host for a script made elsewhere a moment ago, and only the coordinator runs the script.
 */
export class ScriptNotFoundError extends UsageError {}

/** The launch failed (daemon down, image missing, node never ready...): exit code 1. */
export class LaunchError extends Error {
  override readonly name: string = 'LaunchError';
  readonly exitCode: number = 1;
  /** `node1 coordinator`, once known: printed with the error. */
  where?: string;
}

/** One node that never answered the readiness check, with its last error. */
export interface UnreadyNode {
  node: string;
  lastError: string;
}

/** The start failed because some nodes never answered: each with its last error, and how long the wait took. */
export abstract class ReadinessError extends LaunchError {
  constructor(
    readonly unready: UnreadyNode[],
    readonly timeoutSeconds: number,
    readonly elapsedMs: number,
  ) {
    super(
      `${unready.length} node(s) never became ready (waited up to ${timeoutSeconds} s): ` +
        unready.map((u) => `${u.node} (${u.lastError})`).join('; ') +
        ' — check that the image has sshd and that the node can start it, or raise --timeout',
    );
  }
}

/** The deadline (--timeout) passed with nodes that never answered (and none that said it failed). */
export class ReadinessTimeoutError extends ReadinessError {
  override readonly name = 'ReadinessTimeoutError';
}

/** A node said it failed (or its srun-docker left) before the job could start: the wait ended at once, not at the deadline. */
export class NodeFailedError extends ReadinessError {
  override readonly name = 'NodeFailedError';
  constructor(
    unready: UnreadyNode[],
    timeoutSeconds: number,
    elapsedMs: number,
    /** The nodes that said they failed (the others in `unready` had not answered yet). */
    readonly failed: readonly string[],
  ) {
    super(unready, timeoutSeconds, elapsedMs);
  }
}

/** A worker failed, or its srun-docker went away, while the job ran, and the job did not end by itself: it was stopped on every node. */
export class WorkerLostError extends LaunchError {
  override readonly name = 'WorkerLostError';
  constructor(
    readonly reason: string,
    readonly graceMs: number,
  ) {
    super(`${reason} while the job ran; the job did not end within ${graceMs / 1000} s and was stopped on every node`);
  }
}

/** The run was interrupted by SIGINT, SIGTERM (scancel) or SIGHUP (its terminal closed); exit code 128 + signal number. */
export class InterruptedError extends LaunchError {
  override readonly name = 'InterruptedError';
  override readonly exitCode: number;
  constructor(readonly signal: NodeJS.Signals) {
    super(`interrupted by ${signal}: containers removed`);
    this.exitCode = signalExitCode(signal);
  }
}

/** A state srun-docker's own code should never reach (a bug, not the user's input or the cluster): exit code 1, with a request to report it. */
export class InternalError extends LaunchError {
  override readonly name = 'InternalError';
  constructor(what: string) {
    super(`${what} (a bug in srun-docker: please report it with the command you ran)`);
  }
}

/** An ssh login into a node's sshd failed (readiness tries again until its deadline, then names the node with this reason). */
export class SshLoginError extends LaunchError {
  override readonly name = 'SshLoginError';
}
