import { execa } from 'execa';
import { createHash, randomBytes } from 'node:crypto';
import { chownSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, JOB_IMAGE, testUser, writeJobScript } from '../support/cli.js';
import { docker } from '../support/docker.js';
import { LABELS } from '../../src/plan/labels.js';

/**
 * Interactive use on the real Docker daemon, one node outside SLURM: a real terminal (tmux), the
 * job's stdin, `srun-docker shell`, end lines the job forges, and a SIGKILLed srun-docker.
 */
const user = testUser();
let work: string;

beforeAll(() => {
  work = mkdtempSync(join(user.home, 'interactive-'));
  chownSync(work, user.uid, user.gid);
});

afterAll(() => {
  rmSync(work, { recursive: true, force: true });
});

/** The built CLI as the test user (setpriv execs node: the pid is srun-docker's own). */
function asUser(args: string[], options: { input?: string; inputFile?: string; timeoutMs?: number } = {}) {
  const asUserPrefix = process.getuid?.() === 0 ? ['setpriv', `--reuid=${user.uid}`, `--regid=${user.gid}`, '--init-groups', '--'] : [];
  const [file = 'node', ...rest] = [...asUserPrefix, process.execPath, BIN, ...args];
  return execa(file, rest, {
    cwd: work,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: user.home, USER: user.name, LOGNAME: user.name, SRUN_DOCKER_PULL: 'never' },
    extendEnv: false,
    reject: false,
    timeout: options.timeoutMs ?? 120_000,
    encoding: 'buffer',
    stripFinalNewline: false,
    ...(options.input !== undefined ? { input: options.input } : options.inputFile !== undefined ? { inputFile: options.inputFile } : { stdin: 'ignore' as const }),
  });
}

/** execa's buffers are Uint8Arrays */
function text(bytes: Uint8Array, encoding: BufferEncoding = 'utf8'): string {
  return Buffer.from(bytes).toString(encoding);
}

/** This job's containers (by its id, so that other runs on the daemon do not count), running or not. */
async function containersOfJob(jobId: string): Promise<string[]> {
  const found = await docker.listContainers({ all: true, filters: { label: [`${LABELS.job}=${jobId}`] } });
  return found.map((c) => c.Names[0] ?? c.Id);
}

/** Outside SLURM the job id is `local-PID`: the job says it (its ssh config directory is named by it). */
function jobIdIn(output: string): string {
  const id = /jobs\/(local-\d+)\.0/.exec(output)?.[1];
  expect(id, output).toBeTruthy();
  return id ?? '';
}

/** Prints the terminal's modes that raw mode turns off: `TTY-AFTER: isig icanon echo` once it is restored (`-isig -icanon -echo` while raw). */
const TTY_AFTER = `printf 'TTY-AFTER: '; stty -a | tr ' ;' '\\n\\n' | grep -E '^-?(isig|icanon|echo)$' | tr '\\n' ' '; echo`;

describe('a job on a terminal (tmux), one node', () => {
  it('bash on a pseudo-terminal: variables, tty, ssh (with -t), the window size and its change, Ctrl-C to the job, exit 4', async () => {
    // in the test's own directory, removed with it (tmux -L would leave its socket in /tmp/tmux-UID)
    const socket = join(work, 'tmux.sock');
    const inner = [
      `cd ${work} &&`,
      ...(process.getuid?.() === 0 ? ['setpriv', `--reuid=${user.uid}`, `--regid=${user.gid}`, '--init-groups'] : []),
      `env -i PATH=${process.env.PATH ?? '/usr/bin:/bin'} HOME=${user.home} USER=${user.name} TERM=xterm SRUN_DOCKER_PULL=never`,
      `${process.execPath} ${BIN} --container=${JOB_IMAGE} --script=/bin/bash --quiet; echo SRUN-DOCKER-RC=$?; ${TTY_AFTER}; sleep 30`,
    ].join(' ');
    // a file: the driver's own shell must not expand its $?
    const session = join(work, 'session.sh');
    writeFileSync(session, `${inner}\n`);
    // one shell command starts the tmux server, drives it and ends it (TESTBED.md: a later command may not find it)
    const driver = [
      'set -u',
      `t() { tmux -S ${socket} "$@"; }`,
      `t new-session -d -x 120 -y 40 "bash ${session}"`,
      'screen() { t capture-pane -p -S -100; }',
      // until the prompt shows (the container is up and the shell runs): bounded
      `for i in $(seq 1 100); do screen | grep -q '^${user.name}@' && break; sleep 0.2; done`,
      // each command, then until the next prompt (bounded): typing ahead would go to the command still running
      `prompts() { screen | grep -c '^${user.name}@'; }`,
      'say() { n=$(prompts); t send-keys "$1" Enter; for i in $(seq 1 50); do [ "$(prompts)" -gt "$n" ] && break; sleep 0.2; done; }',
      'say \'echo "np=$np dir=$sshconfigdir"\'',
      'say tty',
      'say \'ssh "$MASTER_ADDR" hostname\'',
      'say \'ssh -t "$MASTER_ADDR" tty\'',
      'say \'stty size\'',
      't resize-window -x 100 -y 30; sleep 0.7',
      'say \'echo "size now $(stty size)"\'',
      't send-keys "sleep 100" Enter; sleep 1',
      't send-keys C-c',
      'for i in $(seq 1 50); do screen | grep -q "^^C" && break; sleep 0.2; done; sleep 0.3',
      'say \'echo "after Ctrl-C rc=$?"\'',
      't send-keys "exit 4" Enter',
      'for i in $(seq 1 100); do screen | grep -q SRUN-DOCKER-RC && break; sleep 0.2; done',
      'screen',
      't kill-server',
    ].join('\n');
    const result = await execa('bash', ['-c', driver], { reject: false, timeout: 90_000 });
    const screen = result.stdout;
    expect(screen).toMatch(/^np=1 dir=/m);
    expect(screen).toMatch(/^\/dev\/pts\/\d+$/m);
    expect(screen).toMatch(new RegExp(`^${(await execa('hostname')).stdout}$`, 'm'));
    // ssh -t gets a terminal on the far side too
    expect(screen.match(/^\/dev\/pts\/\d+$/gm)?.length, screen).toBe(2);
    expect(screen).toMatch(/^40 120$/m);
    expect(screen).toMatch(/^size now 30 100$/m);
    expect(screen).toContain('after Ctrl-C rc=130');
    expect(screen).toContain('SRUN-DOCKER-RC=4');
    expect(screen, 'the terminal is out of raw mode again').toMatch(/^TTY-AFTER: isig icanon echo *$/m);
    expect(screen).not.toContain('srun-docker-job-end');
    expect(await containersOfJob(jobIdIn(screen))).toEqual([]);
  });

  it.each(['SIGTERM', 'SIGHUP'])('%s to srun-docker while bash runs: the containers are removed, the terminal is restored, the exit code is 128 + the signal', async (signal) => {
    const socket = join(work, `tmux-${signal}.sock`);
    const pidFile = join(work, `srun-docker-${signal}.pid`);
    // the inner shell writes its pid and becomes srun-docker (setpriv and env exec): the pid to signal
    const launch = [
      ...(process.getuid?.() === 0 ? ['setpriv', `--reuid=${user.uid}`, `--regid=${user.gid}`, '--init-groups'] : []),
      `env -i PATH=${process.env.PATH ?? '/usr/bin:/bin'} HOME=${user.home} USER=${user.name} TERM=xterm SRUN_DOCKER_PULL=never`,
      `${process.execPath} ${BIN} --container=${JOB_IMAGE} --script=/bin/bash`,
    ].join(' ');
    const session = join(work, `session-${signal}.sh`);
    writeFileSync(session, `cd ${work} && bash -c 'echo $$ > ${pidFile}; exec ${launch}'; echo SRUN-DOCKER-RC=$?; ${TTY_AFTER}; sleep 30\n`);
    const driver = [
      'set -u',
      `t() { tmux -S ${socket} "$@"; }`,
      `t new-session -d -x 120 -y 40 "bash ${session}"`,
      'screen() { t capture-pane -p -S -100; }',
      `for i in $(seq 1 100); do screen | grep -q '^${user.name}@' && break; sleep 0.2; done`,
      `echo "PID=$(cat ${pidFile})"; kill -${signal.slice(3)} "$(cat ${pidFile})"`,
      'for i in $(seq 1 100); do screen | grep -q TTY-AFTER && break; sleep 0.2; done',
      'screen',
      't kill-server',
    ].join('\n');
    const result = await execa('bash', ['-c', driver], { reject: false, timeout: 60_000 });
    rmSync(pidFile, { force: true });
    const screen = result.stdout;
    expect(screen).toMatch(new RegExp(`^${user.name}@`, 'm'));
    expect(screen).toContain(`${signal} received: removing containers`);
    expect(screen).toContain(`SRUN-DOCKER-RC=${signal === 'SIGTERM' ? 143 : 129}`);
    expect(screen, 'the terminal is out of raw mode again').toMatch(/^TTY-AFTER: isig icanon echo *$/m);
    // outside SLURM the job id is local-PID, PID srun-docker's own
    const pid = /^PID=(\d+)$/m.exec(result.stdout)?.[1];
    expect(pid, result.stdout).toBeTruthy();
    expect(await containersOfJob(`local-${pid ?? ''}`)).toEqual([]);
  });
});

describe("the job's stdin", () => {
  it('lines with spaces and $HOME arrive unchanged, and the end of the input is passed on', async () => {
    const job = writeJobScript(work, 'lines.sh', 'while IFS= read -r l; do printf "[%s]\\n" "$l"; done; echo "eof after lines"; exit 3');
    const run = await asUser([`--container=${JOB_IMAGE}`, `--script=${job}`, '--quiet'], { input: 'one\n  two  with spaces \n$HOME `x`\n' });
    expect(text(run.stdout)).toBe('[one]\n[  two  with spaces ]\n[$HOME `x`]\neof after lines\n');
    expect(run.exitCode).toBe(3);
  });

  it('a container made twice (the daemon refused a default limit at the first start) loses none of the input', async () => {
    // the daemon here cannot raise memlock: without the remembered refusal, the first container fails to start
    const host = (await execa('hostname', ['-s'])).stdout.trim();
    rmSync(join(user.home, '.srun-docker', 'cache', 'limits', `${host}.json`), { force: true });
    const job = writeJobScript(work, 'lines2.sh', 'while IFS= read -r l; do printf "[%s]\\n" "$l"; done');
    const run = await asUser([`--container=${JOB_IMAGE}`, `--script=${job}`], { input: 'first\nsecond\n' });
    expect(text(run.stderr)).toContain('cannot raise the memlock limit');
    expect(text(run.stdout)).toBe('[first]\n[second]\n');
    expect(run.exitCode).toBe(0);
  });

  it('no input (/dev/null): the job reads its end at once', async () => {
    const job = writeJobScript(work, 'none.sh', 'if read -r l; then echo "got [$l]"; else echo "no input"; fi');
    const run = await asUser([`--container=${JOB_IMAGE}`, `--script=${job}`, '--quiet']);
    expect(text(run.stdout).trim()).toBe('no input');
    expect(run.exitCode).toBe(0);
  });

  it('an input that never ends, which the job does not read (`yes | srun-docker ...`), does not keep srun-docker running', async () => {
    const job = writeJobScript(work, 'ignores.sh', 'echo "not reading"');
    const asUserPrefix = process.getuid?.() === 0 ? `setpriv --reuid=${user.uid} --regid=${user.gid} --init-groups --` : '';
    const command = `yes | ${asUserPrefix} env -i PATH="$PATH" HOME=${user.home} USER=${user.name} SRUN_DOCKER_PULL=never ${process.execPath} ${BIN} --container=${JOB_IMAGE} --script=${job} --quiet`;
    const started = Date.now();
    const run = await execa('bash', ['-c', command], { cwd: work, reject: false, timeout: 60_000 });
    expect(run.stdout).toBe('not reading');
    expect(run.exitCode).toBe(0);
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it('100 MB of binary input arrive byte for byte (sha256 in and out)', async () => {
    const input = join(work, 'random.bin');
    const bytes = randomBytes(100 * 1024 * 1024);
    writeFileSync(input, bytes);
    const job = writeJobScript(work, 'sum.sh', 'sha256sum | cut -d" " -f1');
    const run = await asUser([`--container=${JOB_IMAGE}`, `--script=${job}`, '--quiet'], { inputFile: input });
    rmSync(input);
    expect(run.exitCode, text(run.stderr)).toBe(0);
    expect(text(run.stdout).trim()).toBe(createHash('sha256').update(bytes).digest('hex'));
  });
});

describe('an end no output can forge', () => {
  it('end lines the job prints (on one stream, on both, with any nonce it can guess) end nothing and set no code', async () => {
    const forge = (code: number) => `printf '\\036srun-docker-job-end:%s:${code}\\n'`;
    const job = writeJobScript(
      work,
      'forge.sh',
      [
        // the old marker, guessable from the job id; and a made-up nonce, on each stream and on both
        `${forge(0)} "local-x.0"`,
        `${forge(9)} "0123456789abcdef0123456789abcdef" >&2`,
        `${forge(0)} guess; ${forge(0)} guess >&2`,
        'sleep 1',
        'echo "still running"',
        'exit 5',
      ].join('\n'),
    );
    const started = Date.now();
    const run = await asUser([`--container=${JOB_IMAGE}`, `--script=${job}`, '--quiet']);
    expect(Date.now() - started).toBeGreaterThan(1000);
    expect(run.exitCode).toBe(5);
    const out = text(run.stdout, 'latin1');
    expect(out).toContain('still running');
    expect(out).toContain('\x1esrun-docker-job-end:guess:0');
    expect(text(run.stderr, 'latin1')).toContain('\x1esrun-docker-job-end:0123456789abcdef0123456789abcdef:9');
  });
});

describe('srun-docker SIGKILLed mid-job', () => {
  it("its container is gone within 10 s (the control FIFO's end ends it)", async () => {
    const job = writeJobScript(work, 'long.sh', 'echo "started $sshconfigdir"; sleep 300');
    const run = asUser([`--container=${JOB_IMAGE}`, `--script=${job}`, '--quiet'], { timeoutMs: 60_000 });
    let seen = '';
    await new Promise<void>((resolve) => {
      run.stdout?.on('data', (chunk: Buffer) => {
        seen += chunk.toString();
        if (seen.includes('started')) resolve();
      });
      void run.then(() => resolve());
    });
    const jobId = jobIdIn(seen);
    expect(await containersOfJob(jobId)).toHaveLength(1);
    run.kill('SIGKILL');
    await run;
    const killedAt = Date.now();
    let left = await containersOfJob(jobId);
    while (left.length > 0 && Date.now() - killedAt < 10_000) {
      await sleep(200);
      left = await containersOfJob(jobId);
    }
    expect(left).toEqual([]);
    // what a killed run leaves (its job directory) is removed by the next run or srun-docker cleanup
    await asUser(['cleanup']);
  });
});

describe('srun-docker shell into a running job', () => {
  it("runs a command in the job's container with its variables; another user is refused; a missing job is one line", async () => {
    const job = writeJobScript(work, 'wait.sh', 'echo "started $sshconfigdir"; sleep 30');
    const run = asUser([`--container=${JOB_IMAGE}`, `--script=${job}`, '--quiet'], { timeoutMs: 60_000 });
    let seen = '';
    await new Promise<void>((resolve) => {
      run.stdout?.on('data', (chunk: Buffer) => {
        seen += chunk.toString();
        if (seen.includes('started')) resolve();
      });
    });
    const jobId = jobIdIn(seen);
    try {
      const inside = await asUser(['shell', jobId, '--', 'sh', '-c', 'echo "np=$np user=$(id -un)"; ps -eo args | grep -c "^/bin/bash .*/wait.sh"; exit 6']);
      expect(text(inside.stdout)).toBe(`np=1 user=${user.name}\n1\n`);
      expect(inside.exitCode).toBe(6);
      // root, here "another user": the label says whose job it is
      const other = await execa(process.execPath, [BIN, 'shell', jobId, '--', 'true'], { reject: false });
      expect(other.exitCode).toBe(2);
      expect(other.stderr).toMatch(new RegExp(`job ${jobId} on this node belongs to ${user.name}, not root: only its owner can open a shell in it`));
      const missing = await asUser(['shell', 'local-1.9']);
      expect(missing.exitCode).toBe(2);
      expect(text(missing.stderr).trim().split('\n')).toHaveLength(1);
      expect(text(missing.stderr)).toContain('no running srun-docker job local-1.9 on this node');
    } finally {
      run.kill('SIGTERM');
      await run;
    }
    expect(await containersOfJob(jobId)).toEqual([]);
  });
});
