import { chmodSync, chownSync, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { JOB_IMAGE, runCli, testUser } from '../support/cli.js';
import { containersOf } from '../support/docker.js';

const user = testUser();
let work: string;
let job: string;

beforeAll(() => {
  work = mkdtempSync(join(user.home, 'bad-input-'));
  job = join(work, 'job.sh');
  writeFileSync(job, '#!/bin/bash\necho job-ran\n');
  chmodSync(job, 0o755);
  chownSync(work, user.uid, user.gid);
  chownSync(job, user.uid, user.gid);
});

afterEach(async () => {
  expect(await containersOf(user.name)).toEqual([]);
  const jobs = join(user.home, '.srun-docker', 'jobs');
  expect(existsSync(jobs) ? readdirSync(jobs) : []).toEqual([]);
});

afterAll(() => rmSync(work, { recursive: true, force: true }));

/** One line on stderr, starting with the tool's name, and nothing on stdout. */
function expectOneLine(stderr: string, pattern: RegExp): void {
  const lines = stderr.trim().split('\n');
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(/^srun-docker(\[\S+ coordinator\])?: error: /);
  expect(lines[0]).toMatch(pattern);
}

describe('bad input: one clear line, the right exit code, nothing left running', () => {
  it.each([
    ['missing --container', () => [`--script=${job}`], {}, 2, /missing --container/],
    ['missing --script', () => [`--container=${JOB_IMAGE}`], {}, 2, /missing --script/],
    ['a script that does not exist', () => [`--container=${JOB_IMAGE}`, '--script=./nope.sh'], {}, 2, /nope\.sh does not exist/],
    ['an unknown --dockopts flag', () => [`--container=${JOB_IMAGE}`, `--script=${job}`, '--dockopts=--frobnicate=1'], {}, 2, /unsupported --dockopts flag "--frobnicate".*supported:.*--env/],
    ['a malformed SLURM_STEP_NODELIST', () => [`--container=${JOB_IMAGE}`, `--script=${job}`], { SLURM_JOB_ID: '42', SLURM_STEP_ID: '0', SLURM_STEP_NODELIST: 'dgx[01-', SLURMD_NODENAME: 'dgx01' }, 2, /SLURM_STEP_NODELIST/],
    ['a bad --sshdport', () => [`--container=${JOB_IMAGE}`, `--script=${job}`, '--sshdport=99999'], {}, 2, /--sshdport expects/],
    ['a Docker daemon that does not answer', () => [`--container=${JOB_IMAGE}`, `--script=${job}`], { DOCKER_HOST: 'unix:///tmp/srun-docker-no-daemon.sock' }, 1, /Docker daemon not answering .*DOCKER_HOST/],
    ['an image that does not exist (--pull=never)', () => [`--container=srun-docker/no-such-image:1`, `--script=${job}`], {}, 1, /image srun-docker\/no-such-image:1 is not on this node/],
    // a registry on a closed loopback port: the pull fails at once, and no traffic leaves the machine
    ['an image that cannot be pulled', () => [`--container=127.0.0.1:9/no-such-image:1`, `--script=${job}`, '--pull=missing'], {}, 1, /image 127\.0\.0\.1:9\/no-such-image:1 .* could not be pulled/],
  ] as const)('%s', async (_name, args, env, code, pattern) => {
    const result = await runCli([...args()], { cwd: work, env: { ...env } });
    expect(result.stdout).not.toContain('job-ran');
    expectOneLine(result.stderr, pattern);
    expect(result.exitCode).toBe(code);
  });

  it('a port already in use: names the port and what to do', async () => {
    const server: Server = createServer();
    await new Promise<void>((resolve) => server.listen({ port: 0, host: '0.0.0.0' }, resolve));
    const port = (server.address() as { port: number }).port;
    try {
      const result = await runCli([`--container=${JOB_IMAGE}`, `--script=${job}`, `--sshdport=${port}`], { cwd: work });
      expect(result.stderr).toContain(`port ${port} is already in use`);
      expect(result.stderr.trim().split('\n').pop()).toMatch(/pass another --sshdport/);
      expect(result.exitCode).toBe(1);
    } finally {
      server.close();
    }
  });
});
