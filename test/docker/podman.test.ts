import Docker from 'dockerode';
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, closeSync, existsSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JOB_IMAGE, runCli, testUser, writeJobScript } from '../support/cli.js';
import { docker } from '../support/docker.js';

/**
 * Issue #6: srun-docker against Podman's Docker-compatible API, reached through DOCKER_HOST.
 * The test starts its own rootful `podman system service` on a socket in a temp dir (never the
 * machine's dockerd), so it needs root and the `podman` package; without them it fails, loudly.
 */

const user = testUser();
let dir = '';
let socket = '';
let service: ChildProcess | undefined;
let podman: Docker;
let work = '';
/** --dockopts for the ulimits Podman sets by itself (see beforeAll). */
let ulimitOpts = '';
/** conmon processes that were there before the service started: any other one is this test's. */
let conmonsBefore = new Set<number>();

function podmanInstalled(): boolean {
  try {
    execFileSync('podman', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

function conmons(): Set<number> {
  const pids = readdirSync('/proc').filter((d) => /^\d+$/.test(d));
  return new Set(
    pids
      .filter((pid) => {
        try {
          return readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'conmon';
        } catch {
          return false;
        }
      })
      .map(Number),
  );
}

function serviceLog(): string {
  const path = join(dir, 'service.log');
  return existsSync(path) ? readFileSync(path, 'utf8').trim().split('\n').slice(-15).join('\n') : '(no log)';
}

/** The hard limit of one resource of a running process, from /proc/PID/limits. */
function hardLimit(pid: number, resource: string): string {
  const line = readFileSync(`/proc/${pid}/limits`, 'utf8')
    .split('\n')
    .find((l) => l.startsWith(resource));
  const hard = line?.slice(resource.length).trim().split(/\s+/)[1];
  if (hard === undefined) throw new Error(`no "${resource}" line in /proc/${pid}/limits`);
  return hard === 'unlimited' ? '-1' : hard;
}

async function srunDockerContainers(): Promise<Docker.ContainerInfo[]> {
  return podman.listContainers({ all: true, filters: { label: ['srun-docker'] } });
}

function jobDirs(): string[] {
  const root = join(user.home, '.srun-docker', 'jobs');
  return existsSync(root) ? readdirSync(root) : [];
}

const script = (name: string, body: string): string => writeJobScript(work, name, body);

async function loadJobImageIfStale(): Promise<void> {
  const id = (image: { Id: string }): string => image.Id.replace(/^sha256:/, '');
  const wanted = id(await docker.getImage(JOB_IMAGE).inspect());
  const present = await podman
    .getImage(JOB_IMAGE)
    .inspect()
    .then(id, () => undefined);
  // podman load keeps the image id: a different one is an older build of the test image
  if (present === wanted) return;
  // the Docker daemon has it (built by the test set-up): docker save | podman load, over the two APIs
  const archive = (await docker.getImage(JOB_IMAGE).get()) as NodeJS.ReadableStream;
  const progress = (await podman.loadImage(archive)) as NodeJS.ReadableStream;
  await new Promise<void>((resolve, reject) => {
    podman.modem.followProgress(progress, (error: Error | null, events: Array<{ error?: string }>) => {
      const failed = error?.message ?? events.find((e) => e.error !== undefined)?.error;
      if (failed !== undefined) reject(new Error(`loading ${JOB_IMAGE} into Podman failed: ${failed}`));
      else resolve();
    });
  });
  await podman.getImage(JOB_IMAGE).inspect();
}

beforeAll(async () => {
  if (!podmanInstalled()) {
    throw new Error('podman is not installed: the Podman test (issue #6) needs it — apt-get install -y podman');
  }
  if (process.getuid?.() !== 0) {
    throw new Error('the Podman test starts a rootful `podman system service` and runs srun-docker as the test user: run it as root');
  }
  dir = mkdtempSync('/tmp/srun-docker-podman-');
  socket = join(dir, 'podman.sock');
  // An exec's conmon lingers exit_command_delay (300 s by default) after the exec ended: keep it short, so
  // that nothing of the test outlives it for long.
  writeFileSync(join(dir, 'containers.conf'), '[engine]\nexit_command_delay = 5\n');
  const log = openSync(join(dir, 'service.log'), 'w');
  conmonsBefore = conmons();
  // --time=0: no idle timeout; the service is this test's child and afterAll stops it by its PID
  service = spawn('podman', ['system', 'service', '--time=0', `unix://${socket}`], {
    cwd: dir,
    stdio: ['ignore', log, log],
    env: { ...process.env, CONTAINERS_CONF: join(dir, 'containers.conf') },
  });
  closeSync(log);
  podman = new Docker({ socketPath: socket });
  let answered = false;
  for (let i = 0; i < 100 && !answered && service.exitCode === null; i += 1) {
    answered = existsSync(socket) && (await podman.ping().then(() => true, () => false));
    if (!answered) await new Promise((r) => setTimeout(r, 200));
  }
  if (!answered) throw new Error(`podman system service did not answer on ${socket} within 20 s:\n${serviceLog()}`);
  // the test user reaches the socket through its own group only
  chownSync(dir, 0, user.gid);
  chmodSync(dir, 0o750);
  chownSync(socket, 0, user.gid);
  chmodSync(socket, 0o660);

  // Rootful Podman gives every container nofile=nproc=1048576 unless the request sets them (containers.conf's
  // default_ulimits are not used once a request has any Ulimits, and srun-docker's always has). Without
  // CAP_SYS_RESOURCE (this test bed) runc cannot raise them: "error setting rlimit type 7: operation not
  // permitted". Ask for the limits the service itself runs with.
  const pid = service.pid ?? 0;
  ulimitOpts = `--dockopts=--ulimit nofile=${hardLimit(pid, 'Max open files')} --ulimit nproc=${hardLimit(pid, 'Max processes')}`;

  await loadJobImageIfStale();
  work = mkdtempSync(join(user.home, 'podman-'));
  chownSync(work, user.uid, user.gid);
}, 300_000);

afterAll(async () => {
  if (podman !== undefined && service?.exitCode === null) {
    for (const c of await srunDockerContainers().catch(() => [])) await podman.getContainer(c.Id).remove({ force: true }).catch(() => undefined);
  }
  if (service !== undefined && service.exitCode === null && service.signalCode === null) {
    const exited = new Promise((r) => service?.once('exit', r));
    service.kill('SIGTERM');
    const timer = setTimeout(() => service?.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  }
  // the exec sessions' conmon processes end by themselves exit_command_delay (5 s) after their exec
  const ours = (): number[] => [...conmons()].filter((pid) => !conmonsBefore.has(pid));
  for (let i = 0; i < 40 && service !== undefined && ours().length > 0; i += 1) await new Promise((r) => setTimeout(r, 500));
  if (dir !== '') rmSync(dir, { recursive: true, force: true });
  if (work !== '') rmSync(work, { recursive: true, force: true });
}, 60_000);

describe('Podman through DOCKER_HOST (issue #6)', () => {
  it('runs a one-node job as the caller, returns its exit code and leaves nothing', async () => {
    const before = jobDirs();
    const groups = execFileSync('id', ['-G', user.name], { encoding: 'utf8' }).trim().split(/\s+/).sort();
    const job = script('job.sh', ['echo "uid=$(id -u) gid=$(id -g)"', 'echo "groups=$(id -G | tr " " "\\n" | sort | tr "\\n" " ")"', 'echo "hostlist=$hostlist"', 'exit 5'].join('\n'));
    // --verbose and a bound below the test's own: a run that hangs shows where
    const result = await runCli([`--container=${JOB_IMAGE}`, `--script=${job}`, ulimitOpts, '--verbose'], {
      cwd: work,
      env: { DOCKER_HOST: `unix://${socket}` },
      timeoutMs: 60_000,
    });
    expect(result.exitCode, result.all).toBe(5);
    expect(result.stdout).toContain(`uid=${user.uid} gid=${user.gid}`);
    // the caller's supplementary groups too (Podman drops them from an exec that names a user)
    expect(result.stdout).toContain(`groups=${groups.join(' ')} `);
    expect(result.stdout).toMatch(/^hostlist=\S+:1$/m);
    expect(await srunDockerContainers()).toEqual([]);
    expect(jobDirs().filter((d) => !before.includes(d))).toEqual([]);
  });

  it('removes its container and exits 143 on SIGTERM during the job', async () => {
    const job = script('sleep.sh', 'echo started; sleep 120');
    const run = runCli([`--container=${JOB_IMAGE}`, `--script=${job}`, ulimitOpts], { cwd: work, env: { DOCKER_HOST: `unix://${socket}` } });
    let output = '';
    run.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    for (let i = 0; i < 150 && !output.includes('started'); i += 1) await new Promise((r) => setTimeout(r, 200));
    expect(output).toContain('started');
    expect((await srunDockerContainers()).length).toBe(1);
    run.kill('SIGTERM');
    const result = await run;
    expect(result.exitCode, result.all).toBe(143);
    expect(await srunDockerContainers()).toEqual([]);
  });
});
