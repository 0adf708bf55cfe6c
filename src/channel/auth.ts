import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * Proofs of the job's secret, both ways: each side answers the other's random challenge with an
 * HMAC naming its role, so a proof can be neither replayed nor reflected back at its sender.
 */
export type Side = 'coordinator' | 'worker';

export function newSecret(): Buffer {
  return randomBytes(32);
}

export function newChallenge(): string {
  return randomBytes(16).toString('hex');
}

export function proof(secret: Buffer, side: Side, job: string, node: string, challenge: string): string {
  return createHmac('sha256', secret).update(`srun-docker/1\n${side}\n${job}\n${node}\n${challenge}`).digest('hex');
}

export function proofMatches(expected: string, given: unknown): boolean {
  if (typeof given !== 'string' || given.length !== expected.length) return false;
  return timingSafeEqual(Buffer.from(expected), Buffer.from(given));
}

/** The key of one worker's session: every message after the handshake carries a MAC under it. */
export function sessionKey(secret: Buffer, job: string, node: string, coordinatorChallenge: string, workerChallenge: string): Buffer {
  return createHmac('sha256', secret).update(`srun-docker/1\nsession\n${job}\n${node}\n${coordinatorChallenge}\n${workerChallenge}`).digest();
}

export function messageMac(key: Buffer, sequence: number, body: string): string {
  return createHmac('sha256', key).update(`${sequence}\n${body}`).digest('hex');
}
