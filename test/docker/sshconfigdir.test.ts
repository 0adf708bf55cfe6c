import { execa } from 'execa';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JOB_IMAGE, runCli, testUser } from '../support/cli.js';
import { containersOf } from '../support/docker.js';

/**
 * The original launcher's mode: `srun-docker ssh-setup` makes the directory and prints the
 * ~/.ssh/config block; the user's own key and ~/.ssh/config then reach the containers' sshd.
 */
const user = testUser();
const sshDir = join(user.home, '.ssh');
let work: string;
let backup: Map<string, string | undefined>;
let hadSshDir = false;
const PORT = 12399;

function own(path: string): void {
  chownSync(path, user.uid, user.gid);
}

beforeAll(async () => {
  work = mkdtempSync(join(user.home, 'sshconfigdir-'));
  own(work);
  // the test user's own ~/.ssh is the thing under test here: keep what was there, restore it after
  hadSshDir = existsSync(sshDir);
  backup = new Map(['config', 'authorized_keys', 'id_ed25519', 'id_ed25519.pub'].map((f) => [f, existsSync(join(sshDir, f)) ? readFileSync(join(sshDir, f), 'utf8') : undefined]));
  mkdirSync(sshDir, { recursive: true, mode: 0o700 });
  own(sshDir);
  rmSync(join(sshDir, 'id_ed25519'), { force: true });
  rmSync(join(sshDir, 'id_ed25519.pub'), { force: true });
  await execa('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(sshDir, 'id_ed25519')]);
  writeFileSync(join(sshDir, 'authorized_keys'), readFileSync(join(sshDir, 'id_ed25519.pub')), { mode: 0o600 });
  for (const f of ['id_ed25519', 'id_ed25519.pub', 'authorized_keys']) own(join(sshDir, f));
});

afterAll(() => {
  for (const [file, text] of backup) {
    const path = join(sshDir, file);
    if (text === undefined) rmSync(path, { force: true });
    else writeFileSync(path, text);
  }
  if (!hadSshDir) rmSync(sshDir, { recursive: true, force: true });
  rmSync(work, { recursive: true, force: true });
});

describe('original mode: --sshconfigdir made by srun-docker ssh-setup', () => {
  it('ssh-setup writes the directory and prints a ~/.ssh/config block that pins its host key', async () => {
    const dir = join(work, 'mpisshconfig');
    const setup = await runCli(['ssh-setup', `--sshconfigdir=${dir}`, `--sshdport=${PORT}`, `--hosts=${hostname()}`], { cwd: work });
    expect(setup.exitCode, setup.all).toBe(0);
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    expect(statSync(join(dir, 'ssh_host_ed25519_key')).mode & 0o777).toBe(0o600);
    const sshd = readFileSync(join(dir, 'sshd_config'), 'utf8');
    expect(sshd).toContain(`Port ${PORT}`);
    expect(sshd).toContain(`AuthorizedKeysFile ${join(user.home, '.ssh', 'authorized_keys')}`);
    expect(sshd).toContain(`AllowUsers ${user.name}`);
    expect(setup.stdout).toContain(`Host ${hostname()}\n  Port ${PORT}\n  HostKeyAlias srun-docker-${user.name}`);
    expect(readFileSync(join(dir, 'known_hosts'), 'utf8')).toMatch(new RegExp(`^srun-docker-${user.name} ssh-ed25519 \\S+\\n$`));

    // stdout is the block and nothing else (`ssh-setup >> ~/.ssh/config` works); what to do next is on stderr
    expect(setup.stdout.startsWith('# srun-docker')).toBe(true);
    expect(setup.stdout).not.toContain('then run with');
    expect(setup.stderr).toContain(`then run with: srun srun-docker --sshconfigdir=${dir} --sshdport=${PORT}`);
    writeFileSync(join(sshDir, 'config'), setup.stdout, { mode: 0o600 });
    own(join(sshDir, 'config'));

    const job = join(work, 'job.sh');
    writeFileSync(job, '#!/bin/bash\nset -e\necho "sshconfigdir=$sshconfigdir sshdport=$sshdport"\nssh "$MASTER_ADDR" echo original-mode-ssh-ok\n');
    chmodSync(job, 0o755);
    own(job);
    const run = await runCli([`--container=${JOB_IMAGE}`, `--script=${job}`, `--sshconfigdir=${dir}`], { cwd: work });
    expect(run.exitCode, run.all).toBe(0);
    expect(run.stdout).toContain(`sshconfigdir=${dir} sshdport=${PORT}`);
    expect(run.stdout).toContain('original-mode-ssh-ok');
    expect(await containersOf(user.name)).toEqual([]);
  });

  it('a --sshconfigdir without an sshd_config: one line saying how to make it', async () => {
    const run = await runCli([`--container=${JOB_IMAGE}`, `--script=/bin/true`, `--sshconfigdir=${join(work, 'nothing-here')}`], { cwd: work });
    expect(run.exitCode).toBe(1);
    expect(run.stderr).toMatch(/sshd_config does not exist — create it with: srun-docker ssh-setup --sshconfigdir=/);
    expect(await containersOf(user.name)).toEqual([]);
  });
});
