import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chownSync, closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JOB_IMAGE, runCli, testUser, writeJobScript } from '../support/cli.js';

/**
 * Rootless engines map uids differently from a root daemon (issue 16): files a one-node job writes
 * into the home must be the user's on the host. Each engine is this test's own, started as the
 * non-root test user with its own socket under a temporary XDG_RUNTIME_DIR, and stopped by PID;
 * the machine's dockerd is never touched. An engine that cannot start here skips with the reason.
 */

const user = testUser();
const asUser = ['setpriv', `--reuid=${user.uid}`, `--regid=${user.gid}`, '--init-groups', '--'];

interface Engine {
  dir: string;
  socket: string;
  process: ChildProcess;
  log: string;
}

/** Starts `command` as the test user in a fresh temporary runtime directory; resolves once the socket answers, or with why not. */
async function startEngine(name: string, command: (dir: string) => string[], socketOf: (dir: string) => string): Promise<Engine | string> {
  const dir = mkdtempSync(`/tmp/srun-docker-${name}-`);
  for (const sub of ['xdg', 'tmp', 'storage', 'run']) mkdirSync(join(dir, sub), { mode: 0o700 });
  for (const path of [dir, ...['xdg', 'tmp', 'storage', 'run'].map((s) => join(dir, s))]) chownSync(path, user.uid, user.gid);
  const log = join(dir, 'engine.log');
  const env = { HOME: user.home, USER: user.name, XDG_RUNTIME_DIR: join(dir, 'xdg'), TMPDIR: join(dir, 'tmp'), PATH: `/usr/share/docker.io/contrib:${process.env.PATH ?? '/usr/bin:/bin'}` };
  const [file = 'true', ...args] = [...asUser, ...command(dir)];
  const out = openSync(log, 'w');
  const child = spawn(file, args, { env, stdio: ['ignore', out, out], detached: true });
  closeSync(out);
  const engine = { dir, socket: socketOf(dir), process: child, log };
  for (let i = 0; i < 60; i++) {
    if (child.exitCode !== null) {
      const why = `it exited (${child.exitCode}): ${tail(log)}${tunNote()}`;
      killGroup(child, 'SIGKILL'); // rootlesskit's child may outlive the parent for a moment
      execFileSync('rm', ['-rf', dir]);
      return why;
    }
    if (existsSync(engine.socket) && (await answers(engine.socket))) return engine;
    await sleep(500);
  }
  await stopEngine(engine);
  return `its socket did not answer within 30 s: ${tail(log)}`;
}

/**
 * SIGTERM to the engine's process group (its own, made by this test), then SIGKILL; Podman's pause
 * process too. A container still running (a test that hung) leaves processes outside that group:
 * containerd-shims and conmons make their own sessions. They stay in the user namespace the engine
 * made, so every process in it is found first, by PID, and killed after the group.
 */
async function stopEngine(engine: Engine): Promise<void> {
  const pause = join(engine.dir, 'xdg', 'libpod', 'tmp', 'pause.pid');
  const pausePid = existsSync(pause) ? Number(readFileSync(pause, 'utf8').trim()) : undefined;
  const members = engineNamespaceMembers(engine.process.pid, pausePid);
  const pid = engine.process.pid;
  if (pid !== undefined && engine.process.exitCode === null) {
    killGroup(engine.process, 'SIGTERM');
    for (let i = 0; i < 40 && engine.process.exitCode === null; i++) await sleep(250);
    killGroup(engine.process, 'SIGKILL');
  }
  for (const member of [...members, ...(pausePid === undefined ? [] : [pausePid])]) {
    try {
      process.kill(member, 'SIGKILL');
    } catch {
      // gone already
    }
  }
  execFileSync('rm', ['-rf', engine.dir]);
}

/** The PIDs of every process in the user namespaces that the engine's process group or its pause process are in, other than the host's. */
function engineNamespaceMembers(group: number | undefined, pausePid: number | undefined): number[] {
  const userNs = (pid: number | string): string | undefined => {
    try {
      return readlinkSync(`/proc/${pid}/ns/user`);
    } catch {
      return undefined; // gone meanwhile
    }
  };
  const processGroup = (pid: string): number | undefined => {
    try {
      // the fields after the command's closing parenthesis: state, ppid, pgrp
      return Number(readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ').pop()?.split(' ')[2]);
    } catch {
      return undefined;
    }
  };
  const pids = readdirSync('/proc').filter((name) => /^\d+$/.test(name));
  const host = userNs('self');
  const namespaces = new Set<string>();
  for (const pid of pids) {
    if (group === undefined || processGroup(pid) !== group) continue;
    const ns = userNs(pid);
    if (ns !== undefined && ns !== host) namespaces.add(ns);
  }
  const pauseNs = pausePid === undefined ? undefined : userNs(pausePid);
  if (pauseNs !== undefined && pauseNs !== host) namespaces.add(pauseNs);
  return pids.filter((pid) => namespaces.has(userNs(pid) ?? '')).map(Number);
}

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  try {
    if (child.pid !== undefined) process.kill(-child.pid, signal);
  } catch {
    // the group is gone
  }
}

function answers(socket: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request({ socketPath: socket, path: '/_ping', timeout: 2000 }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('error', () => resolve(false));
    req.on('timeout', () => req.destroy());
    req.end();
  });
}

/**
 * slirp4netns opens /dev/net/tun as the user: a Debian host's udev makes it 0666, this machine's is
 * 0600 (no udev). The test grants the test user, and no one else, rw on it with a POSIX ACL while
 * the engine runs, as that host would, and takes exactly that grant back; a machine that already
 * lets the user in is left as it is. Returns the revoke, or undefined when nothing was changed.
 */
function grantTunForTest(): (() => void) | undefined {
  const tun = '/dev/net/tun';
  if (!existsSync(tun) || (statSync(tun).mode & 0o006) === 0o006) return undefined;
  const acl = (args: string[]): string => execFileSync('getfacl', ['-p', ...args], { encoding: 'utf8' });
  let before: string;
  try {
    before = acl([tun]);
  } catch {
    return undefined; // no acl tools: the engine's own error says what stops it
  }
  if (new RegExp(`^user:(${user.name}|${user.uid}):rw`, 'm').test(before)) return undefined;
  execFileSync('setfacl', ['-m', `u:${user.uid}:rw`, tun]);
  return () => execFileSync('setfacl', ['-x', `u:${user.uid}`, tun]);
}

/** What stops rootlesskit's slirp4netns where /dev/net/tun is root's alone (as on this machine without the grant). */
function tunNote(): string {
  const mode = existsSync('/dev/net/tun') ? statSync('/dev/net/tun').mode & 0o777 : undefined;
  if (mode === undefined || (mode & 0o006) === 0o006) return '';
  return (
    ` — /dev/net/tun is mode ${mode.toString(8)} here, so slirp4netns cannot make its tap as the user ("open: Permission denied"),` +
    ' and rootlesskit --net=host cannot give dockerd a network namespace of its own ("failed to create default sandbox ... operation not permitted")'
  );
}

function tail(path: string): string {
  return existsSync(path) ? readFileSync(path, 'utf8').trim().split('\n').filter((l) => !l.startsWith('+')).slice(-4).join(' | ') : '(no log)';
}

/** `docker save IMAGE` into the engine, as the test user (the socket is theirs alone). */
function loadImage(engine: Engine): void {
  execFileSync('bash', ['-c', `docker save "$0" | ${asUser.join(' ')} env DOCKER_HOST=unix://"$1" docker load`, JOB_IMAGE, engine.socket], { stdio: 'pipe', timeout: 120_000 });
}

/** A one-node job writing a file into the home; the file's owner on the host, and what the job saw. */
async function writeIntoHome(engine: Engine, work: string): Promise<{ exitCode: number; owner: number | undefined; output: string }> {
  const target = join(work, 'written-by-job');
  const job = writeJobScript(work, 'write.sh', `echo "inside: $(id -un) uid=$(id -u) HOME=$HOME"\necho hello > "${target}"`);
  const result = await runCli(['--container=' + JOB_IMAGE, `--script=${job}`], { cwd: work, env: { DOCKER_HOST: `unix://${engine.socket}` } });
  return { exitCode: result.exitCode ?? -1, owner: existsSync(target) ? statSync(target).uid : undefined, output: result.all };
}

/** beforeAll/afterAll for one engine: started, the job image loaded, a work directory of the user's; or why it cannot start. */
function useEngine(
  name: string,
  command: (dir: string) => string[],
  socketOf: (dir: string) => string,
  needsTun = false,
): { engine?: Engine; why: string; work: string } {
  const state: { engine?: Engine; why: string; work: string } = { why: '', work: '' };
  let revokeTun: (() => void) | undefined;
  beforeAll(async () => {
    if (needsTun) revokeTun = grantTunForTest();
    const started = await startEngine(name, command, socketOf);
    if (typeof started === 'string') {
      state.why = `${name} cannot start here: ${started}`;
      console.log(`SKIPPED: ${state.why}`);
      return;
    }
    state.engine = started;
    loadImage(started);
    state.work = mkdtempSync(join(user.home, `${name}-`));
    chownSync(state.work, user.uid, user.gid);
  }, 180_000);
  afterAll(async () => {
    if (state.engine) await stopEngine(state.engine);
    revokeTun?.();
    if (state.work) rmSync(state.work, { recursive: true, force: true });
  });
  return state;
}

describe('rootless Podman (podman system service as the test user)', () => {
  const podman = useEngine(
    'rootless-podman',
    (dir) => ['podman', '--root', join(dir, 'storage'), '--runroot', join(dir, 'run'), '--storage-driver=overlay', '--cgroup-manager=cgroupfs', '--events-backend=file', 'system', 'service', '--time=0', `unix://${join(dir, 'xdg', 'podman.sock')}`],
    (dir) => join(dir, 'xdg', 'podman.sock'),
  );

  it('a file the job writes into the home is the user\'s on the host (keep-id)', async (ctx) => {
    const { engine, work } = podman;
    if (engine === undefined) return ctx.skip(podman.why);
    const run = await writeIntoHome(engine, work);
    console.log(`rootless Podman: exit ${run.exitCode}, file owner uid ${run.owner} (the user: ${user.uid})`);
    expect(run.exitCode, run.output).toBe(0);
    expect(run.output).toContain(`inside: ${user.name} uid=${user.uid} HOME=${user.home}`);
    expect(run.owner, run.output).toBe(user.uid);
    // the ulimits it drops without a word: said once
    expect(run.output.match(/rootless Podman ignores ulimits/g), run.output).toHaveLength(1);
  });

  it('a --dockopts ulimit it would silently drop is refused: one line, exit 2', async (ctx) => {
    const { engine, work } = podman;
    if (engine === undefined) return ctx.skip(podman.why);
    const job = writeJobScript(work, 'never.sh', 'echo "must not run"');
    const result = await runCli(['--container=' + JOB_IMAGE, `--script=${job}`, '--dockopts=--ulimit nofile=4096:4096'], { cwd: work, env: { DOCKER_HOST: `unix://${engine.socket}` } });
    expect(result.exitCode, result.all).toBe(2);
    expect(result.stdout).not.toContain('must not run');
    expect(result.stderr.trim().split('\n').pop()).toMatch(/error: rootless Podman ignores the ulimits of an API request, so --dockopts --ulimit nofile would have no effect — /);
  });
});

describe('rootless Docker (dockerd-rootless.sh with rootlesskit, as the test user)', () => {
  const rootless = useEngine(
    'rootless-docker',
    (dir) => ['dockerd-rootless.sh', '--data-root', join(dir, 'storage'), '--exec-root', join(dir, 'run'), '--pidfile', join(dir, 'run', 'docker.pid')],
    (dir) => join(dir, 'xdg', 'docker.sock'),
    true,
  );

  it('a file the job writes into the home is the user\'s on the host (the job runs as 0:0, the engine\'s root being the user)', async (ctx) => {
    const { engine, work } = rootless;
    if (engine === undefined) return ctx.skip(rootless.why);
    const run = await writeIntoHome(engine, work);
    console.log(`rootless Docker: exit ${run.exitCode}, file owner uid ${run.owner} (the user: ${user.uid})`);
    expect(run.exitCode, run.output).toBe(0);
    expect(run.output).toContain(`inside: ${user.name} uid=0 HOME=${user.home}`);
    expect(run.owner, run.output).toBe(user.uid);
  });

  it("a one-node job that logs in to its own node at once reaches its sshd (seen in rootlesskit's network, not the node's)", async (ctx) => {
    const { engine, work } = rootless;
    if (engine === undefined) return ctx.skip(rootless.why);
    const job = writeJobScript(work, 'own-ssh.sh', 'ssh "${hostlist%%:*}" \'echo "own node answers: $(id -un)"\'');
    const run = await runCli(['--container=' + JOB_IMAGE, `--script=${job}`], { cwd: work, env: { DOCKER_HOST: `unix://${engine.socket}` }, timeoutMs: 60_000 });
    expect(run.exitCode, run.all).toBe(0);
    expect(run.stdout, run.all).toContain(`own node answers: ${user.name}`);
  });

  it('the coordinator of a 2-node step stops before the job runs: one line says the other nodes cannot reach its sshd, exit 1, nothing left', async (ctx) => {
    const { engine, work } = rootless;
    if (engine === undefined) return ctx.skip(rootless.why);
    const job = writeJobScript(work, 'never.sh', 'echo "must not run"');
    const host = execFileSync('hostname', { encoding: 'utf8' }).trim().split('.')[0] ?? 'localhost';
    const slurm = { SLURM_JOB_ID: '77', SLURM_STEP_ID: '0', SLURM_STEP_NODELIST: `${host},srun-docker-test-absent`, SLURMD_NODENAME: host };
    const socket = `unix://${engine.socket}`;
    const run = await runCli(['--container=' + JOB_IMAGE, `--script=${job}`], { cwd: work, env: { DOCKER_HOST: socket, ...slurm }, timeoutMs: 60_000 });
    expect(run.exitCode, run.all).toBe(1);
    expect(run.stdout).not.toContain('must not run');
    expect(run.stderr, run.all).toMatch(/error: rootless Docker on \S+ runs its containers in rootlesskit's own network, not the node's: the other nodes cannot reach their sshd — run jobs of more than one node with rootless Podman/);
    const left = execFileSync('bash', ['-c', `${asUser.join(' ')} env HOME="$1" DOCKER_HOST="$0" docker ps -aq`, socket, user.home], { encoding: 'utf8' });
    expect(left.trim(), 'containers left in the rootless engine').toBe('');
  });
});
