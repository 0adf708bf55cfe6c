import { execa, type ResultPromise } from 'execa';
import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const PROJECT = fileURLToPath(new URL('../../', import.meta.url));
export const BIN = `${PROJECT}bin/srun-docker`;
export const JOB_IMAGE = process.env.SRUN_DOCKER_TEST_IMAGE ?? 'srun-docker/mpi:bookworm';
/** The non-root user the tests run srun-docker as (created by test/setup/ensure-test-user.sh). */
export const TEST_USER = process.env.SRUN_DOCKER_TEST_USER ?? 'srun-docker-test';

export interface TestUser {
  name: string;
  uid: number;
  gid: number;
  home: string;
}

export function testUser(): TestUser {
  if (process.getuid?.() !== 0) {
    const name = execFileSync('id', ['-un'], { encoding: 'utf8' }).trim();
    return { name, uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0, home: process.env.HOME ?? '/tmp' };
  }
  const line = execFileSync('getent', ['passwd', TEST_USER], { encoding: 'utf8' }).trim();
  const [name = '', , uid = '', gid = '', , home = ''] = line.split(':');
  return { name, uid: Number(uid), gid: Number(gid), home };
}

/**
 * Runs the built CLI as the test user (never as root: the containers must run as the caller).
 * The environment is given whole, so no SLURM variable of the test runner's leaks in.
 */
export function runCli(
  args: string[],
  /** timeoutMs: srun-docker is stopped (SIGTERM) after it, so that a test sees its output rather than its own timeout (default 180 s). */
  options: { cwd: string; env?: Record<string, string>; timeoutMs?: number; /** another copy of bin/srun-docker */ bin?: string },
): ResultPromise<{ reject: false; all: true }> {
  const user = testUser();
  const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: user.home, USER: user.name, LOGNAME: user.name, SRUN_DOCKER_PULL: 'never', ...options.env };
  const asUser = process.getuid?.() === 0 ? ['setpriv', `--reuid=${user.uid}`, `--regid=${user.gid}`, '--init-groups', '--'] : [];
  const [file = 'node', ...rest] = [...asUser, process.execPath, options.bin ?? BIN, ...args];
  return execa(file, rest, { cwd: options.cwd, env, extendEnv: false, reject: false, all: true, timeout: options.timeoutMs ?? 180_000 });
}

/** A bash job script owned by the test user, in a directory of theirs (the container mounts their home). */
export function writeJobScript(dir: string, name: string, body: string): string {
  const user = testUser();
  const path = join(dir, name);
  writeFileSync(path, `#!/bin/bash\n${body}\n`);
  chmodSync(path, 0o755);
  chownSync(path, user.uid, user.gid);
  return path;
}
