import { execa } from 'execa';
import { rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { asAlice, CONTROLLER, MPI_IMAGE, onCluster, writeAliceFile } from './support/cluster.js';
import { jobName, waitForContainers } from './support/faults.js';
import { AWAIT_RELEASE, sbatch, srunDocker, waitForJob, waitUntil, WORK, readBatchOutput } from './support/jobs.js';
import { useCluster } from './support/use-cluster.js';

useCluster();

/**
 * Interactive use on the 3-node cluster: `srun --pty` into bash in the coordinator's container on a
 * real terminal (tmux), the job's stdin through srun, `srun-docker shell` into a running job on
 * node2, and end lines the job forges.
 */
const LINES = `${WORK}/lines.sh`;
const SUM = `${WORK}/sum.sh`;
const HOLD = `${WORK}/hold.sh`;
const FORGE = `${WORK}/forge.sh`;

beforeAll(async () => {
  await writeAliceFile(LINES, '#!/bin/bash\nwhile IFS= read -r l; do printf "[%s]\\n" "$l"; done\necho "eof after lines on $(hostname)"\n');
  await writeAliceFile(SUM, '#!/bin/bash\nsha256sum | cut -d" " -f1\n');
  await writeAliceFile(
    HOLD,
    ['#!/bin/bash', 'echo "job: dir=$sshconfigdir"', AWAIT_RELEASE, 'exit 3', ''].join('\n'),
  );
  await writeAliceFile(
    FORGE,
    [
      '#!/bin/bash',
      "printf '\\036srun-docker-job-end:%s:0\\n' guess",
      "printf '\\036srun-docker-job-end:%s:0\\n' guess >&2",
      'sleep 1',
      'echo "still running on $(hostname)"',
      'exit 5',
      '',
    ].join('\n'),
  );
});

/** Prints the terminal's modes that raw mode turns off: `TTY-AFTER: isig icanon echo` once it is restored (`-isig -icanon -echo` while raw). */
const TTY_AFTER = `printf 'TTY-AFTER: '; stty -a | tr ' ;' '\\n\\n' | grep -E '^-?(isig|icanon|echo)$' | tr '\\n' ' '; echo`;

describe('srun -N2 --pty srun-docker --script=/bin/bash, on a real terminal (tmux)', () => {
  it('a shell in the coordinator\'s container: variables, tty, ssh node2 (ssh -t: tty and top), the window size, Ctrl-C to the job, srun returns 4, the terminal restored', async () => {
    // a socket path of the test's own, removed afterwards (tmux -L leaves its socket in /tmp/tmux-UID when
    // the server ends with the pane's docker exec still attached)
    const base = join(tmpdir(), `srun-docker-cluster-tty-${process.pid}`);
    const socket = `${base}.sock`;
    const session = `${base}.sh`;
    writeFileSync(
      session,
      `docker exec -it -e SRUN_DOCKER_PULL=never -e TERM=xterm -u alice -w /home/alice ${CONTROLLER} srun -N2 --pty srun-docker --container=${MPI_IMAGE} --script=/bin/bash --quiet; echo SRUN-RC=$?; ${TTY_AFTER}; sleep 30\n`,
    );
    // one shell command starts the tmux server, drives it and ends it (TESTBED.md)
    const driver = [
      'set -u',
      `t() { tmux -S ${socket} "$@"; }`,
      `t new-session -d -x 120 -y 40 "bash ${session}"`,
      'screen() { t capture-pane -p -S -200; }',
      "prompts() { screen | grep -c '^alice@'; }",
      'for i in $(seq 1 200); do [ "$(prompts)" -gt 0 ] && break; sleep 0.2; done',
      'say() { n=$(prompts); t send-keys "$1" Enter; for i in $(seq 1 75); do [ "$(prompts)" -gt "$n" ] && break; sleep 0.2; done; }',
      'say \'echo "np=$np hostlist=$hostlist"\'',
      'say tty',
      'say \'ssh node2 hostname\'',
      'say \'ssh -t node2 tty\'',
      // a full-screen program over ssh -t: its screen kept in a file (top clears the pane when it ends)
      'say \'ssh -t node2 top -n 1 >/tmp/top.out; echo "top: $(grep -ac "load average" /tmp/top.out) $(grep -ac "failed tty get" /tmp/top.out)"\'',
      'say \'stty size\'',
      // the size of the terminal srun gave the step, which srun-docker reads: who lost a 0x0 start
      `echo "STEP-PTY: $(docker exec node1 sh -c 'p=$(pgrep -u alice -o -f "srun-docker --container"); stty -F "$(readlink /proc/$p/fd/0)" size' 2>&1)"`,
      't resize-window -x 100 -y 30; sleep 1',
      'say \'echo "size now $(stty size)"\'',
      't send-keys "sleep 100" Enter; sleep 1.5',
      't send-keys C-c',
      'for i in $(seq 1 50); do screen | grep -q "^^C" && break; sleep 0.2; done; sleep 0.3',
      'say \'echo "after Ctrl-C rc=$?"\'',
      't send-keys "exit 4" Enter',
      'for i in $(seq 1 150); do screen | grep -q SRUN-RC && break; sleep 0.2; done',
      'screen',
      't kill-server',
    ].join('\n');
    let screen = '';
    try {
      for (let attempt = 1; attempt <= 2; attempt += 1) {
        const result = await execa('bash', ['-c', driver], { reject: false, timeout: 150_000 });
        screen = result.stdout;
        // Slurm's own srun sometimes fails to accept its pty's window-size connection (it says so, and the
        // job sees a 0x0 terminal): that is the test bed's srun, not srun-docker; such a session is run once
        // more. Seen once without srun's line too (fresh-clone CI of c9d79da: the job's first `stty size`
        // 0 0, the resize after it 30 100): a 0x0 start is run again only when the step's own terminal,
        // which srun-docker reads, was 0x0 as well; a size srun-docker did not pass on fails here.
        const stepPty = /^STEP-PTY: (.*)$/m.exec(screen)?.[1]?.trim();
        const srunLostTheSize = screen.includes('srun: error: pty: accept failure') || (/^0 0$/m.test(screen) && stepPty === '0 0');
        if (!srunLostTheSize) break;
        console.log(`[interactive] srun gave the step a 0x0 terminal (attempt ${attempt}); running the session again`);
      }
    } finally {
      rmSync(session, { force: true });
      rmSync(socket, { force: true });
    }
    // the terminal srun gave the step on node1 (srun-docker's own), read from outside the job
    expect(/^STEP-PTY: (.*)$/m.exec(screen)?.[1]?.trim(), screen).toBe('40 120');
    expect(screen).toMatch(/^np=2 hostlist=node1:1,node2:1$/m);
    expect(screen).toMatch(/^\/dev\/pts\/\d+$/m);
    expect(screen).toMatch(/^node2$/m);
    // the job's terminal, then ssh -t's on node2
    expect(screen.match(/^\/dev\/pts\/\d+$/gm)?.length, screen).toBe(2);
    expect(screen).toMatch(/^40 120$/m);
    expect(screen).toMatch(/^size now 30 100$/m);
    expect(screen).toContain('after Ctrl-C rc=130');
    expect(screen).toMatch(/^top: [1-9]\d* 0$/m);
    expect(screen).toContain('SRUN-RC=4');
    expect(screen, 'the terminal is out of raw mode again').toMatch(/^TTY-AFTER: isig icanon echo *$/m);
    expect(screen).not.toContain('srun-docker-job-end');
  });
});

describe("the job's stdin through srun", () => {
  it('3 lines (spaces, $HOME) piped into a 2-node job arrive unchanged, and its end', async () => {
    const run = await asAlice(['sh', '-c', `printf 'one\\n  two  with spaces \\n$HOME \`x\`\\n' | srun -N2 srun-docker --container=${MPI_IMAGE} --script=${LINES} --quiet`]);
    expect(run.exitCode, run.all).toBe(0);
    expect(run.stdout).toBe('[one]\n[  two  with spaces ]\n[$HOME `x`]\neof after lines on node1');
  });

  it('100 MB of binary input into a 2-node job arrive byte for byte (sha256)', async () => {
    const file = `${WORK}/random.bin`;
    const made = await asAlice(['sh', '-c', `head -c 104857600 /dev/urandom >${file} && sha256sum ${file} | cut -d" " -f1`]);
    expect(made.exitCode, made.all).toBe(0);
    const run = await asAlice(['sh', '-c', `srun -N2 srun-docker --container=${MPI_IMAGE} --script=${SUM} --quiet <${file}; rc=$?; rm -f ${file}; exit $rc`], { timeoutMs: 240_000 });
    expect(run.exitCode, run.all).toBe(0);
    expect(run.stdout.trim()).toBe(made.stdout.trim());
  });
});

describe('an end no output can forge', () => {
  it('a 2-node job printing end lines on both streams runs on and keeps its own exit code', async () => {
    const run = await srunDocker(['-N2'], [`--script=${FORGE}`, '--quiet']);
    expect(run.stdout).toContain('still running on node1');
    expect(run.stdout).toContain('\x1esrun-docker-job-end:guess:0');
    expect(run.exitCode, run.all).toBe(5);
  });
});

describe('srun-docker shell into a running 3-node job', () => {
  it("from inside the allocation on node2 it reaches that node's container; bob is refused", async () => {
    const release = `${WORK}/release-shell-${Date.now()}`;
    const id = await sbatch(['-J', jobName('shell'), '-N3', '--wrap', `srun srun-docker --container=${MPI_IMAGE} --script=${HOLD} -- ${release}`]);
    try {
      await waitUntil('the job script to start', 90_000, async () => /^job: /m.exec((await readBatchOutput(id)))?.[0]);
      await waitForContainers('one container on every node', 10_000);
      const inside = await asAlice(['srun', `--jobid=${id}`, '--overlap', '-w', 'node2', 'srun-docker', 'shell', '--', 'sh', '-c', 'echo "host=$(hostname) np=$np user=$(id -un)"; ps -eo args | grep -c "[s]shd: "']);
      expect(inside.exitCode, inside.all).toBe(0);
      expect(inside.stdout).toMatch(/^host=node2 np=3 user=alice$/m);
      // bob, with docker access on node2 too: the label says whose job it is
      const bob = await onCluster('node2', ['srun-docker', 'shell', id], { user: 'bob' });
      expect(bob.exitCode).toBe(2);
      expect(bob.stderr.trim()).toBe(`srun-docker: error: job ${id} on this node belongs to alice, not bob: only its owner can open a shell in it`);
      const missing = await onCluster('node2', ['srun-docker', 'shell', '999999']);
      expect(missing.exitCode).toBe(2);
      expect(missing.stderr).toContain('no running srun-docker job 999999 on this node');
    } finally {
      await asAlice(['touch', release]);
      const done = await waitForJob(id, 60_000);
      await asAlice(['rm', '-f', release]);
      expect(done.state, done.output).toBe('COMPLETED');
    }
  });
});
