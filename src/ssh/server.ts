import { quote } from 'shell-quote';
import type { SshMode } from '../plan/run-options.js';
import { UsageError } from '../platform/errors.js';
import { BUILTIN_BINARY } from './builtin.js';

/** Which ssh a job uses: the image's OpenSSH, or the built-in Dropbear (builtin.ts). */
export type { SshMode } from '../plan/run-options.js';
export type SshKind = 'image' | 'builtin';

/** What the image holds, as far as the choice goes (looked up without running it: container.ts). */
export const OPENSSH_SERVER = '/usr/sbin/sshd';
export const OPENSSH_CLIENTS = ['/usr/bin/ssh', '/bin/ssh', '/usr/local/bin/ssh'] as const;

export interface SshChoice {
  kind: SshKind;
  /** One line for --dry-run and --verbose: which and why. */
  reason: string;
}

/** Pure: --ssh and the image's paths → which ssh. `auto` takes the image's OpenSSH only when it has both server and client. */
export function chooseSsh(mode: SshMode, present: ReadonlySet<string>, image: string): SshChoice {
  const server = present.has(OPENSSH_SERVER);
  const client = OPENSSH_CLIENTS.find((path) => present.has(path));
  if (mode === 'builtin') return { kind: 'builtin', reason: '--ssh=builtin: the built-in ssh (Dropbear), whatever the image has' };
  if (mode === 'image') {
    if (!server || client === undefined) {
      throw new UsageError(`--ssh=image, but ${image} has no ${!server ? OPENSSH_SERVER : 'ssh client'} — use --ssh=auto (the built-in ssh where the image has none) or install openssh-server and openssh-client in the image`);
    }
    return { kind: 'image', reason: `--ssh=image: the image's OpenSSH (${OPENSSH_SERVER}, ${client})` };
  }
  if (server && client !== undefined) return { kind: 'image', reason: `auto: the image has OpenSSH (${OPENSSH_SERVER}, ${client})` };
  const missing = [...(server ? [] : [OPENSSH_SERVER]), ...(client === undefined ? ['ssh client'] : [])].join(' or ');
  return { kind: 'builtin', reason: `auto: the image has no ${missing}; the built-in ssh (Dropbear) is mounted at ${BUILTIN_BINARY}` };
}

export function parseSshMode(value: string | undefined): SshMode {
  const text = value ?? 'auto';
  if (text === 'auto' || text === 'image' || text === 'builtin') return text;
  throw new UsageError(`--ssh expects auto, image or builtin, got "${text}"`);
}

export interface ServerCommandInput {
  kind: SshKind;
  port: number;
  /** OpenSSH: the sshd_config. */
  sshdConfig: string;
  /** Built-in: the host key in Dropbear's format, and the directory of the job's authorized_keys. */
  dropbearHostKey: string;
  authorizedKeysDir: string;
  /** Built-in: the PATH every session gets (the server passes its environment on; OpenSSH has SetEnv). */
  sessionPath: string;
  uid: number;
}

/**
 * Pure: the shell command that replaces the container's watchdog subshell with the ssh server (the
 * watchdog evaluates it: container-command.ts). The server stays in the foreground, logs to stderr.
 */
export function serverCommandLine(input: ServerCommandInput): string {
  if (input.kind === 'image') return `exec ${quote([OPENSSH_SERVER, '-D', '-e', '-f', input.sshdConfig, '-p', String(input.port)])}`;
  const args = [
    BUILTIN_BINARY, 'dropbear',
    // foreground, log to stderr, sessions get this environment, no port forwarding (passwords are compiled out)
    '-F', '-E', '-e', '-j', '-k',
    '-p', String(input.port),
    '-r', input.dropbearHostKey,
    // srun-docker's patch: authorized_keys from the job directory, never ~/.ssh
    '-D', input.authorizedKeysDir,
    // root only when the job itself runs as root (the caller is root)
    ...(input.uid === 0 ? [] : ['-w']),
  ];
  return `PATH=${quote([input.sessionPath])} exec ${quote(args)}`;
}
