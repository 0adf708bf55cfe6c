import { execa } from 'execa';
import { execFileSync } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JOB_IMAGE, PROJECT, runCli, testUser, writeJobScript } from '../support/cli.js';
import { containersOf } from '../support/docker.js';

/**
 * An NFS home exported with root_squash (the NFS default): the daemon, root on the node, is
 * "nobody" to the file server, so it cannot look into the user's 0700 directories — the job
 * directory among them, and a package installed in the home (no root on a cluster: `~/bin`, an npm
 * prefix in the home) — and a bind mount of a file there fails. Emulated with FUSE (bindfs): the
 * user's `~/.srun-docker` and the srun-docker package copied into `~/pkg` are bindfs mounts made
 * for the user alone (`user_id` the user's, no allow_other), so root gets EACCES for every name
 * below them, as the squashed root does in a 0700 directory. Harsher than NFS in one way: root
 * cannot read even what is world-readable there. Milder in one: the rest of the home is a local
 * directory root can read. The container sees the mounts through its bind of the home, as the user.
 */
const user = testUser();
const root = process.getuid?.() === 0;
const hasBindfs = root && execa('sh', ['-c', 'command -v bindfs']).then((r) => r.exitCode === 0, () => false);
let work: string;
let home: string;
/** The node's cache (its memory of what the daemon took) starts empty: TMPDIR of the runs. */
let tmp: string;
const mounted: string[] = [];
const PACKAGE_FILES = ['bin/srun-docker', 'bin/package.json', 'dist/launch.cjs', 'dist/srun-docker.cjs', 'dist/dropbearmulti'];

/** A bindfs mount of `real` at `at` that only the user can enter (see above). */
function mountForUserAlone(real: string, at: string): void {
  // the mount is the user's (real uid theirs: libfuse names it as user_id); bindfs itself acts as
  // root below it, each name shown as the user's
  execFileSync('setpriv', [`--ruid=${user.uid}`, `--rgid=${user.gid}`, '--keep-groups', '--', 'bindfs', '--no-allow-other', `--force-user=${user.uid}`, `--force-group=${user.gid}`, real, at]);
  mounted.push(at);
}

beforeAll(async () => {
  if (!root || !(await hasBindfs)) return;
  work = mkdtempSync(join(user.home, 'root-squash-'));
  home = join(work, 'home');
  tmp = join(work, 'tmp');
  for (const dir of [work, home, tmp, join(work, 'real'), join(work, 'real-pkg'), join(work, 'real-scratch', 'proj'), join(work, 'scratch'), join(home, '.srun-docker'), join(home, 'pkg')]) {
    mkdirSync(dir, { recursive: true });
    chownSync(dir, user.uid, user.gid);
  }
  mountForUserAlone(join(work, 'real'), join(home, '.srun-docker'));
  mountForUserAlone(join(work, 'real-pkg'), join(home, 'pkg'));
  // a directory of the user's outside the home that only they can enter, as a 0700 /scratch/alice
  mountForUserAlone(join(work, 'real-scratch'), join(work, 'scratch'));
  for (const file of PACKAGE_FILES) {
    if (!existsSync(join(PROJECT, file))) continue;
    execFileSync('setpriv', [`--reuid=${user.uid}`, `--regid=${user.gid}`, '--init-groups', '--', 'install', '-D', join(PROJECT, file), join(home, 'pkg', file)]);
  }
}, 60_000);

afterAll(async () => {
  for (const at of mounted.reverse()) await execa('umount', [at], { reject: false });
  if (work !== undefined) rmSync(work, { recursive: true, force: true });
});

describe('a home whose job directory the root daemon cannot reach (NFS root_squash)', () => {
  it.skipIf(!root)('the emulation holds: root cannot read below ~/.srun-docker or the package in ~/pkg, the user can', async () => {
    expect(await hasBindfs, 'bindfs is not installed (.ci/run installs it)').toBe(true);
    expect(() => readFileSync(join(home, 'pkg', 'dist', 'dropbearmulti'))).toThrow(/EACCES/);
    const probe = join(home, '.srun-docker', 'probe');
    execFileSync('setpriv', [`--reuid=${user.uid}`, `--regid=${user.gid}`, '--init-groups', '--', 'sh', '-c', 'echo mine > "$1"', 'sh', probe]);
    expect(() => readFileSync(probe)).toThrow(/EACCES/);
    const asUser = execFileSync('setpriv', [`--reuid=${user.uid}`, `--regid=${user.gid}`, '--init-groups', '--', 'cat', probe], { encoding: 'utf8' });
    expect(asUser).toBe('mine\n');
    execFileSync('setpriv', [`--reuid=${user.uid}`, `--regid=${user.gid}`, '--init-groups', '--', 'rm', probe]);
  });

  it.skipIf(!root).each([
    ["the image's OpenSSH", 'the first job on the node: its mount fails, the files are written in instead', JOB_IMAGE, 'image'],
    ['the built-in ssh', 'the node remembers: written in at once', JOB_IMAGE, 'builtin'],
  ])('a job runs with %s, srun-docker installed in the home (%s): its user is known in the container, ssh to its own node works, nothing is left', async (_name, when, image, ssh) => {
    const job = writeJobScript(work, 'squash.sh', 'echo "me=$(id -un) home=$HOME passwd=$(getent passwd "$(id -un)" | cut -d: -f1,3)"; ssh "$(hostname)" "echo ssh ok: \\$(id -un)"; exit 3');
    const run = await runCli([`--container=${image}`, `--script=${job}`, `--ssh=${ssh}`, "--verbose"], { cwd: work, env: { HOME: home, TMPDIR: tmp }, timeoutMs: 120_000, bin: join(home, 'pkg', 'bin', 'srun-docker') });
    expect(run.exitCode, run.all).toBe(3);
    const fellBack = run.stderr.includes("cannot mount srun-docker's files");
    expect(fellBack, run.stderr).toBe(when.startsWith('the first job'));
    expect(run.stdout, run.all).toContain(`me=${user.name} home=${home} passwd=${user.name}:${user.uid}`);
    expect(run.stdout, run.all).toContain(`ssh ok: ${user.name}`);
    expect(await containersOf(user.name)).toEqual([]);
    const jobs = join(work, 'real', 'jobs');
    expect(existsSync(jobs) ? readdirSync(jobs) : []).toEqual([]);
  });

  it.skipIf(!root)('a working directory outside the home below a directory only the user can enter: its mount moves up to the highest directory of theirs, the job runs there', async () => {
    const cwd = join(work, 'scratch', 'proj');
    execFileSync('setpriv', [`--reuid=${user.uid}`, `--regid=${user.gid}`, '--init-groups', '--', 'sh', '-c', 'echo data > "$1/input.txt"', 'sh', cwd]);
    expect(() => readdirSync(cwd)).toThrow(/EACCES/);
    const job = writeJobScript(work, 'scratch-job.sh', 'echo "pwd=$(pwd) input=$(cat input.txt)"; echo out > output.txt');
    // root cannot enter it: srun-docker is started in it as the user (runCli starts it in its cwd as root)
    const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: home, USER: user.name, LOGNAME: user.name, TMPDIR: tmp, SRUN_DOCKER_PULL: 'never' };
    const asUser = ['setpriv', `--reuid=${user.uid}`, `--regid=${user.gid}`, '--init-groups', '--'];
    const run = await execa(asUser[0] ?? 'setpriv', [...asUser.slice(1), 'sh', '-c', 'cd "$1" && shift && exec "$@"', 'sh', cwd, process.execPath, join(PROJECT, 'bin', 'srun-docker'), `--container=${JOB_IMAGE}`, `--script=${job}`, '--verbose'], { cwd: work, env, extendEnv: false, reject: false, all: true, timeout: 120_000 });
    expect(run.exitCode, run.all).toBe(0);
    const moved = run.stderr.split('\n').find((line) => line.includes(`cannot mount ${cwd}`));
    expect(moved, run.stderr).toContain(`: mounting ${user.home} instead (`);
    expect(run.stdout, run.all).toContain(`pwd=${cwd} input=data`);
    const written = execFileSync('setpriv', [`--reuid=${user.uid}`, `--regid=${user.gid}`, '--init-groups', '--', 'stat', '-c', '%u %n', join(cwd, 'output.txt')], { encoding: 'utf8' });
    expect(written.trim()).toBe(`${user.uid} ${join(cwd, 'output.txt')}`);
    expect(await containersOf(user.name)).toEqual([]);
  });

  it.skipIf(!root)('a --datamnts directory below a directory only the user can enter: its mount moves up the same way, the job reads the data', async () => {
    const data = join(work, 'scratch', 'data');
    execFileSync('setpriv', [`--reuid=${user.uid}`, `--regid=${user.gid}`, '--init-groups', '--', 'sh', '-c', 'mkdir -p "$1" && echo dataset > "$1/part-0"', 'sh', data]);
    expect(() => readdirSync(data)).toThrow(/EACCES/);
    const job = writeJobScript(work, 'data-job.sh', `echo "read=$(cat ${data}/part-0)"`);
    const run = await runCli([`--container=${JOB_IMAGE}`, `--script=${job}`, `--datamnts=${data}`, '--verbose'], { cwd: work, env: { HOME: home, TMPDIR: tmp }, timeoutMs: 120_000 });
    expect(run.exitCode, run.all).toBe(0);
    // only the data directory moves up: the path the daemon could not make is below the working directory too, on data's way
    const moved = run.stderr.split('\n').find((line) => line.includes(' cannot mount '));
    expect(moved, run.stderr).toContain(`cannot mount ${data}: mounting`);
    expect(moved, run.stderr).toContain(`: mounting ${user.home} instead (`);
    expect(run.stdout, run.all).toContain('read=dataset');
    // the attach of each container whose start failed was let go: nothing held the process up after the job
    expect(run.stderr).not.toContain('still running');
    expect(await containersOf(user.name)).toEqual([]);
  });
});
