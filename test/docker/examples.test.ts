import { chownSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { JOB_IMAGE, PROJECT, runCli, testUser } from '../support/cli.js';
import { containersOf } from '../support/docker.js';

const user = testUser();
let work: string;

beforeAll(() => {
  work = mkdtempSync(join(user.home, 'examples-'));
  chownSync(work, user.uid, user.gid);
});
afterEach(async () => expect(await containersOf(user.name)).toEqual([]));
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('the examples run as written, one node here', () => {
  it('hello-mpi.sh (the quickstart): one hello per slot, as the caller', async () => {
    const run = await runCli([`--container=${JOB_IMAGE}`, `--script=${PROJECT}examples/hello-mpi.sh`, '--slots_per_node=2'], { cwd: work });
    expect(run.exitCode, run.all).toBe(0);
    expect(run.stdout).toMatch(/job on 1 node\(s\): hostlist=\S+:2 np=2/);
    expect(run.stdout.match(new RegExp(`hello from rank \\d of 2 on \\S+ as ${user.name}`, 'g'))).toHaveLength(2);
  });

  it('mpi4py-allreduce.sh: every rank gets the right sum', async () => {
    const run = await runCli([`--container=${JOB_IMAGE}`, `--script=${PROJECT}examples/mpi4py-allreduce.sh`, '--slots_per_node=3'], { cwd: work });
    expect(run.exitCode, run.all).toBe(0);
    const ok = run.stdout.match(/allreduce rank=\d size=3 host=\S+ sum=6 expected=6 ok=True/g);
    expect(ok, run.all).toHaveLength(3);
  });

  // on one node torchrun-ssh.sh runs torchrun in the job's own container (nothing to start over ssh)
  it.each(['torchrun-ddp.sh', 'torchrun-ssh.sh'])('%s: torchrun with two CPU processes agrees on the weights', async (example) => {
    const run = await runCli(
      ['--container=srun-docker/torch:bookworm', `--script=${PROJECT}examples/${example}`, '--slots_per_node=2', '--envlist=TORCHRUN_EXTRA_ARGS', '--', '--steps=3'],
      { cwd: work, env: { TORCHRUN_EXTRA_ARGS: '--redirects=1 --tee=1' } },
    );
    expect(run.exitCode, run.all).toBe(0);
    expect(run.stdout.match(/ddp rank=\d world=2 host=\S+ loss=\S+ ok=True/g), run.all).toHaveLength(2);
  });
});
