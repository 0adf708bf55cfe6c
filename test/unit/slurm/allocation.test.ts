import { describe, expect, it } from 'vitest';
import { allocationFromEnv, type Allocation, type AllocationInput } from '../../../src/slurm/allocation.js';
import { UsageError } from '../../../src/platform/errors.js';

type Env = Record<string, string | undefined>;

/** A task of job 42, step 3, on dgx02 of dgx[01-03]. */
function slurmEnv(overrides: Env = {}): Env {
  return {
    SLURM_JOB_ID: '42',
    SLURM_STEP_ID: '3',
    SLURM_STEP_NODELIST: 'dgx[01-03]',
    SLURM_JOB_NODELIST: 'dgx[01-04]',
    SLURMD_NODENAME: 'dgx02',
    SLURM_NODEID: '1',
    SLURM_PROCID: '1',
    SLURM_LOCALID: '0',
    ...overrides,
  };
}

function run(env: Env, extra: Partial<AllocationInput> = {}): Allocation {
  return allocationFromEnv({ env, hostname: 'dgx02.cluster.example', pid: 1234, ...extra });
}

describe('allocationFromEnv in SLURM', () => {
  it('reads job, step, nodes, node name and role', () => {
    expect(run(slurmEnv())).toEqual({
      inSlurm: true,
      jobId: '42',
      stepId: '3',
      nodes: ['dgx01', 'dgx02', 'dgx03'],
      nodeName: 'dgx02',
      role: 'worker',
      gpus: [],
      resources: {},
    });
  });

  it.each<[string, Env, string[]]>([
    ['step list first', {}, ['dgx01', 'dgx02', 'dgx03']],
    ['job list when no step list', { SLURM_STEP_NODELIST: undefined }, ['dgx01', 'dgx02', 'dgx03', 'dgx04']],
    ['empty step list counts as unset', { SLURM_STEP_NODELIST: '' }, ['dgx01', 'dgx02', 'dgx03', 'dgx04']],
    [
      'SLURM_NODELIST last',
      { SLURM_STEP_NODELIST: undefined, SLURM_JOB_NODELIST: undefined, SLURM_NODELIST: 'dgx02,cpu[1-2]' },
      ['dgx02', 'cpu1', 'cpu2'],
    ],
  ])('node list: %s', (_name, overrides, nodes) => {
    expect(run(slurmEnv(overrides)).nodes).toEqual(nodes);
  });

  it.each<[string, Env, string, Partial<Allocation>]>([
    ['first node coordinates', { SLURMD_NODENAME: 'dgx01' }, 'x', { role: 'coordinator', nodeName: 'dgx01' }],
    ['others are workers', { SLURMD_NODENAME: 'dgx03' }, 'x', { role: 'worker', nodeName: 'dgx03' }],
    ['hostname short form when no SLURMD_NODENAME', { SLURMD_NODENAME: undefined }, 'dgx01.cluster.example', { role: 'coordinator', nodeName: 'dgx01' }],
    ['full hostname when the list uses it', { SLURMD_NODENAME: undefined, SLURM_STEP_NODELIST: 'a.b,c.d' }, 'c.d', { role: 'worker', nodeName: 'c.d' }],
    ['SLURMD_NODENAME beats hostname', { SLURMD_NODENAME: 'dgx03' }, 'dgx01', { nodeName: 'dgx03' }],
    ['step id 0 when unset (batch script)', { SLURM_STEP_ID: undefined }, 'x', { stepId: '0' }],
    ['inconsistent SLURM_NODEID/PROCID is not an error', { SLURM_NODEID: '7', SLURM_PROCID: '99' }, 'x', { role: 'worker', nodeName: 'dgx02' }],
    ['local task 0 acts', { SLURM_LOCALID: '0' }, 'x', { role: 'worker' }],
    ['no SLURM_LOCALID acts', { SLURM_LOCALID: undefined }, 'x', { role: 'worker' }],
    ['local task 1 is idle', { SLURM_LOCALID: '1' }, 'x', { role: 'idle', idleReason: 'local task 1 of this node; only task 0 acts' }],
    ['local task 3 of the coordinator node is idle', { SLURM_LOCALID: '3', SLURMD_NODENAME: 'dgx01' }, 'x', { role: 'idle', nodes: ['dgx01', 'dgx02', 'dgx03'] }],
  ])('%s', (_name, overrides, hostname, expected) => {
    expect(run(slurmEnv(overrides), { hostname })).toMatchObject(expected);
  });

  it.each<[string, string, Partial<Allocation>]>([
    ['restricts and keeps --nodelist order', 'dgx03,dgx02', { nodes: ['dgx03', 'dgx02'], role: 'worker' }],
    ['compressed form', 'dgx[02-03]', { nodes: ['dgx02', 'dgx03'], role: 'coordinator' }],
    ['duplicates dropped', 'dgx02,dgx02,dgx03', { nodes: ['dgx02', 'dgx03'], role: 'coordinator' }],
    ['node outside --nodelist is idle', 'dgx01,dgx03', { nodes: ['dgx01', 'dgx03'], role: 'idle', idleReason: 'node dgx02 is not in --nodelist' }],
  ])('--nodelist: %s', (_name, nodelist, expected) => {
    expect(run(slurmEnv(), { nodelist })).toMatchObject(expected);
  });

  it.each<[string, Env, string | undefined, RegExp]>([
    ['malformed step list names the variable', { SLURM_STEP_NODELIST: 'dgx[01-' }, undefined, /^SLURM_STEP_NODELIST: malformed host list "dgx\[01-"/],
    ['malformed job list names the variable', { SLURM_STEP_NODELIST: undefined, SLURM_JOB_NODELIST: 'a,,b' }, undefined, /^SLURM_JOB_NODELIST: malformed/],
    ['no node list at all', { SLURM_STEP_NODELIST: undefined, SLURM_JOB_NODELIST: undefined }, undefined, /none of SLURM_STEP_NODELIST, SLURM_JOB_NODELIST, SLURM_NODELIST/],
    ['this node not in the list', { SLURMD_NODENAME: 'cpu9' }, undefined, /this node "cpu9" is not in SLURM_STEP_NODELIST="dgx\[01-03\]"/],
    ['--nodelist names unknown nodes', {}, 'dgx02,dgx04,dgx05', /--nodelist names dgx04, dgx05, not in this step's nodes SLURM_STEP_NODELIST="dgx\[01-03\]"/],
    ['malformed --nodelist', {}, 'dgx[02', /^--nodelist: malformed host list/],
    ['even idle tasks reject a bad --nodelist', { SLURM_LOCALID: '1' }, 'dgx09', /--nodelist names dgx09/],
  ])('rejects: %s', (_name, overrides, nodelist, message) => {
    const input = nodelist === undefined ? {} : { nodelist };
    expect(() => run(slurmEnv(overrides), input)).toThrow(UsageError);
    expect(() => run(slurmEnv(overrides), input)).toThrow(message);
  });

  it.each<[string, Env, string[]]>([
    ['none', {}, []],
    ['the step\'s own GPUs', { SLURM_STEP_GPUS: '4,5', CUDA_VISIBLE_DEVICES: '0,1', SLURM_JOB_GPUS: '0,1,2,3,4,5,6,7' }, ['4', '5']],
    ['the batch step\'s SLURM_JOB_GPUS', { SLURM_STEP_ID: undefined, SLURM_JOB_GPUS: '2,3', CUDA_VISIBLE_DEVICES: '0,1' }, ['2', '3']],
  ])('GPUs (table in gpus.test.ts): %s', (_name, overrides, gpus) => {
    expect(run(slurmEnv(overrides)).gpus).toEqual(gpus);
  });

  it('GPUs SLURM gave without ids are named as unknown, never made up from the count', () => {
    const allocation = run(slurmEnv({ SLURM_GPUS_ON_NODE: '2' }));
    expect(allocation.gpus).toEqual([]);
    expect(allocation.gpusUnknown?.count).toBe(2);
    expect(allocation.gpusUnknown?.looked).toContain('SLURM_STEP_GPUS=(unset)');
  });

  it.each<[string, Env, { allowed?: string; online?: string }, object]>([
    ['a task bound to CPUs 2-3 of 0-7, with SLURM_MEM_PER_NODE', { SLURM_MEM_PER_NODE: '4096' }, { allowed: '2-3', online: '0-7' }, { cpuset: '2-3', memoryBytes: 4096 * 1024 ** 2 }],
    ['not bound (task/none): no cpuset', {}, { allowed: '0-7', online: '0-7' }, {}],
    ['SLURM_MEM_PER_CPU × this node\'s tasks × CPUs per task', { SLURM_MEM_PER_CPU: '1000', SLURM_STEP_TASKS_PER_NODE: '1,2(x2)', SLURM_CPUS_PER_TASK: '3' }, {}, { memoryBytes: 6000 * 1024 ** 2 }],
  ])('CPUs and memory: %s', (_name, overrides, cpus, resources) => {
    expect(run(slurmEnv(overrides), { cpus }).resources).toEqual(resources);
  });
});

describe('allocationFromEnv outside SLURM', () => {
  const local = (env: Env, extra: Partial<AllocationInput> = {}): Allocation =>
    allocationFromEnv({ env, hostname: 'laptop.home.lan', pid: 777, ...extra });

  it('is a one-node allocation on the local host', () => {
    expect(local({})).toEqual({
      inSlurm: false,
      jobId: 'local-777',
      stepId: '0',
      nodes: ['laptop'],
      nodeName: 'laptop',
      role: 'coordinator',
      gpus: [],
      resources: {},
    });
  });

  it.each<[string, Env, string[]]>([
    ['CUDA_VISIBLE_DEVICES', { CUDA_VISIBLE_DEVICES: '0,2' }, ['0', '2']],
    ['NoDevFiles', { CUDA_VISIBLE_DEVICES: 'NoDevFiles' }, []],
    ['SLURM_GPUS_ON_NODE ignored', { SLURM_GPUS_ON_NODE: '4' }, []],
  ])('GPUs: %s', (_name, env, gpus) => {
    expect(local(env).gpus).toEqual(gpus);
  });

  it.each<[string, Env]>([
    ['empty SLURM_JOB_ID', { SLURM_JOB_ID: '' }],
    ['stray SLURM variables without a job id', { SLURM_STEP_NODELIST: 'x[', SLURM_LOCALID: '1' }],
  ])('local mode: %s', (_name, env) => {
    expect(local(env)).toMatchObject({ inSlurm: false, role: 'coordinator', nodes: ['laptop'] });
  });

  it('accepts --nodelist naming the local host', () => {
    expect(local({}, { nodelist: 'laptop' })).toMatchObject({ nodes: ['laptop'], role: 'coordinator' });
  });

  it('rejects --nodelist naming other hosts', () => {
    expect(() => local({}, { nodelist: 'dgx01' })).toThrow(/--nodelist names dgx01, not in this step's nodes the local host "laptop"/);
  });
});
