import { LaunchError } from '../errors.js';
import type { FileSystem } from '../fs.js';
import { loadSsh2 } from './ssh2.js';

/** An ed25519 key pair: the private key in OpenSSH's own format, the public one as an authorized_keys line. */
export interface KeyPair {
  privateKey: string;
  publicKey: string;
}

/** Makes one pair; the default is ssh2's OpenSSH-format writer over node:crypto. */
export type KeyMaker = (comment: string) => Promise<KeyPair>;

/** `ssh-ed25519` as an SSH string (4 + 11 bytes) and the 32-byte key as one (4 + 32). */
const ED25519_PUBLIC_BLOB_BYTES = 51;
const MAX_ATTEMPTS = 8;

/**
 * Made in this process: every node makes its own host key at start, and one ssh-keygen process per
 * key cost 10–20 ms of that start. ssh2 (1.17) drops the leading byte of a public key that starts with
 * 0x00 — one key in 256; OpenSSH then refuses the private key ("error in libcrypto") — so such a pair
 * is thrown away and made again.
 */
export async function generateKeyPair(comment: string, make: KeyMaker = ssh2KeyPair): Promise<KeyPair> {
  for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt += 1) {
    const keys = await make(comment);
    if (keyBlob(keys.publicKey)?.length === ED25519_PUBLIC_BLOB_BYTES) return keys;
  }
  throw new LaunchError(`could not make a well-formed ed25519 key in ${MAX_ATTEMPTS} attempts`);
}

/** Writes the pair as ssh-keygen would (`path` and `path.pub`), both private to the user; returns the public line. */
export async function writeKeyPair(path: string, comment: string, fs: FileSystem): Promise<string> {
  const keys = await generateKeyPair(comment);
  await Promise.all([fs.writeFile(path, keys.privateKey, 0o600), fs.writeFile(`${path}.pub`, `${keys.publicKey}\n`, 0o600)]);
  return keys.publicKey;
}

/** The key blob of a public key line (`type base64 [comment]`, as in authorized_keys): what ssh2 hands to hostVerifier. */
export function keyBlob(publicKey: string): Buffer | undefined {
  const [type, key] = publicKey.trim().split(/\s+/);
  return type === undefined || key === undefined ? undefined : Buffer.from(key, 'base64');
}

async function ssh2KeyPair(comment: string): Promise<KeyPair> {
  const { utils } = await loadSsh2();
  return new Promise((resolve, reject) => {
    utils.generateKeyPair('ed25519', { comment }, (error, keys) => {
      if (error) reject(new LaunchError(`could not make an ed25519 key: ${error.message}`));
      else resolve({ privateKey: keys.private, publicKey: keys.public.trim() });
    });
  });
}
