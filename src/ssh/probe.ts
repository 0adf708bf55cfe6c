import { connect } from 'node:net';
import type { CommandRunner } from '../platform/runner.js';
import { SshLoginError } from '../platform/errors.js';

export interface ProbeTarget {
  port: number;
  /** The job's ssh_config (zero set-up); undefined = the user's own ~/.ssh/config (original mode). */
  sshConfig?: string;
  timeoutMs: number;
}

/**
 * A node is ready when a real ssh login into its container succeeds. A TCP connect comes first:
 * it is cheap, so polling a node whose sshd is not up yet costs no ssh process.
 */
export function sshLoginProbe(runner: CommandRunner, target: ProbeTarget): (node: string) => Promise<void> {
  return async (node) => {
    await tcpConnect(node, target.port, target.timeoutMs);
    const args = [
      ...(target.sshConfig !== undefined ? ['-F', target.sshConfig] : ['-p', String(target.port), '-o', 'BatchMode=yes']),
      '-o',
      `ConnectTimeout=${Math.ceil(target.timeoutMs / 1000)}`,
      node,
      'true',
    ];
    const result = await runner.run('ssh', args, { timeoutMs: target.timeoutMs + 2000 });
    if (result.exitCode !== 0) {
      const reason = result.timedOut ? 'ssh login timed out' : result.stderr.trim() || `ssh exited ${result.exitCode}`;
      throw new SshLoginError(`ssh login failed: ${reason}`);
    }
  };
}

export function tcpConnect(host: string, port: number, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port });
    const fail = (reason: string): void => {
      socket.destroy();
      reject(new SshLoginError(reason));
    };
    socket.setTimeout(timeoutMs, () => fail(`no answer on ${host}:${port} within ${timeoutMs} ms`));
    socket.once('connect', () => {
      socket.end();
      resolve();
    });
    socket.once('error', (error: NodeJS.ErrnoException) =>
      fail(error.code === 'ECONNREFUSED' ? `nothing listening on ${host}:${port} (sshd not up)` : `${host}:${port}: ${error.message}`),
    );
  });
}
