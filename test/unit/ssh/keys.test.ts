import { execa } from 'execa';
import { createPrivateKey, createPublicKey } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ssh2 from 'ssh2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeEd25519, generateEd25519, generateKeyPair, keyBlob } from '../../../src/ssh/keys.js';

/** Reads an unencrypted OpenSSH ed25519 private key file back into its parts (PROTOCOL.key). */
function decodeOpenSsh(file: string) {
  const body = Buffer.from(file.replace(/-----[A-Z ]+-----/g, '').replace(/\s+/g, ''), 'base64');
  let at = 'openssh-key-v1\0'.length;
  const u32 = () => ((at += 4), body.readUInt32BE(at - 4));
  const str = () => {
    const n = u32();
    at += n;
    return body.subarray(at - n, at);
  };
  expect([str().toString(), str().toString(), str().length, u32()]).toEqual(['none', 'none', 0, 1]);
  str(); // the public blob, repeated inside
  const section = str();
  at = body.length - section.length; // read the private section in place
  const checkInt = u32();
  expect(u32()).toBe(checkInt);
  expect(str().toString()).toBe('ssh-ed25519');
  const publicKey = Buffer.from(str());
  const both = str();
  return { publicKey, seed: Buffer.from(both.subarray(0, 32)), comment: str().toString(), checkInt };
}

let dir: string;
/** A key ssh-keygen cannot read makes it ask for a passphrase on its input: with none, it fails at once instead of waiting. */
const SSH_KEYGEN = { stdin: 'ignore', timeout: 20_000 } as const;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'srun-docker-keys-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** The public key line OpenSSH derives from a private key file. */
async function derivedPublicKey(name: string, privateKey: string): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, privateKey, { mode: 0o600 });
  return (await execa('ssh-keygen', ['-y', '-f', path], SSH_KEYGEN)).stdout.trim().split(/\s+/).slice(0, 2).join(' ');
}

describe('ed25519 keys in OpenSSH format', () => {
  it.each<[string, string, string | undefined]>([
    ['type and key', `ssh-ed25519 ${Buffer.from('key-bytes').toString('base64')}`, 'key-bytes'],
    ['with a comment', `ssh-ed25519 ${Buffer.from('key-bytes').toString('base64')} srun-docker-host\n`, 'key-bytes'],
    ['no key at all', '', undefined],
    ['a type alone', 'ssh-ed25519', undefined],
  ])('keyBlob of a public key line: %s', (_name, line, blob) => {
    expect(keyBlob(line)?.toString()).toBe(blob);
  });

  it('writes the same bytes as ssh-keygen for the same key, check word and comment', async () => {
    for (const comment of ['srun-docker-host', 'alice@node1', 'c', '']) {
      const path = join(dir, `keygen-${comment.length}`);
      await execa('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', comment, '-f', path], SSH_KEYGEN);
      const [privateKey, publicKey] = await Promise.all([readFile(path, 'utf8'), readFile(`${path}.pub`, 'utf8')]);
      const ours = encodeEd25519(decodeOpenSsh(privateKey));
      expect(ours.privateKey).toBe(privateKey);
      expect(ours.publicKey).toBe(publicKey.trim());
    }
  });

  it('keeps the leading zero byte of a public key (ssh2 1.17 dropped it, and OpenSSH refused the key)', async () => {
    let parts: { publicKey: Buffer; seed: Buffer } | undefined;
    // one key in 256 starts with 0x00; 5,000 tries miss it with probability ~1e-9
    for (let i = 0; i < 5000 && parts === undefined; i += 1) {
      const made = generateEd25519('zero');
      if (made.publicKey[0] === 0) parts = made;
    }
    if (parts === undefined) throw new Error('no public key starting with 0x00 in 5,000 keys');
    const keys = encodeEd25519({ ...parts, comment: 'zero', checkInt: 7 });
    expect(keyBlob(keys.publicKey)?.length).toBe(51);
    expect(await derivedPublicKey('zero', keys.privateKey)).toBe(keys.publicKey.split(' ').slice(0, 2).join(' '));
  });

  it('new pairs: OpenSSH and ssh2 load the private keys and derive the same public keys', async () => {
    const pairs = Array.from({ length: 5 }, (_, i) => generateKeyPair(`key-${i}`));
    for (const [i, keys] of pairs.entries()) {
      expect(await derivedPublicKey(`k${i}`, keys.privateKey)).toBe(keys.publicKey.split(' ').slice(0, 2).join(' '));
      const parsed = ssh2.utils.parseKey(keys.privateKey);
      if (parsed instanceof Error || Array.isArray(parsed)) throw new Error(`ssh2 could not parse key ${i}`);
      expect(parsed.getPublicSSH().toString('base64')).toBe(keys.publicKey.split(' ')[1]);
      expect(parsed.comment).toBe(`key-${i}`);
    }
  });

  it("the raw parts are the key's own: its seed derives its public key (what the JWK export gave, without that export)", () => {
    for (let i = 0; i < 20; i += 1) {
      const { seed, publicKey } = generateEd25519('c');
      // the seed alone, as PKCS #8 (RFC 8410): the public key is derived from it, not copied
      const key = createPrivateKey({ key: Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), seed]), format: 'der', type: 'pkcs8' });
      const derived = createPublicKey(key).export({ format: 'der', type: 'spki' }).subarray(-32);
      expect(derived.equals(publicKey)).toBe(true);
      expect(seed.length).toBe(32);
    }
  });

  it('1,000 pairs are all different and all whole', () => {
    const pairs = Array.from({ length: 1000 }, () => generateKeyPair('srun-docker-host'));
    expect(new Set(pairs.map((p) => p.publicKey)).size).toBe(1000);
    expect(pairs.filter((p) => keyBlob(p.publicKey)?.length !== 51)).toEqual([]);
  });
});
