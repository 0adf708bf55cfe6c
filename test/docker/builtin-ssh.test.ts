import { chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { JOB_IMAGE, runCli, testUser } from '../support/cli.js';
import { containersOf, removeAllOf } from '../support/docker.js';

/** Images srun-docker brings its own ssh into (test/images/build.sh makes both). */
const NOSSH_IMAGE = 'srun-docker/mpi-nossh:bookworm';
const BUSYBOX_IMAGE = 'srun-docker/busybox:static';

const user = testUser();
let work: string;

/** A POSIX sh job script (the busybox image has no bash), owned by the test user. */
function shScript(name: string, body: string): string {
  const path = join(work, name);
  writeFileSync(path, `#!/bin/sh\n${body}\n`);
  chmodSync(path, 0o755);
  chownSync(path, user.uid, user.gid);
  return path;
}

function jobDirs(): string[] {
  const root = join(user.home, '.srun-docker', 'jobs');
  return existsSync(root) ? readdirSync(root) : [];
}

beforeAll(async () => {
  await removeAllOf(user.name);
  work = mkdtempSync(join(user.home, 'builtin-ssh-'));
  chownSync(work, user.uid, user.gid);
});

afterEach(async () => {
  expect((await containersOf(user.name)).map((c) => c.Names[0])).toEqual([]);
  expect(jobDirs()).toEqual([]);
});

afterAll(async () => {
  await removeAllOf(user.name);
  rmSync(work, { recursive: true, force: true });
});


// ssh to its own node, the uid on the far side, scp there and back, the --envlist variable, OpenSSH-style options
const SSH_JOB = [
  'h=$(hostname)',
  "ssh \"$h\" 'echo far uid=$(id -u) MYVAR=$MYVAR np=$np rank=$NODE_RANK'",
  'echo "ssh rc=$?"',
  'echo payload >"$HOME/.cache-src-$$"',
  'scp "$HOME/.cache-src-$$" "$h:/tmp/there.txt" && scp "$h:/tmp/there.txt" /tmp/back.txt && echo "scp back: $(cat /tmp/back.txt)"',
  'rm -f "$HOME/.cache-src-$$"',
  'ssh -x -q -p "$sshdport" -o StrictHostKeyChecking=no -o BatchMode=yes -F /dev/null "$h" exit 4; echo "far exit=$?"',
  'exit 6',
].join('\n');

describe('the built-in ssh (Dropbear) in images without OpenSSH', () => {
  it.each([
    ['OpenSSH purged', NOSSH_IMAGE],
    ['nothing but a static busybox (no glibc, no bash)', BUSYBOX_IMAGE],
  ])('%s: ssh to itself, scp both ways, the exit code and the uid', async (_name, image) => {
    const job = shScript(`job-${image.replace(/\W/g, '_')}.sh`, SSH_JOB);
    const result = await runCli([`--container=${image}`, `--script=${job}`, '--envlist=MYVAR', '--verbose'], { cwd: work, env: { MYVAR: 'from-host' } });
    expect(result.exitCode, result.all).toBe(6);
    expect(result.stderr).toContain('ssh: auto: the image has no /usr/sbin/sshd');
    expect(result.stdout).toContain(`far uid=${user.uid} MYVAR=from-host np=1 rank=0`);
    expect(result.stdout).toContain('ssh rc=0');
    expect(result.stdout).toContain('scp back: payload');
    expect(result.stdout).toContain('far exit=4');
    // the user's own ~/.ssh is never made, read or written
    expect(existsSync(join(user.home, '.ssh'))).toBe(false);
  });

  it.each([
    ['the built-in ssh', NOSSH_IMAGE],
    ["the image's OpenSSH", JOB_IMAGE],
  ])("%s never reads or writes the user's own ~/.ssh: a broken config, a wrong known host and a foreign key there change nothing", async (_name, image) => {
    const dir = join(user.home, '.ssh');
    const planted = new Map([
      ['config', 'Host *\n  Port 1\n  User nobody-here\n  BogusOption yes\n'],
      ['known_hosts', '* ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJbSdEvuq2+I1IVkZZgPMYvZ4Mf2lA7hYa1iHXQCJvmS\n'],
      ['authorized_keys', 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJbSdEvuq2+I1IVkZZgPMYvZ4Mf2lA7hYa1iHXQCJvmS stranger\n'],
    ]);
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { mode: 0o700 });
    for (const [name, text] of planted) writeFileSync(join(dir, name), text, { mode: 0o600 });
    for (const name of ['', ...planted.keys()]) chownSync(join(dir, name), user.uid, user.gid);
    try {
      const job = shScript(`own-ssh-${image.replace(/\W/g, '_')}.sh`, `ssh "$(hostname)" 'echo far ok'; echo "ssh rc=$?"`);
      const result = await runCli([`--container=${image}`, `--script=${job}`], { cwd: work });
      expect(result.exitCode, result.all).toBe(0);
      expect(result.stdout).toContain('far ok');
      expect(result.stdout).toContain('ssh rc=0');
      expect(readdirSync(dir).sort()).toEqual([...planted.keys()].sort());
      for (const [name, text] of planted) expect(readFileSync(join(dir, name), 'utf8'), name).toBe(text);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('--ssh=builtin in an image that has OpenSSH; --ssh=image where it has none is a clear error', async () => {
    const job = shScript('builtin.sh', `ssh "$(hostname)" 'readlink /proc/$PPID/exe; echo far ok'`);
    const builtin = await runCli([`--container=${JOB_IMAGE}`, `--script=${job}`, '--ssh=builtin'], { cwd: work });
    expect(builtin.exitCode, builtin.all).toBe(0);
    expect(builtin.stdout).toContain('/.srun-docker/ssh/dropbearmulti');
    expect(builtin.stdout).toContain('far ok');
    const image = await runCli([`--container=${NOSSH_IMAGE}`, `--script=${job}`], { cwd: work, env: { SRUN_DOCKER_SSH: 'image' } });
    expect(image.exitCode).toBe(2);
    expect(image.stderr).toMatch(/--ssh=image, but srun-docker\/mpi-nossh:bookworm has no \/usr\/sbin\/sshd — use --ssh=auto/);
  });

  it("keys only: another key is refused by the built-in server; the job's keys are 0600", async () => {
    const job = shScript(
      'refused.sh',
      [
              'h=$(hostname); k=/tmp/other-key',
        '/.srun-docker/ssh/dropbearmulti dropbearkey -t ed25519 -f "$k" >/dev/null 2>&1',
        'HOME=/tmp /.srun-docker/ssh/dropbearmulti dbclient -y -i "$k" -p "$sshdport" "$h" echo should-not-run </dev/null; echo "other key rc=$?"',
        'stat -c "%a %n" "$sshconfigdir"/nodes/*.dropbear "$sshconfigdir"/dbclient-home/.ssh/id_dropbear "$sshconfigdir"/authorized_keys',
      ].join('\n'),
    );
    const result = await runCli([`--container=${NOSSH_IMAGE}`, `--script=${job}`], { cwd: work });
    expect(result.exitCode, result.all).toBe(0);
    expect(result.stdout).not.toContain('should-not-run');
    expect(result.stdout).toMatch(/other key rc=[1-9]/);
    const modes = result.stdout.split('\n').filter((l) => /^\d{3} \//.test(l));
    expect(modes.length).toBe(3);
    for (const line of modes) expect(line).toMatch(/^600 /);
  });

  it("the script's own directory stays the image's: a script in a directory the image has is mounted alone", async () => {
    // /usr/local/bin exists in the image: a sibling file of the script on the host must not show in the container
    const dir = '/usr/local/bin';
    const name = `srun-docker-test-${process.pid}`;
    const script = join(dir, `${name}.sh`);
    const sibling = join(dir, `${name}.sibling`);
    writeFileSync(script, `#!/bin/sh\nif [ -e ${sibling} ]; then echo "host dir mounted"; else echo "only the file"; fi\necho "image sh: $(ls /bin/sh)"\n`);
    chmodSync(script, 0o755);
    writeFileSync(sibling, 'host\n');
    try {
      const dry = await runCli([`--container=${JOB_IMAGE}`, `--script=${script}`, '--dry-run'], { cwd: work });
      expect(dry.stdout).toContain(`${script}:${script}:ro`);
      expect(dry.stdout).not.toContain(`${dir}:${dir}`);
      const result = await runCli([`--container=${JOB_IMAGE}`, `--script=${script}`], { cwd: work });
      expect(result.exitCode, result.all).toBe(0);
      expect(result.stdout).toContain('only the file');
      expect(result.stdout).toContain('image sh: /bin/sh');
    } finally {
      rmSync(script, { force: true });
      rmSync(sibling, { force: true });
    }
  });
});

describe('rsync -e ssh over the built-in ssh', () => {
  it('copies a tree there and back in an image without OpenSSH, with the job\'s key and pinned host key', async () => {
    const job = shScript(
      'rsync.sh',
      [
        'h=$(hostname)',
              'src=$(mktemp -d) && mkdir -p "$src/a/b" && echo one >"$src/a/one.txt" && echo two >"$src/a/b/two.txt"',
        'rsync -a -e ssh "$src/a/" "$h:/tmp/rsync-there/" && rsync -a -e ssh "$h:/tmp/rsync-there/" /tmp/rsync-back/',
        'echo "rsync rc=$?"',
        'echo "back: $(cat /tmp/rsync-back/one.txt) $(cat /tmp/rsync-back/b/two.txt)"',
      ].join('\n'),
    );
    const result = await runCli([`--container=${NOSSH_IMAGE}`, `--script=${job}`], { cwd: work });
    expect(result.exitCode, result.all).toBe(0);
    expect(result.stdout).toContain('rsync rc=0');
    expect(result.stdout).toContain('back: one two');
  });
});

describe("the image's OpenSSH", () => {
  it('scp there and back (OpenSSH 9 speaks SFTP: the generated sshd_config has it)', async () => {
    const job = shScript('scp.sh', ['h=$(hostname)', 'echo data >/tmp/a', 'scp /tmp/a "$h:/tmp/b" && scp "$h:/tmp/b" /tmp/c && echo "back: $(cat /tmp/c)"'].join('\n'));
    const result = await runCli([`--container=${JOB_IMAGE}`, `--script=${job}`, '--verbose'], { cwd: work });
    expect(result.exitCode, result.all).toBe(0);
    expect(result.stderr).toContain("ssh: auto: the image has OpenSSH");
    expect(result.stdout).toContain('back: data');
  });
});
