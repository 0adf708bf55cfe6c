import { createServer } from 'node:net';
import { LaunchError } from './errors.js';

/**
 * sshd's port when the user gave none: derived from the job and step ids so every node computes the
 * same one, and two job steps on one node get different ones. Kept below Linux's ephemeral range
 * (32768+) so an outgoing connection cannot be holding it.
 */
export function defaultSshdPort(jobId: string, stepId: string): number {
  return 10_000 + (hashIds(jobId, stepId) % 10_000);
}

/** torch.distributed's rendezvous port: derived from the job id, in a range disjoint from sshd's. */
export function masterPort(jobId: string): number {
  return 20_000 + (hashIds(jobId, '') % 10_000);
}

function hashIds(jobId: string, stepId: string): number {
  const job = /^\d+$/.test(jobId) ? Number(jobId) : fnv1a(jobId);
  const step = /^\d+$/.test(stepId) ? Number(stepId) : fnv1a(stepId);
  // consecutive job ids (the common case of two jobs sharing a node) land on different ports
  return (job * 7 + step * 101) >>> 0;
}

function fnv1a(text: string): number {
  let hash = 0x811c9dc5;
  for (const ch of text) hash = Math.imul(hash ^ ch.charCodeAt(0), 0x01000193) >>> 0;
  return hash;
}

export class PortInUseError extends LaunchError {
  override readonly name = 'PortInUseError';
  constructor(
    readonly port: number,
    readonly node: string,
  ) {
    super(`port ${port} is already in use on ${node} — pass another --sshdport, or leave it out to use one derived from the job id`);
  }
}

/** The containers use the host network, so a free host port is a free container port. */
export async function assertPortFree(port: number, node: string): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const server = createServer();
    server.once('error', (error: NodeJS.ErrnoException) => {
      reject(error.code === 'EADDRINUSE' ? new PortInUseError(port, node) : error);
    });
    server.listen({ port, host: '0.0.0.0', exclusive: true }, () => server.close(() => resolve()));
  });
}
