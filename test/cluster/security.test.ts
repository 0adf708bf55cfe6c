import { beforeAll, describe, expect, it } from 'vitest';
import { asAlice, CONTROLLER, MPI_IMAGE, NODES, onCluster, writeAliceFile } from './support/cluster.js';
import { containersOn, JOBS_DIR, jobName, processes, waitForContainers } from './support/faults.js';
import { AWAIT_RELEASE, sbatch, waitForJob, waitUntil, WORK, readBatchOutput } from './support/jobs.js';
import { useCluster } from './support/use-cluster.js';

useCluster();

/**
 * What another user of the cluster (bob) can see and do while alice's job runs, and what anyone can
 * read from process lists and logs. Each case inspects a real running 3-node job.
 */

const HOLD_JOB = `${WORK}/security-hold.sh`;
const BOB_DIR = '/home/bob/security-test';

interface RunningJob {
  id: string;
  port: number;
  dir: string;
  container: string;
  release: string;
}

beforeAll(async () => {
  // reports who it runs as, then holds the job open until the test releases it (bounded)
  await writeAliceFile(
    HOLD_JOB,
    [
      '#!/bin/bash',
      'echo "job: uid=$(id -u) gid=$(id -g) user=$(id -un) port=$sshdport dir=$sshconfigdir"',
      AWAIT_RELEASE,
      'echo "not released within 120 s"; exit 3',
      '',
    ].join('\n'),
  );
  const bob = await onCluster(CONTROLLER, ['sh', '-c', `rm -rf ${BOB_DIR} && mkdir -p ${BOB_DIR} && ssh-keygen -q -t ed25519 -N '' -C bob -f ${BOB_DIR}/key`], { user: 'bob' });
  expect(bob.exitCode, bob.all).toBe(0);
});

/** sbatch -N3 a job that holds until released; returns once it runs on all nodes. */
async function startJob(): Promise<RunningJob> {
  const release = `${WORK}/release-${Date.now()}`;
  const id = await sbatch(['-J', jobName('security'), '-N3', '--wrap', `srun srun-docker --verbose --container=${MPI_IMAGE} --script=${HOLD_JOB} -- ${release}`]);
  const line = await waitUntil('the job script to start', 90_000, async () => {
    return /^job: .*$/m.exec(await readBatchOutput(id))?.[0];
  });
  await waitForContainers('one container on every node', 10_000);
  const port = Number(/port=(\d+)/.exec(line)?.[1]);
  const dir = /dir=(\S+)/.exec(line)?.[1] ?? '';
  expect(dir).toBe(`${JOBS_DIR}/${id}.0`);
  return { id, port, dir, container: `srun-docker-alice-${id}.0`, release };
}

/** Releases the job and returns its output; it must complete with 0. */
async function finishJob(job: RunningJob): Promise<string> {
  await asAlice(['touch', job.release]);
  const done = await waitForJob(job.id, 60_000);
  await asAlice(['rm', '-f', job.release]);
  expect({ state: done.state, exitCode: done.exitCode }, done.output).toEqual({ state: 'COMPLETED', exitCode: 0 });
  return done.output;
}

/** Runs the checks on a running job, and always ends the job. */
async function withRunningJob(check: (job: RunningJob) => Promise<void>): Promise<string> {
  const job = await startJob();
  let failure: unknown;
  await check(job).catch((error: unknown) => {
    failure = error;
  });
  // end the job either way, so the leftovers check sees its normal teardown, not a job mid-run
  const output = await finishJob(job);
  if (failure !== undefined) throw failure;
  return output;
}

describe('security of a running job', () => {
  it('every container runs as alice (uid 1000), never as root', async () => {
    const output = await withRunningJob(async (job) => {
      for (const node of NODES) {
        const user = await onCluster(node, ['docker', 'inspect', '-f', '{{.Config.User}}', job.container], { user: 'root' });
        expect(user.stdout.trim(), `${node}: the container's user`).toBe('1000:1000');
        const top = await onCluster(node, ['docker', 'top', job.container, '-eo', 'pid,uid,args'], { user: 'root' });
        expect(top.exitCode, top.all).toBe(0);
        const uids = top.stdout.split('\n').slice(1).filter((l) => l.trim() !== '').map((l) => l.trim().split(/\s+/)[1]);
        expect(uids.length, `${node}: processes in the container\n${top.stdout}`).toBeGreaterThan(0);
        expect(new Set(uids), `${node}: uids in the container\n${top.stdout}`).toEqual(new Set(['1000']));
      }
    });
    expect(output).toMatch(/^job: uid=1000 gid=1000 user=alice /m);
  });

  it('the job directory is 0700 and its keys 0600, all owned by alice', async () => {
    await withRunningJob(async (job) => {
      const stat = await onCluster(CONTROLLER, ['sh', '-c', 'cd "$1" && stat -c "%a %U %n" . nodes bin * nodes/* bin/*', 'sh', job.dir], { user: 'root' });
      expect(stat.exitCode, stat.all).toBe(0);
      const modes = new Map(stat.stdout.split('\n').filter(Boolean).map((l) => {
        const [mode = '', owner = '', name = ''] = l.split(' ');
        return [name, { mode, owner }] as const;
      }));
      expect(modes.get('.'), stat.stdout).toEqual({ mode: '700', owner: 'alice' });
      expect(modes.get('nodes'), stat.stdout).toEqual({ mode: '700', owner: 'alice' });
      // the client key, and every node's own host key (each made by srun-docker on that node)
      const keys = ['id_ed25519', ...NODES.map((n) => `nodes/${n}.ssh_host_ed25519_key`)];
      for (const key of keys) expect(modes.get(key), `${key}\n${stat.stdout}`).toEqual({ mode: '600', owner: 'alice' });
      for (const file of ['authorized_keys', 'known_hosts', 'ssh_config', 'secret', 'coordinator.json', ...NODES.map((n) => `nodes/${n}.sshd_config`)]) {
        expect(modes.get(file), `${file}\n${stat.stdout}`).toEqual({ mode: '600', owner: 'alice' });
      }
      for (const [name, { mode, owner }] of modes) {
        expect(owner, name).toBe('alice');
        // nothing in it is writable by anyone else (and nothing readable but public keys and logs)
        expect(Number.parseInt(mode, 8) & 0o022, `${name} ${mode}`).toBe(0);
        if (!/\.pub$|\.sshd\.log$/.test(name)) expect(Number.parseInt(mode, 8) & 0o077, `${name} ${mode}`).toBe(0);
      }
      const parents = await onCluster(CONTROLLER, ['stat', '-c', '%a %U %n', JOBS_DIR], { user: 'root' });
      expect(parents.stdout.trim()).toBe(`700 alice ${JOBS_DIR}`);
    });
  });

  it("bob cannot log in to alice's containers with his own key; alice's job key can", async () => {
    await withRunningJob(async (job) => {
      const sshAsBob = (login: string[]): Promise<{ exitCode: number; all: string }> =>
        onCluster(CONTROLLER, ['ssh', '-p', String(job.port), '-i', `${BOB_DIR}/key`, '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'BatchMode=yes', '-o', 'ConnectTimeout=10', ...login, 'node2', 'true'], { user: 'bob', timeoutMs: 60_000 });
      for (const login of [[], ['-l', 'alice']]) {
        const bob = await sshAsBob(login);
        expect(bob.exitCode, `ssh ${login.join(' ')} as bob: ${bob.all}`).toBe(255);
        expect(bob.all).toMatch(/Permission denied \(publickey\)/);
      }
      // the same port answers alice with the job's key: bob was refused, not the port closed
      const alice = await onCluster(CONTROLLER, ['ssh', '-F', `${job.dir}/ssh_config`, 'node2', 'id', '-un'], { timeoutMs: 60_000 });
      expect(alice.exitCode, alice.all).toBe(0);
      expect(alice.stdout.trim()).toBe('alice');
    });
  });

  it("bob cannot read alice's job directory or its keys", async () => {
    await withRunningJob(async (job) => {
      for (const command of [['ls', job.dir], ['cat', `${job.dir}/id_ed25519`], ['cat', `${job.dir}/nodes/node2.ssh_host_ed25519_key`], ['ls', JOBS_DIR]]) {
        for (const host of [CONTROLLER, 'node2']) {
          const bob = await onCluster(host, command, { user: 'bob' });
          expect(bob.exitCode, `${host}: ${command.join(' ')} as bob: ${bob.all}`).not.toBe(0);
          expect(bob.all).toMatch(/Permission denied/);
          expect(bob.stdout).toBe('');
        }
      }
    });
  });

  it('no key material in any process argument, container config or srun-docker log', async () => {
    let keyLines: string[] = [];
    const output = await withRunningJob(async (job) => {
      const keys = await onCluster(CONTROLLER, ['cat', `${job.dir}/id_ed25519`, ...NODES.map((n) => `${job.dir}/nodes/${n}.ssh_host_ed25519_key`)], { user: 'root' });
      expect(keys.exitCode, keys.all).toBe(0);
      keyLines = keys.stdout.split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('-----'));
      expect(keyLines.length, 'the base64 body of four ed25519 keys').toBeGreaterThanOrEqual(12);
      for (const host of [CONTROLLER, ...NODES]) {
        const ps = await processes(host);
        const args = ps.map((p) => p.args).join('\n');
        if (NODES.includes(host)) expect(args, `${host}: srun-docker and sshd run here`).toMatch(/srun-docker --verbose/);
        expect(args, host).not.toContain('PRIVATE KEY');
        for (const line of keyLines) expect(args.includes(line), `${host}: a line of a private key in ps output`).toBe(false);
      }
      for (const node of NODES) {
        const [container] = await containersOn(node);
        const inspect = await onCluster(node, ['docker', 'inspect', container?.id ?? job.container], { user: 'root' });
        expect(inspect.exitCode, inspect.all).toBe(0);
        expect(inspect.stdout).not.toContain('PRIVATE KEY');
        for (const line of keyLines) expect(inspect.stdout.includes(line), `${node}: a line of a private key in docker inspect`).toBe(false);
      }
    });
    // --verbose: srun-docker said all it says, on every node
    expect(output).toMatch(/srun-docker\[node2 worker\]: /);
    expect(output).not.toContain('PRIVATE KEY');
    for (const line of keyLines) expect(output.includes(line), 'a line of a private key in the job output').toBe(false);
  });
});
