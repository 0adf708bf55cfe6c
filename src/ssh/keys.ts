import { LaunchError } from '../errors.js';
import type { FileSystem } from '../fs.js';
import { loadSsh2 } from './ssh2.js';

/** An ed25519 key pair: the private key in OpenSSH's own format, the public one as an authorized_keys line. */
export interface KeyPair {
  privateKey: string;
  publicKey: string;
}

/**
 * Made in this process (ssh2's OpenSSH-format writer over node:crypto): every node makes its own host
 * key at start, and one ssh-keygen process per key cost 10–20 ms of that start.
 */
export async function generateKeyPair(comment: string): Promise<KeyPair> {
  const { utils } = await loadSsh2();
  return new Promise((resolve, reject) => {
    utils.generateKeyPair('ed25519', { comment }, (error, keys) => {
      if (error) reject(new LaunchError(`could not make an ed25519 key: ${error.message}`));
      else resolve({ privateKey: keys.private, publicKey: keys.public.trim() });
    });
  });
}

/** Writes the pair as ssh-keygen would (`path` and `path.pub`), both private to the user; returns the public line. */
export async function writeKeyPair(path: string, comment: string, fs: FileSystem): Promise<string> {
  const keys = await generateKeyPair(comment);
  await Promise.all([fs.writeFile(path, keys.privateKey, 0o600), fs.writeFile(`${path}.pub`, `${keys.publicKey}\n`, 0o600)]);
  return keys.publicKey;
}
