import { join } from 'node:path';
import { LaunchError } from '../platform/errors.js';
import type { FileSystem } from '../platform/fs.js';
import type { CommandRunner } from '../platform/runner.js';
import { permitRootLogin } from './material.js';
import { loadTemplate, renderTemplate } from './template.js';

export interface SshSetupInput {
  sshconfigdir: string;
  port: number;
  user: string;
  uid: number;
  home: string;
  /** Host pattern for the ~/.ssh/config block: your compute nodes, e.g. "dgx* node*". */
  hosts: string;
}

/**
 * The original launcher's mode, made for you: a directory with a host key and an sshd_config rendered
 * from sshconfig-templates/, plus the ~/.ssh/config block that pins that host key. Returns the block.
 */
export async function sshSetup(input: SshSetupInput, runner: CommandRunner, fs: FileSystem): Promise<string> {
  const dir = input.sshconfigdir;
  const hostKey = join(dir, 'ssh_host_ed25519_key');
  await fs.mkdir(dir, 0o700);
  if (!(await fs.exists(hostKey))) {
    const keygen = await runner.run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'srun-docker-host', '-f', hostKey]);
    if (keygen.exitCode !== 0) throw new LaunchError(`ssh-keygen failed: ${keygen.stderr.trim()} — install openssh-client`);
  }
  const hostPub = (await fs.readFile(`${hostKey}.pub`)) ?? '';
  const [type, key] = hostPub.trim().split(/\s+/);
  const [sshd, block] = await Promise.all([loadTemplate('sshd_config'), loadTemplate('ssh_config_block')]);
  await fs.writeFile(
    join(dir, 'sshd_config'),
    renderTemplate(sshd, {
      PORT: String(input.port),
      HOST_KEY: hostKey,
      AUTHORIZED_KEYS: join(input.home, '.ssh', 'authorized_keys'),
      USER: input.user,
      PERMIT_ROOT_LOGIN: permitRootLogin(input.uid),
      SET_ENV: '',
    }),
    0o600,
  );
  await fs.writeFile(join(dir, 'known_hosts'), `srun-docker-${input.user} ${type ?? ''} ${key ?? ''}\n`, 0o600);
  return renderTemplate(block, { HOSTS: input.hosts, PORT: String(input.port), USER: input.user, SSHCONFIGDIR: dir });
}

/** The `Port` an sshd_config names: in --sshconfigdir mode it is the port unless --sshdport says otherwise. */
export async function configuredPort(sshdConfigPath: string, fs: FileSystem): Promise<number | undefined> {
  const text = await fs.readFile(sshdConfigPath);
  const match = text === undefined ? null : /^\s*Port\s+(\d+)\s*$/im.exec(text);
  return match?.[1] === undefined ? undefined : Number(match[1]);
}
