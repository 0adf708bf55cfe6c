import { chmodSync, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync, chownSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { JOB_IMAGE, runCli, testUser, writeJobScript } from '../support/cli.js';
import { containersOf, docker, removeAllOf } from '../support/docker.js';
import { LABELS } from '../../src/plan/labels.js';

const user = testUser();
let work: string;

const script = (name: string, body: string): string => writeJobScript(work, name, body);

function jobDirs(): string[] {
  const root = join(user.home, '.srun-docker', 'jobs');
  return existsSync(root) ? readdirSync(root) : [];
}

beforeAll(async () => {
  await removeAllOf(user.name);
  work = mkdtempSync(join(user.home, 'one-node-'));
  chownSync(work, user.uid, user.gid);
});

afterEach(async () => {
  // every test ends with nothing of ours left: assert it, then make sure for the next test
  expect((await containersOf(user.name)).map((c) => c.Names[0])).toEqual([]);
  expect(jobDirs()).toEqual([]);
});

afterAll(async () => {
  await removeAllOf(user.name);
  rmSync(work, { recursive: true, force: true });
});

describe('one-node run on the real Docker daemon', () => {
  it('injects the variables, runs as the caller, returns the exit code and leaves nothing', async () => {
    const job = script(
      'vars.sh',
      [
        'echo "hostlist=$hostlist np=$np NNODES=$NNODES NODE_RANK=$NODE_RANK"',
        'echo "MASTER_ADDR=$MASTER_ADDR MASTER_PORT=$MASTER_PORT sshdport=$sshdport"',
        'echo "scriptpath=$scriptpath remainargs=$remainargs ENVLIST=$ENVLIST MYVAR=$MYVAR"',
        'echo "hostfile=$(cat "$HOSTFILE")"',
        'echo "uid=$(id -u) gid=$(id -g) user=$(id -un) home=$HOME pwd=$(pwd)"',
        'for a in "$@"; do echo "arg=[$a]"; done',
        'exit 7',
      ].join('\n'),
    );
    const result = await runCli(['--container=' + JOB_IMAGE, `--script=${job}`, '--envlist=MYVAR', '--unknown=x', '--', '--epochs=5', 'a b'], {
      cwd: work,
      env: { MYVAR: 'hello world' },
    });
    expect(result.exitCode).toBe(7);
    const out = result.stdout;
    const host = /hostlist=([^:]+):1 /.exec(out)?.[1];
    expect(host).toBeTruthy();
    expect(out).toContain(`hostlist=${host}:1 np=1 NNODES=1 NODE_RANK=0`);
    expect(out).toMatch(new RegExp(`MASTER_ADDR=${host} MASTER_PORT=2\\d{4} sshdport=1\\d{4}`));
    expect(out).toContain(`scriptpath=${job} remainargs=--unknown=x:--epochs=5:a b ENVLIST=MYVAR MYVAR=hello world`);
    expect(out).toContain(`hostfile=${host} slots=1`);
    expect(out).toContain(`uid=${user.uid} gid=${user.gid} user=${user.name} home=${user.home} pwd=${work}`);
    expect(out).toContain('arg=[--unknown=x]\narg=[--epochs=5]\narg=[a b]');
  });

  it("passes the job's output on byte for byte: the line that says the job ended never shows", async () => {
    const job = script('output.sh', ["printf 'one\\ntwo\\n\\n'", "printf 'e1\\ne2 without a newline' >&2", 'exit 3'].join('\n'));
    const result = await runCli(['--container=' + JOB_IMAGE, `--script=${job}`], { cwd: work });
    expect(result.exitCode).toBe(3);
    // execa drops one final newline of what it read: the job wrote 'one\ntwo\n\n'
    expect(result.stdout).toBe('one\ntwo\n');
    expect(result.stderr).toContain('e1\ne2 without a newline');
    expect(result.all).not.toContain('\x1e');
    expect(result.all).not.toContain('srun-docker-job-end');
  });

  it('after the job, its container ends by itself and Docker removes it: no kill', async () => {
    const since = Math.floor(Date.now() / 1000) - 1;
    const result = await runCli(['--container=' + JOB_IMAGE, `--script=${script('true.sh', 'true')}`, '--verbose'], { cwd: work });
    expect(result.exitCode, result.all).toBe(0);
    const until = Math.floor(Date.now() / 1000) + 1;
    // this job's container only: an earlier test's may still be going within the same second
    const name = /container (\S+) started/.exec(result.stderr)?.[1];
    expect(name, result.stderr).toBeDefined();
    const events = (await docker.getEvents({ since, until, filters: { type: ['container'], label: [`${LABELS.user}=${user.name}`] } })) as unknown as NodeJS.ReadableStream;
    const actions: string[] = [];
    for await (const chunk of events) {
      for (const line of String(chunk).split('\n').filter(Boolean)) {
        const event = JSON.parse(line) as { Action: string; Actor?: { Attributes?: Record<string, string> } };
        if (event.Actor?.Attributes?.name === name) actions.push(event.Action);
      }
    }
    expect(actions).toContain('die');
    expect(actions).toContain('destroy');
    expect(actions, actions.join(' ')).not.toContain('kill');
  });

  it('gives the job working ssh to its own container and a working mpirun, with no edit of ~/.ssh', async () => {
    const job = script(
      'ssh.sh',
      ['set -e', 'ssh "$MASTER_ADDR" echo ssh-ok', 'mpirun -H "$hostlist" -np "$np" echo mpi-ok', 'test ! -e ~/.ssh/known_hosts && echo no-known-hosts'].join('\n'),
    );
    const result = await runCli(['--container=' + JOB_IMAGE, `--script=${job}`], { cwd: work });
    expect(result.all).toContain('ssh-ok');
    expect(result.all).toContain('mpi-ok');
    expect(result.all).toContain('no-known-hosts');
    expect(result.exitCode).toBe(0);
  });

  it("does not run the image's ENTRYPOINT (an NGC image's, say); --dry-run names it and how to run it from the script", async () => {
    // an entrypoint that would end every container at once with 42, had it run
    const base = await docker.createContainer({ Image: JOB_IMAGE, Entrypoint: ['true'] });
    const image = 'srun-docker/entrypoint-test:1';
    try {
      await base.commit({ repo: 'srun-docker/entrypoint-test', tag: '1', changes: 'ENTRYPOINT ["/bin/sh", "-c", "echo entrypoint-ran; exit 42", "ep"]' });
      expect((await docker.getImage(image).inspect()).Config.Entrypoint).toEqual(['/bin/sh', '-c', 'echo entrypoint-ran; exit 42', 'ep']);
      const job = script('entrypoint.sh', 'echo job-ran');
      const dry = await runCli([`--container=${image}`, `--script=${job}`, '--dry-run'], { cwd: work });
      expect(dry.exitCode, dry.all).toBe(0);
      expect(dry.stdout).toContain('image entrypoint: /bin/sh -c echo entrypoint-ran; exit 42 ep — not run');
      const result = await runCli([`--container=${image}`, `--script=${job}`], { cwd: work });
      expect(result.exitCode, result.all).toBe(0);
      expect(result.stdout).toBe('job-ran');
    } finally {
      await base.remove({ force: true });
      await docker.getImage(image).remove({ force: true }).catch(() => undefined);
    }
  });

  it('replaces a stale container of the same name left by an earlier run of this user', async () => {
    const stale = await docker.createContainer({
      name: 'srun-docker-stale-test',
      Image: JOB_IMAGE,
      Entrypoint: ['sleep', '300'],
      Labels: { 'srun-docker': 'true', 'srun-docker.user': user.name, 'srun-docker.job': 'old' },
    });
    await stale.start();
    const job = script('ok.sh', 'echo ran-fine');
    const result = await runCli(['--container=' + JOB_IMAGE, `--script=${job}`, '--dockname=srun-docker-stale-test'], { cwd: work });
    expect(result.stdout).toContain('ran-fine');
    expect(result.exitCode).toBe(0);
    await expect(docker.getContainer(stale.id).inspect()).rejects.toMatchObject({ statusCode: 404 });
  });

  it('refuses to touch a same-name container that is not this user’s', async () => {
    const other = await docker.createContainer({ name: 'srun-docker-foreign-test', Image: JOB_IMAGE, Entrypoint: ['sleep', '300'] });
    try {
      const job = script('ok2.sh', 'echo should-not-run');
      const result = await runCli(['--container=' + JOB_IMAGE, `--script=${job}`, '--dockname=srun-docker-foreign-test'], { cwd: work });
      expect(result.exitCode).toBe(1);
      expect(result.stderr).toMatch(/srun-docker-foreign-test already exists .* pass another --dockname/);
      expect(result.stdout).not.toContain('should-not-run');
      expect((await docker.getContainer(other.id).inspect()).Id).toBe(other.id);
    } finally {
      await other.remove({ force: true });
    }
  });

  it('removes its containers and exits 143 on SIGTERM during the job (what scancel sends)', async () => {
    const job = script('sleep.sh', 'echo started; sleep 120');
    const run = runCli(['--container=' + JOB_IMAGE, `--script=${job}`], { cwd: work });
    for (let i = 0; i < 100 && (await containersOf(user.name)).length === 0; i += 1) await new Promise((r) => setTimeout(r, 200));
    await new Promise((r) => setTimeout(r, 1500));
    expect((await containersOf(user.name)).length).toBe(1);
    // the CLI runs under setpriv, which execs node: the pid is srun-docker's own
    run.kill('SIGTERM');
    const result = await run;
    expect(result.exitCode).toBe(143);
    expect(result.stderr).toContain('SIGTERM received');
  });

  it('SIGKILL of srun-docker itself: its container ends within seconds (the control FIFO closes), cleanup removes the job dir at once', async () => {
    const job = script('killed.sh', 'echo started; sleep 300');
    const run = runCli(['--container=' + JOB_IMAGE, `--script=${job}`], { cwd: work });
    // killed while the job runs: its container is up, and nothing of srun-docker is left to remove it
    await new Promise<void>((resolve) => {
      let seen = '';
      run.stdout?.on('data', (chunk: Buffer) => {
        seen += chunk.toString();
        if (seen.includes('started')) resolve();
      });
    });
    expect((await containersOf(user.name)).length).toBe(1);
    // its private copies of passwd and group went once the container had started (runCli sets no TMPDIR)
    expect(readdirSync('/tmp').filter((name) => name.startsWith(`srun-docker--${run.pid}-`))).toEqual([]);
    run.kill('SIGKILL');
    await run;
    const killedAt = Date.now();
    // the kernel closes the killed process's end of the control FIFO: the container ends the job and itself
    for (let i = 0; i < 100 && (await containersOf(user.name)).length > 0; i += 1) await new Promise((r) => setTimeout(r, 200));
    expect(await containersOf(user.name)).toEqual([]);
    expect(Date.now() - killedAt).toBeLessThan(10_000);
    // the job directory (keys) is what a crashed run leaves; a later run, or `cleanup`, removes it: its
    // coordinator's process is gone from this host (no waiting for any file to age)
    expect(jobDirs()).toHaveLength(1);
    const cleanup = await runCli(['cleanup'], { cwd: work });
    expect(cleanup.exitCode).toBe(0);
    expect(cleanup.stdout).toContain('1 job director');
  }, 150_000);

  it('mounts --datamnts and passes --dockopts env and labels', async () => {
    const data = mkdtempSync('/tmp/srun-docker-data-');
    writeFileSync(join(data, 'marker.txt'), 'data-visible');
    chmodSync(data, 0o755);
    try {
      const job = script('data.sh', `cat ${data}/marker.txt; echo "FROMOPTS=$FROMOPTS"; cat /dev/shm/../shm >/dev/null 2>&1; df -k /dev/shm | tail -1 | awk '{print "shm=" $2}'`);
      const result = await runCli(
        ['--container=' + JOB_IMAGE, `--script=${job}`, `--datamnts=${data}`, '--dockopts=-e FROMOPTS=a=b --label extra=1'],
        { cwd: work },
      );
      expect(result.stdout).toContain('data-visible');
      expect(result.stdout).toContain('FROMOPTS=a=b');
      expect(result.stdout).toContain(`shm=${1024 * 1024}`);
      expect(result.exitCode).toBe(0);
    } finally {
      rmSync(data, { recursive: true, force: true });
    }
  });
});
