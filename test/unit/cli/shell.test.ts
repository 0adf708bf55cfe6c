import { describe, expect, it } from 'vitest';
import type { ContainerFacts } from '../../../src/docker/client.js';
import { UsageError } from '../../../src/platform/errors.js';
import { LABELS } from '../../../src/plan/labels.js';
import { parseShellArgs, pickContainer, runShell, shellCommand } from '../../../src/cli/shell.js';
import { signalExitCode } from '../../../src/platform/signals.js';
import type { Terminal } from '../../../src/platform/terminal.js';
import { FakeDocker } from '../fakes.js';

describe('parseShellArgs: srun-docker shell [JOBID[.STEP]] [--node=NODE] [-- CMD...]', () => {
  it('nothing: a shell in the only job', () => {
    expect(parseShellArgs([])).toEqual({ command: [] });
  });

  it('a job, a step, a node, a command with its own options and spaces', () => {
    expect(parseShellArgs(['4242.1', '--node=node2', '--', 'ps', '-ef', 'a b'])).toEqual({ jobId: '4242', stepId: '1', node: 'node2', command: ['ps', '-ef', 'a b'] });
    expect(parseShellArgs(['--node', 'node3', '77'])).toEqual({ jobId: '77', stepId: undefined, node: 'node3', command: [] });
    expect(parseShellArgs(['local-123.0'])).toMatchObject({ jobId: 'local-123', stepId: '0' });
  });

  it('--help', () => {
    expect(parseShellArgs(['--help'])).toBe('help');
  });

  it('bad input is one clear usage error (exit 2)', () => {
    for (const [argv, message] of [
      [['--bogus'], /unknown option --bogus .* after --/],
      [['4242', 'ps'], /unexpected argument "ps" .* after --/],
      [['42;rm'], /"42;rm" is not a job id/],
      [['--node='], /--node expects a node name/],
      [['--node'], /--node expects a node name/],
    ] as const) {
      expect(() => parseShellArgs(argv), argv.join(' ')).toThrow(UsageError);
      expect(() => parseShellArgs(argv), argv.join(' ')).toThrow(message);
    }
  });
});

const container = (id: string, labels: Record<string, string>, running = true): ContainerFacts => ({
  id,
  name: id,
  running,
  exitCode: 0,
  createdSeconds: 0,
  labels: { [LABELS.managed]: 'true', [LABELS.step]: '0', [LABELS.node]: 'node2', [LABELS.jobDir]: `/home/u/.srun-docker/jobs/${labels[LABELS.job] ?? ''}.0`, ...labels },
});
const alice = (id: string, job: string, more: Record<string, string> = {}) => container(id, { [LABELS.user]: 'alice', [LABELS.job]: job, ...more });

describe("pickContainer: the running job's container this node holds, for its owner only", () => {
  const here = [alice('a1', '10'), container('b1', { [LABELS.user]: 'bob', [LABELS.job]: '20' }), alice('old', '30', {}), alice('probe', '10', { [LABELS.probe]: 'true' })];

  it('by job id, by SLURM_JOB_ID, or the only one', () => {
    expect(pickContainer(here.slice(0, 2), { jobId: '10', command: [] }, 'alice', undefined).id).toBe('a1');
    expect(pickContainer(here, { command: [] }, 'alice', '10').id).toBe('a1');
    expect(pickContainer([here[0] as ContainerFacts, here[1] as ContainerFacts], { command: [] }, 'alice', undefined).id).toBe('a1');
  });

  it("someone else's job is refused, naming its owner", () => {
    expect(() => pickContainer(here, { jobId: '20', command: [] }, 'alice', undefined)).toThrow(/job 20 on this node belongs to bob, not alice: only its owner/);
    expect(() => pickContainer(here, { jobId: '10', command: [] }, 'bob', undefined)).toThrow(/belongs to alice, not bob/);
  });

  it('a missing job, a stopped container, another step or node: one clear line', () => {
    expect(() => pickContainer(here, { jobId: '99', command: [] }, 'alice', undefined)).toThrow(/no running srun-docker job 99 on this node/);
    expect(() => pickContainer([alice('x', '10', {})].map((c) => ({ ...c, running: false })), { jobId: '10', command: [] }, 'alice', undefined)).toThrow(UsageError);
    expect(() => pickContainer(here, { jobId: '10', stepId: '3', command: [] }, 'alice', undefined)).toThrow(/no running srun-docker job 10\.3/);
    expect(() => pickContainer(here, { jobId: '10', node: 'node1', command: [] }, 'alice', undefined)).toThrow(/for node node1/);
    expect(() => pickContainer([], { command: [] }, 'alice', undefined)).toThrow(/no running srun-docker job of yours on this node/);
  });

  it('several of the caller\'s jobs and no job id: lists them', () => {
    expect(() => pickContainer(here, { command: [] }, 'alice', undefined)).toThrow(/several srun-docker containers of yours run here: 10\.0 \(node2\), 30\.0 \(node2\) — name one/);
  });
});

describe('shellCommand', () => {
  it("sources the job's variables, then runs the command or a shell", () => {
    const cmd = shellCommand(alice('a1', '10'), ['ps', '-ef']);
    expect(cmd.slice(0, 2)).toEqual(['/bin/sh', '-c']);
    expect(cmd.slice(3)).toEqual(['srun-docker-shell', '/home/u/.srun-docker/jobs/10.0/job.env', 'ps', '-ef']);
  });
});

describe('runShell and the signals that end it', () => {
  /** A terminal that counts raw mode on and off, and a docker whose exec never ends by itself. */
  function setUp(): { docker: FakeDocker; terminal: Terminal; state: { raw: number; restored: number; resizes: number } } {
    const state = { raw: 0, restored: 0, resizes: 0 };
    const docker = new FakeDocker();
    docker.containers = [alice('a1', '10')];
    docker.exec = () => Promise.resolve({ resize: async () => void (state.resizes += 1), exited: new Promise<number>(() => undefined) });
    const terminal: Terminal = {
      raw: () => {
        state.raw += 1;
        return () => void (state.restored += 1);
      },
      size: () => ({ rows: 24, columns: 80 }),
      onResize: () => () => undefined,
    };
    return { docker, terminal, state };
  }
  const io = { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr, caller: 'alice', slurmJobId: undefined };

  it.each([
    ['SIGINT', 130],
    ['SIGTERM', 143],
    ['SIGHUP', 129],
  ] as const)('%s on a terminal: the terminal is restored and the exit code is %i', async (signal, code) => {
    const { docker, terminal, state } = setUp();
    expect(signalExitCode(signal)).toBe(code);
    const exit = await runShell({ command: [] }, { ...io, docker, terminal, interrupted: Promise.resolve(signal) });
    expect(exit).toBe(code);
    expect(state).toEqual({ raw: 1, restored: 1, resizes: 1 });
  });

  it('without a terminal: the signal ends it too, raw mode never touched', async () => {
    const { docker } = setUp();
    expect(await runShell({ command: ['true'] }, { ...io, docker, terminal: undefined, interrupted: Promise.resolve('SIGTERM') })).toBe(143);
  });
});
