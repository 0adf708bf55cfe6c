import { generateKeyPairSync, randomBytes } from 'node:crypto';
import type { FileSystem } from '../platform/fs.js';

/** An ed25519 key pair: the private key in OpenSSH's own format, the public one as an authorized_keys line. */
export interface KeyPair {
  privateKey: string;
  publicKey: string;
}

/** The raw parts of an ed25519 key, as OpenSSH stores them. */
export interface Ed25519Parts {
  /** 32 bytes. */
  publicKey: Buffer;
  /** The 32-byte private seed. */
  seed: Buffer;
  comment: string;
  /** OpenSSH's two equal check words, which tell a wrong passphrase from a right one. */
  checkInt: number;
}

const KEY_TYPE = 'ssh-ed25519';
/** The "none" cipher's block size: the private section is padded to a multiple of it. */
const BLOCK_BYTES = 8;

/**
 * A new pair, made in this process by node:crypto: every node makes its own host key as it starts,
 * and neither ssh-keygen (a process, 10–20 ms) nor ssh2's writer (loading ssh2 costs a node's start
 * ~50 ms of CPU, and 1.17 drops the leading byte of one public key in 256, which OpenSSH then
 * refuses) is on that path. The format is OpenSSH's PROTOCOL.key, unencrypted.
 */
export function generateKeyPair(comment: string): KeyPair {
  return encodeEd25519(generateEd25519(comment));
}

/** A new key's raw parts, for writers of more than one format (OpenSSH's, and Dropbear's for the built-in ssh). */
export function generateEd25519(comment: string): Ed25519Parts {
  // DER straight out of the generation, never a KeyObject exported afterwards: in Node 20 a GC
  // inside `privateKey.export({ format: 'jwk' })` can run the generation job's destructor, which
  // locks the key the export holds, and the process hangs for good (caught with gdb in a test run:
  // ExportJWKEdKey → CollectGarbage → ~KeyGenJob → uv_mutex_lock, 1 hang in ~3 CI runs of ~6,000 keys)
  const { publicKey, privateKey } = generateKeyPairSync('ed25519', {
    publicKeyEncoding: { type: 'spki', format: 'der' },
    privateKeyEncoding: { type: 'pkcs8', format: 'der' },
  });
  return {
    publicKey: rawKey(publicKey, ED25519_SPKI_PREFIX),
    seed: rawKey(privateKey, ED25519_PKCS8_PREFIX),
    comment,
    checkInt: randomBytes(4).readUInt32BE(0),
  };
}

/** RFC 8410: the DER of an Ed25519 public key (SubjectPublicKeyInfo) and private key (PKCS #8) before their 32 raw bytes. */
const ED25519_SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');
const ED25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');

function rawKey(der: Buffer, prefix: Buffer): Buffer {
  if (der.length !== prefix.length + 32 || !der.subarray(0, prefix.length).equals(prefix)) {
    throw new Error(`an Ed25519 key in an unexpected DER form (${der.length} bytes)`);
  }
  return Buffer.from(der.subarray(prefix.length));
}

/**
 * Pure: the key as Dropbear's own private key file holds it (what `dropbearkey -t ed25519` writes):
 * the type, then seed and public key as one 64-byte string, no armour. Dropbear 2022.83 reads only this.
 */
export function encodeDropbearEd25519(parts: Ed25519Parts): Buffer {
  return Buffer.concat([sshString(KEY_TYPE), sshString(Buffer.concat([parts.seed, parts.publicKey]))]);
}

/** Pure: the pair in the files ssh-keygen writes (`-----BEGIN OPENSSH PRIVATE KEY-----` and the `.pub` line). */
export function encodeEd25519(parts: Ed25519Parts): KeyPair {
  const publicBlob = Buffer.concat([sshString(KEY_TYPE), sshString(parts.publicKey)]);
  const section = Buffer.concat([
    uint32(parts.checkInt),
    uint32(parts.checkInt),
    sshString(KEY_TYPE),
    sshString(parts.publicKey),
    // OpenSSH keeps the seed and the public key together as the 64-byte "private key"
    sshString(Buffer.concat([parts.seed, parts.publicKey])),
    sshString(parts.comment),
  ]);
  const padding = Buffer.from(Array.from({ length: (BLOCK_BYTES - (section.length % BLOCK_BYTES)) % BLOCK_BYTES }, (_, i) => i + 1));
  const body = Buffer.concat([
    Buffer.from('openssh-key-v1\0'),
    sshString('none'),
    sshString('none'),
    sshString(''),
    uint32(1),
    sshString(publicBlob),
    sshString(Buffer.concat([section, padding])),
  ]);
  const lines = body.toString('base64').match(/.{1,70}/g) ?? [];
  return {
    privateKey: ['-----BEGIN OPENSSH PRIVATE KEY-----', ...lines, '-----END OPENSSH PRIVATE KEY-----', ''].join('\n'),
    publicKey: [KEY_TYPE, publicBlob.toString('base64'), ...(parts.comment === '' ? [] : [parts.comment])].join(' '),
  };
}

/** Writes the pair as ssh-keygen would (`path` and `path.pub`), both private to the user; returns the public line. */
export async function writeKeyPair(path: string, comment: string, fs: FileSystem, dropbearPath?: string): Promise<string> {
  const parts = generateEd25519(comment);
  const keys = encodeEd25519(parts);
  await Promise.all([
    fs.writeFile(path, keys.privateKey, 0o600),
    fs.writeFile(`${path}.pub`, `${keys.publicKey}\n`, 0o600),
    // the same key in Dropbear's format, for the built-in ssh
    ...(dropbearPath === undefined ? [] : [fs.writeFile(dropbearPath, encodeDropbearEd25519(parts), 0o600)]),
  ]);
  return keys.publicKey;
}

/** The key blob of a public key line (`type base64 [comment]`, as in authorized_keys): what ssh2 hands to hostVerifier. */
export function keyBlob(publicKey: string): Buffer | undefined {
  const [type, key] = keyFields(publicKey);
  return type === undefined || key === undefined ? undefined : Buffer.from(key, 'base64');
}

/** A public key line without its comment (`type base64`), as known_hosts pins it. */
export function keyOnly(publicKey: string): string {
  const [type, key] = keyFields(publicKey);
  return `${type ?? ''} ${key ?? ''}`;
}

function keyFields(publicKey: string): (string | undefined)[] {
  return publicKey.trim().split(/\s+/);
}

function uint32(value: number): Buffer {
  const bytes = Buffer.alloc(4);
  bytes.writeUInt32BE(value >>> 0, 0);
  return bytes;
}

/** RFC 4251's string: a 32-bit length, then the bytes. */
function sshString(value: string | Buffer): Buffer {
  const bytes = typeof value === 'string' ? Buffer.from(value) : value;
  return Buffer.concat([uint32(bytes.length), bytes]);
}
