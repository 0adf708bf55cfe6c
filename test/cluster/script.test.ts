import { beforeAll, describe, expect, it } from 'vitest';
import { writeAliceFile } from './support/cluster.js';
import { srunDocker, WORK } from './support/jobs.js';
import { useCluster } from './support/use-cluster.js';

useCluster();

const EXIT7 = `${WORK}/exit7.sh`;
const ARGS = `${WORK}/args.sh`;

describe('srun srun-docker: the job script', () => {
  beforeAll(async () => {
    await writeAliceFile(EXIT7, '#!/bin/bash\necho "exiting with 7 on $(hostname)"\nexit 7\n');
    // one line per argument, brackets show spaces; then what srun-docker injected about them
    await writeAliceFile(ARGS, '#!/bin/bash\nfor a in "$@"; do printf "arg=[%s]\\n" "$a"; done\necho "remainargs=[$remainargs]"\necho "scriptpath=[$scriptpath]"\n');
  });

  it("returns the script's exit code (7) as srun's exit code, workers exit 0", async () => {
    const run = await srunDocker(['-N3'], [`--script=${EXIT7}`]);
    expect(run.stdout).toContain('exiting with 7 on node1');
    expect(run.exitCode, run.all).toBe(7);
    expect(run.stderr).toMatch(/node1: task 0: Exited with exit code 7/);
    expect(run.stderr).not.toMatch(/node[23]: task \d+: Exited with exit code/);
  });

  it('passes unknown --flags and everything after -- to the script, unchanged and in order', async () => {
    const run = await srunDocker(['-N2'], [`--script=${ARGS}`, '--foo=bar', '--', '--epochs=5', 'a b']);
    expect(run.exitCode, run.all).toBe(0);
    expect(argsOf(run.stdout)).toEqual(['--foo=bar', '--epochs=5', 'a b']);
    expect(run.stdout).toContain('remainargs=[--foo=bar:--epochs=5:a b]');
    expect(run.stdout).toContain(`scriptpath=[${ARGS}]`);
  });

  it('a script that is on no node: each node says so with its name and srun exits 2, without waiting for the --timeout', async () => {
    const missing = `${WORK}/no-such-script-${process.pid}.sh`;
    // a worker that does not find it asks the coordinator for 3 s (it may find it), then gives up:
    // a --timeout of 600 s that anyone waited for would outlast this run's 120 s
    const run = await srunDocker(['-N3'], [`--script=${missing}`, '--timeout=600'], 120_000);
    expect(run.exitCode, run.all).toBe(2);
    for (const where of ['node1 coordinator', 'node2 worker', 'node3 worker']) {
      expect(run.stderr).toContain(`srun-docker[${where}]: error: --script ${missing} does not exist — give a path relative to the current directory or an absolute one`);
    }
    // and nothing is left on any node (useCluster checks after every test)
  });

  it('--script_help passes --help to the script', async () => {
    const run = await srunDocker(['-N2'], [`--script=${ARGS}`, '--script_help']);
    expect(run.exitCode, run.all).toBe(0);
    expect(argsOf(run.stdout)).toEqual(['--help']);
  });
});

function argsOf(stdout: string): string[] {
  return [...stdout.matchAll(/^arg=\[(.*)\]$/gm)].map((m) => m[1] ?? '');
}
