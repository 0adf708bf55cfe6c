import { execa } from 'execa';
import { chmodSync, chownSync, copyFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildIdOf } from '../../src/platform/code-cache.js';
import { JOB_IMAGE, PROJECT, testUser } from '../support/cli.js';
import { containersOf } from '../support/docker.js';

const user = testUser();
const NOSSH_IMAGE = 'srun-docker/mpi-nossh:bookworm';
let prefix: string;
let work: string;

/** Runs a command as the test user with a clean environment (no dev tree on PATH). */
function asUser(file: string, args: string[], cwd: string) {
  const drop = process.getuid?.() === 0 ? ['setpriv', `--reuid=${user.uid}`, `--regid=${user.gid}`, '--init-groups', '--'] : [];
  const [cmd = file, ...rest] = [...drop, file, ...args];
  return execa(cmd, rest, {
    cwd,
    reject: false,
    extendEnv: false,
    env: { PATH: `${join(process.execPath, '..')}:/usr/bin:/bin`, HOME: user.home, USER: user.name, SRUN_DOCKER_PULL: 'never' },
    timeout: 120_000,
  });
}

beforeAll(async () => {
  prefix = mkdtempSync(join(tmpdir(), 'srun-docker-prefix-'));
  work = mkdtempSync(join(user.home, 'pack-'));
  writeFileSync(join(work, 'job.sh'), '#!/bin/bash\necho "packaged np=$np user=$(id -un)"\nexit 3\n');
  chmodSync(join(work, 'job.sh'), 0o755);
  chownSync(work, user.uid, user.gid);
  chownSync(join(work, 'job.sh'), user.uid, user.gid);
  // the built-in ssh, from an install with no compiler: a one-node job that logs in to its own node
  writeFileSync(join(work, 'ssh.sh'), `#!/bin/sh\nssh "$(hostname)" 'echo far side $(id -un)'\n`);
  chmodSync(join(work, 'ssh.sh'), 0o755);
  chownSync(join(work, 'ssh.sh'), user.uid, user.gid);
  const packed = await execa('npm', ['pack', '--pack-destination', prefix], { cwd: PROJECT });
  const tarball = join(prefix, packed.stdout.trim().split('\n').pop() ?? '');
  // production dependencies only: what a user gets from `npm install -g`
  await execa('npm', ['install', '-g', '--omit=dev', '--no-audit', '--no-fund', '--prefix', prefix, tarball], { cwd: prefix });
  chmodSync(prefix, 0o755);
}, 300_000);

afterAll(() => {
  rmSync(prefix, { recursive: true, force: true });
  rmSync(work, { recursive: true, force: true });
});

describe('packaging', () => {
  it('the packed package installs with production dependencies only and runs --help and a one-node job', async () => {
    const bin = join(prefix, 'bin', 'srun-docker');
    const devDeps = readdirSync(join(prefix, 'lib', 'node_modules', 'srun-docker', 'node_modules'));
    expect(devDeps).not.toContain('vitest');
    expect(devDeps).not.toContain('typescript');
    const help = await asUser(bin, ['--help'], work);
    expect(help.exitCode).toBe(0);
    expect(help.stdout).toContain('--container');
    const run = await asUser(bin, [`--container=${JOB_IMAGE}`, '--script=job.sh'], work);
    expect(run.stdout).toContain(`packaged np=1 user=${user.name}`);
    expect(run.exitCode).toBe(3);
    expect(await containersOf(user.name)).toEqual([]);
    // the installed command keeps the build's code cache where the README says: node-local, the user's alone
    const buildId = buildIdOf(readFileSync(join(PROJECT, 'dist', 'srun-docker.cjs'), 'utf8'));
    const cacheDir = join(tmpdir(), `srun-docker-code-cache-${user.uid}`);
    const info = statSync(cacheDir);
    expect([info.uid, info.mode & 0o777]).toEqual([user.uid, 0o700]);
    expect(readdirSync(cacheDir)).toEqual([`${buildId}-${process.version}-${process.arch}.v8cache`]);
    const again = await asUser(bin, ['--version'], work);
    expect(again.stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
    // the package carries the built-in ssh: an image without OpenSSH works from the install
    const builtin = await asUser(bin, [`--container=${NOSSH_IMAGE}`, '--script=ssh.sh'], work);
    expect(builtin.exitCode, builtin.stderr).toBe(0);
    expect(builtin.stdout).toContain(`far side ${user.name}`);
  });

  it('the single-file bundle runs alone, with no node_modules beside it', async () => {
    const alone = mkdtempSync(join(tmpdir(), 'srun-docker-bundle-'));
    try {
      // as the README says: copied to ~/bin/srun-docker, no extension, run directly (its shebang finds node)
      const bin = join(alone, 'srun-docker');
      copyFileSync(join(PROJECT, 'dist', 'srun-docker.cjs'), bin);
      chmodSync(alone, 0o755);
      chmodSync(bin, 0o755);
      const version = await asUser(bin, ['--version'], work);
      expect(version.stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
      const run = await asUser(bin, [`--container=${JOB_IMAGE}`, '--script=job.sh'], work);
      expect(run.stdout).toContain(`packaged np=1 user=${user.name}`);
      expect(run.exitCode).toBe(3);
      expect(await containersOf(user.name)).toEqual([]);
      // the built-in ssh is the second file to copy: without it, one clear line
      const missing = await asUser(bin, [`--container=${NOSSH_IMAGE}`, '--script=ssh.sh'], work);
      expect(missing.exitCode).toBe(1);
      expect(missing.stderr).toMatch(/the built-in ssh .*dropbearmulti is missing — it ships beside srun-docker/);
      copyFileSync(join(PROJECT, 'dist', 'dropbearmulti'), join(alone, 'dropbearmulti'));
      chmodSync(join(alone, 'dropbearmulti'), 0o755);
      const builtin = await asUser(bin, [`--container=${NOSSH_IMAGE}`, '--script=ssh.sh'], work);
      expect(builtin.exitCode, builtin.stderr).toBe(0);
      expect(builtin.stdout).toContain(`far side ${user.name}`);
      expect(await containersOf(user.name)).toEqual([]);
    } finally {
      rmSync(alone, { recursive: true, force: true });
    }
  });
});
