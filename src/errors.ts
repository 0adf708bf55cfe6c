/**
 * Domain errors. Each carries the facts and the next step in its message;
 * the CLI catches them once and maps them to an exit code.
 */

/** Bad input from the user: exit code 2, nothing has been created yet. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
  readonly exitCode = 2;
  /** `node1 coordinator`, once known: printed with the error. */
  where?: string;
}

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

export class ReadinessTimeoutError extends LaunchError {
  override readonly name = 'ReadinessTimeoutError';
  constructor(
    readonly unready: UnreadyNode[],
    readonly timeoutSeconds: number,
  ) {
    super(
      `${unready.length} node(s) never became ready (waited up to ${timeoutSeconds} s): ` +
        unready.map((u) => `${u.node} (${u.lastError})`).join('; ') +
        ' — check that the image has sshd and that the node can start it, or raise --timeout',
    );
  }
}

/** The run was interrupted by SIGINT/SIGTERM (scancel); exit code 128 + signal number. */
export class InterruptedError extends LaunchError {
  override readonly name = 'InterruptedError';
  override readonly exitCode: number;
  constructor(readonly signal: NodeJS.Signals) {
    super(`interrupted by ${signal}: containers removed`);
    this.exitCode = 128 + (signal === 'SIGINT' ? 2 : signal === 'SIGTERM' ? 15 : 1);
  }
}
