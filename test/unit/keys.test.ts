import { execa } from 'execa';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { LaunchError } from '../../src/errors.js';
import { generateKeyPair, publicBlobBytes, type KeyPair } from '../../src/ssh/keys.js';

const blob = (keyBytes: number) => {
  const type = Buffer.from('ssh-ed25519');
  const length = (n: number) => Buffer.from([0, 0, 0, n]);
  return Buffer.concat([length(type.length), type, length(keyBytes), Buffer.alloc(keyBytes, 7)]).toString('base64');
};
const pair = (keyBytes: number): KeyPair => ({ privateKey: `private-${keyBytes}`, publicKey: `ssh-ed25519 ${blob(keyBytes)} c` });

describe('generateKeyPair', () => {
  it('publicBlobBytes measures the key blob of an authorized_keys line', () => {
    expect(publicBlobBytes(pair(32).publicKey)).toBe(51);
    expect(publicBlobBytes(pair(31).publicKey)).toBe(50);
    expect(publicBlobBytes('ssh-ed25519')).toBe(0);
  });

  it('throws away a pair whose public key lost its leading zero byte, and makes another', async () => {
    const made = [pair(31), pair(31), pair(32)];
    let calls = 0;
    const keys = await generateKeyPair('c', () => Promise.resolve(made[calls++] ?? pair(32)));
    expect(calls).toBe(3);
    expect(keys).toEqual(pair(32));
  });

  it('gives up with a LaunchError after 8 bad pairs', async () => {
    let calls = 0;
    const error = await generateKeyPair('c', () => (calls++, Promise.resolve(pair(31)))).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(LaunchError);
    expect(calls).toBe(8);
  });

  it('3,000 real pairs: every public key blob is whole (ssh2 alone gets ~12 of 3,000 wrong)', async () => {
    const pairs = await Promise.all(Array.from({ length: 3000 }, () => generateKeyPair('srun-docker-host')));
    expect(pairs.filter((p) => publicBlobBytes(p.publicKey) !== 51)).toEqual([]);
    expect(new Set(pairs.map((p) => p.publicKey)).size).toBe(3000);
  });

  it('OpenSSH loads the private keys and derives the same public keys', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'srun-docker-keys-'));
    try {
      for (let i = 0; i < 5; i += 1) {
        const keys = await generateKeyPair(`key-${i}`);
        const path = join(dir, `k${i}`);
        await writeFile(path, keys.privateKey, { mode: 0o600 });
        const derived = await execa('ssh-keygen', ['-y', '-f', path]);
        expect(derived.stdout.trim().split(/\s+/).slice(0, 2)).toEqual(keys.publicKey.split(/\s+/).slice(0, 2));
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
