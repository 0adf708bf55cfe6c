import { execa } from 'execa';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { LaunchError } from '../../src/errors.js';
import { generateKeyPair, keyBlob, type KeyPair } from '../../src/ssh/keys.js';

const blob = (keyBytes: number) => {
  const type = Buffer.from('ssh-ed25519');
  const length = (n: number) => Buffer.from([0, 0, 0, n]);
  return Buffer.concat([length(type.length), type, length(keyBytes), Buffer.alloc(keyBytes, 7)]).toString('base64');
};
const pair = (keyBytes: number): KeyPair => ({ privateKey: `private-${keyBytes}`, publicKey: `ssh-ed25519 ${blob(keyBytes)} c` });

describe('generateKeyPair', () => {
  it.each<[string, string, string | undefined]>([
    ['type and key', `ssh-ed25519 ${Buffer.from('key-bytes').toString('base64')}`, 'key-bytes'],
    ['with a comment', `ssh-ed25519 ${Buffer.from('key-bytes').toString('base64')} srun-docker-host\n`, 'key-bytes'],
    ['no key at all', '', undefined],
    ['a type alone', 'ssh-ed25519', undefined],
  ])('keyBlob of a public key line: %s', (_name, line, blob) => {
    expect(keyBlob(line)?.toString()).toBe(blob);
  });

  it('keyBlob measures the whole ed25519 blob (51 bytes), and the one ssh2 cut short (50)', () => {
    expect(keyBlob(pair(32).publicKey)?.length).toBe(51);
    expect(keyBlob(pair(31).publicKey)?.length).toBe(50);
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
    expect(pairs.filter((p) => keyBlob(p.publicKey)?.length !== 51)).toEqual([]);
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
