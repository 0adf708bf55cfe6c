import { createHash } from 'node:crypto';

/** Ports the coordinator tries in turn, and the workers in the same order. */
export const CHANNEL_PORT_CANDIDATES = 8;
/**
 * Below Linux's ephemeral range (32768+), where an outgoing connection may hold any port, and apart
 * from the sshd (10000–19999) and MASTER_PORT (20000–29999) ranges.
 */
const RANGE_START = 30_000;
const RANGE_SIZE = 2_700;

/**
 * The control channel's ports for one job step: every node computes the same list. Two job steps
 * start at different places of the range; a taken port (a squatter, another job) makes the
 * coordinator take the next, and the workers find it by trying the list in order.
 */
export function channelPorts(jobId: string, stepId: string): number[] {
  const digest = createHash('sha256').update(`${jobId}.${stepId}`).digest();
  const start = digest.readUInt32BE(0) % RANGE_SIZE;
  // a stride coprime with the range size visits distinct ports
  const stride = 911;
  return Array.from({ length: CHANNEL_PORT_CANDIDATES }, (_, k) => RANGE_START + ((start + k * stride) % RANGE_SIZE));
}
