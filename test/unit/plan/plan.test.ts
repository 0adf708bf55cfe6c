import { describe, expect, it } from 'vitest';
import type { Allocation } from '../../../src/slurm/allocation.js';
import { UsageError } from '../../../src/platform/errors.js';
import { LABELS } from '../../../src/plan/labels.js';
import type { RunOptions } from '../../../src/cli/options.js';
import { buildLaunchPlan, ORIGINAL_SSHD_PORT, type HostFacts } from '../../../src/plan/plan.js';
import { runOptions } from '../fakes.js';

const opts = runOptions;

function alloc(overrides: Partial<Allocation> = {}): Allocation {
  return {
    inSlurm: true,
    jobId: '4242',
    stepId: '0',
    nodes: ['n1', 'n2', 'n3'],
    nodeName: 'n1',
    role: 'coordinator',
    gpus: [],
    resources: {},
    ...overrides,
  };
}

function host(overrides: Partial<HostFacts> = {}): HostFacts {
  return {
    cwd: '/home/alice/work',
    user: 'alice',
    home: '/home/alice',
    env: { HOME: '/home/alice', A: 'one', B: 'two words' },
    scriptExecutable: true,
    ...overrides,
  };
}

const plan = (o: Partial<RunOptions> = {}, a: Partial<Allocation> = {}, h: Partial<HostFacts> = {}) =>
  buildLaunchPlan(opts(o), alloc(a), host(h));

describe('buildLaunchPlan: roles and identity of the step', () => {
  it.each<[string, Partial<Allocation>, 'coordinator' | 'worker']>([
    ['first node coordinates', { nodeName: 'n1', role: 'coordinator' }, 'coordinator'],
    ['another node is a worker', { nodeName: 'n3', role: 'worker' }, 'worker'],
  ])('%s', (_name, a, role) => {
    const p = plan({}, a);
    expect(p.role).toBe(role);
    expect(p.node).toBe(a.nodeName);
    expect(p.nodes).toEqual(['n1', 'n2', 'n3']);
    expect(p.jobId).toBe('4242');
    expect(p.stepId).toBe('0');
    expect(p.image).toBe('img:1');
  });

  it('an idle task has no plan', () => {
    expect(() => plan({}, { role: 'idle' })).toThrow(/idle/);
  });

  it('puts the job directory on the home, per job step', () => {
    expect(plan().jobDir.root).toBe('/home/alice/.srun-docker/jobs/4242.0');
    expect(plan({}, { stepId: '3' }).jobDir.root).toBe('/home/alice/.srun-docker/jobs/4242.3');
  });
});

describe('buildLaunchPlan: sshd port', () => {
  it('every node of one job step computes the same default port', () => {
    const ports = ['n1', 'n2', 'n3'].map((n, i) => plan({}, { nodeName: n, role: i === 0 ? 'coordinator' : 'worker' }).port);
    expect(new Set(ports).size).toBe(1);
    expect(new Set(['n1', 'n2', 'n3'].map((n) => plan({}, { nodeName: n }).masterPort)).size).toBe(1);
  });

  it.each<[string, Partial<Allocation>, Partial<Allocation>]>([
    ['consecutive job ids', { jobId: '4242' }, { jobId: '4243' }],
    ['two steps of one job', { stepId: '0' }, { stepId: '1' }],
  ])('differs for %s', (_name, a, b) => {
    expect(plan({}, a).port).not.toBe(plan({}, b).port);
  });

  it('stays in the private range below the ephemeral ports', () => {
    const port = plan().port;
    expect(port).toBeGreaterThanOrEqual(10_000);
    expect(port).toBeLessThan(20_000);
  });

  it.each<[string, Partial<RunOptions>, number]>([
    ['--sshdport wins', { sshdport: 2222 }, 2222],
    ['--sshdport wins in original mode too', { sshdport: 2222, sshconfigdir: '/cfg' }, 2222],
    ['original mode defaults to the fixed port', { sshconfigdir: '/cfg' }, ORIGINAL_SSHD_PORT],
  ])('%s', (_name, o, port) => {
    expect(plan(o).port).toBe(port);
    // an explicit port stays exactly what the user said: no fallback candidates
    expect(plan(o).sshdPortCandidates).toEqual([port]);
  });

  it('the default port is the first of the job step\'s candidates; MASTER_PORT\'s are the step\'s own', () => {
    const p = plan();
    expect(p.sshdPortCandidates[0]).toBe(p.port);
    expect(p.sshdPortCandidates.length).toBeGreaterThan(1);
    expect(p.masterPortCandidates[0]).toBe(p.masterPort);
    expect(plan({}, { stepId: '1' }).masterPort).not.toBe(p.masterPort);
  });

  it('the original port is 12345', () => {
    expect(ORIGINAL_SSHD_PORT).toBe(12345);
  });
});

describe('buildLaunchPlan: ssh config mode', () => {
  it("zero set-up: each node's own sshd_config in the job directory", () => {
    const p = plan();
    expect(p.sshconfigdir).toBeUndefined();
    expect(p.sshdConfig).toBe('/home/alice/.srun-docker/jobs/4242.0/nodes/n1.sshd_config');
    expect(plan({}, { nodeName: 'n3', role: 'worker' }).sshdConfig).toBe('/home/alice/.srun-docker/jobs/4242.0/nodes/n3.sshd_config');
  });

  it.each<[string, string]>([
    ['/etc/srun-ssh', '/etc/srun-ssh'],
    ['sshcont', '/home/alice/work/sshcont'],
    ['../.sshcont', '/home/alice/.sshcont'],
  ])('original mode: --sshconfigdir=%s resolves against the cwd', (dir, resolved) => {
    const p = plan({ sshconfigdir: dir });
    expect(p.sshconfigdir).toBe(resolved);
    expect(p.sshdConfig).toBe(`${resolved}/sshd_config`);
    expect(p.neededPaths).toContain(resolved);
  });
});

describe('buildLaunchPlan: container name and labels', () => {
  it('default name is unique per job step', () => {
    const names = new Set([
      plan().containerName,
      plan({}, { jobId: '4243' }).containerName,
      plan({}, { stepId: '1' }).containerName,
      plan({}, {}, { user: 'bob' }).containerName,
    ]);
    expect(names.size).toBe(4);
    expect(plan().containerName).toBe('srun-docker-alice-4242.0');
  });

  it('default name is a valid docker name even for odd user names', () => {
    expect(plan({}, {}, { user: 'a b@c' }).containerName).toMatch(/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/);
  });

  it('--dockname wins', () => {
    expect(plan({ dockname: 'mybox' }).containerName).toBe('mybox');
  });

  it('labels the container with job, step, user, node and role', () => {
    const p = plan({}, { nodeName: 'n2', role: 'worker', stepId: '7' });
    expect(p.labels).toMatchObject({
      [LABELS.job]: '4242',
      [LABELS.step]: '7',
      [LABELS.user]: 'alice',
      [LABELS.node]: 'n2',
      [LABELS.role]: 'worker',
      [LABELS.jobDir]: '/home/alice/.srun-docker/jobs/4242.7',
    });
  });
});

describe('buildLaunchPlan: script', () => {
  it.each<[string, boolean, string, string[], string[]]>([
    ['executable script runs directly', true, 'job.sh', ['--epochs=5', 'x'], ['/home/alice/work/job.sh', '--epochs=5', 'x']],
    ['non-executable script runs with bash', false, 'job.sh', ['a'], ['bash', '/home/alice/work/job.sh', 'a']],
    ['absolute script path is kept', true, '/opt/jobs/run.sh', [], ['/opt/jobs/run.sh']],
    ['relative path resolves against cwd', false, '../bin/run.sh', [], ['bash', '/home/alice/bin/run.sh']],
  ])('%s', (_name, executable, script, scriptArgs, command) => {
    const p = plan({ script, scriptArgs }, {}, { scriptExecutable: executable });
    expect(p.scriptCommand).toEqual(command);
    expect(p.scriptPath).toBe(executable ? command[0] : command[1]);
  });

  it("needs the cwd; the script's directory is decided with the image (scriptMount)", () => {
    expect(plan({ script: '/opt/jobs/run.sh' }, {}, { cwd: '/scratch/run1' }).neededPaths).toEqual(['/scratch/run1']);
  });
});

describe('buildLaunchPlan: --envlist', () => {
  it('takes the values from the caller environment', () => {
    const p = plan({ envlist: ['A', 'B'] });
    expect(p.envlist).toEqual({ A: 'one', B: 'two words' });
    expect(p.warnings).toEqual([]);
  });

  it('warns about each unset name and leaves it out', () => {
    const p = plan({ envlist: ['A', 'NOPE', 'ALSO_NOPE'] });
    expect(p.envlist).toEqual({ A: 'one' });
    expect(p.warnings).toHaveLength(2);
    expect(p.warnings[0]).toContain('NOPE');
    expect(p.warnings[1]).toContain('ALSO_NOPE');
  });

  it('an empty value is set, not missing', () => {
    const p = plan({ envlist: ['E'] }, {}, { env: { E: '' } });
    expect(p.envlist).toEqual({ E: '' });
    expect(p.warnings).toEqual([]);
  });
});

describe('buildLaunchPlan: --dockopts', () => {
  it('is parsed into API options, $VARS from the host env', () => {
    const p = plan({ dockopts: '--ipc=host -e X=$A' });
    expect(p.dockopts.hostConfig.IpcMode).toBe('host');
    expect(p.dockopts.env).toEqual(['X=one']);
  });

  it.each<[string]>([['--bogus'], ['--name=x'], ['--network=bridge']])('%s is a UsageError', (dockopts) => {
    expect(() => plan({ dockopts })).toThrow(UsageError);
  });
});
