import { execa } from 'execa';
import { chownSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JOB_IMAGE, PROJECT, testUser, writeJobScript } from '../support/cli.js';
import { containersOf } from '../support/docker.js';

/**
 * SLURM's job_container/tmpfs gives each job a private /tmp: the daemon, outside the job, cannot see
 * it. Emulated for real: srun-docker runs in a mount namespace of its own with a fresh tmpfs on /tmp
 * (unshare -m), so that nothing it puts there can be mounted into its container. Milder than SLURM in
 * one way only: the namespace is made here, as root, not by slurmstepd. srun-docker runs from a copy
 * of its package in the user's home: a checkout under /tmp (a CI clone) is hidden by that tmpfs.
 */
const user = testUser();
let work: string;
let bin: string;

beforeAll(() => {
  work = mkdtempSync(join(user.home, 'private-tmp-'));
  chownSync(work, user.uid, user.gid);
  for (const dir of ['bin', 'dist']) mkdirSync(join(work, 'pkg', dir), { recursive: true });
  for (const file of ['bin/srun-docker', 'bin/package.json', 'dist/launch.cjs', 'dist/srun-docker.cjs', 'dist/dropbearmulti']) {
    if (existsSync(join(PROJECT, file))) copyFileSync(join(PROJECT, file), join(work, 'pkg', file));
  }
  bin = join(work, 'pkg', 'bin', 'srun-docker');
});

afterAll(() => {
  rmSync(work, { recursive: true, force: true });
});

describe('a job whose /tmp the daemon cannot see (per-job /tmp)', () => {
  it.skipIf(process.getuid?.() !== 0)('runs: its passwd, group and control FIFO live in the job directory, not in /tmp', async () => {
    const job = writeJobScript(work, 'tmp.sh', 'echo "me=$(id -un) home=$HOME"; ssh "$(hostname)" true && echo "ssh ok"; exit 3');
    const inner = ['mount -t tmpfs tmpfs /tmp', `exec setpriv --reuid=${user.uid} --regid=${user.gid} --init-groups -- "$@"`].join(' && ');
    const run = await execa('unshare', ['-m', '--propagation', 'private', '--', 'sh', '-c', inner, 'sh', process.execPath, bin, `--container=${JOB_IMAGE}`, `--script=${job}`], {
      cwd: work,
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: user.home, USER: user.name, LOGNAME: user.name, SRUN_DOCKER_PULL: 'never' },
      extendEnv: false,
      reject: false,
      all: true,
      timeout: 120_000,
    });
    expect(run.exitCode, run.all).toBe(3);
    expect(run.stdout).toContain(`me=${user.name} home=${user.home}`);
    expect(run.stdout).toContain('ssh ok');
    expect(await containersOf(user.name)).toEqual([]);
    const jobs = join(user.home, '.srun-docker', 'jobs');
    expect(existsSync(jobs) ? readdirSync(jobs) : []).toEqual([]);
  });
});
