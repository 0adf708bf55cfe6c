import { describe, expect, it } from 'vitest';
import { cpusAllowedFromStatus, expandTasksPerNode, formatCpuList, parseCpuList, stepResources, type ResourceFacts, type StepResources } from '../../../src/slurm/resources.js';

const MIB = 1024 ** 2;
const facts = (overrides: Partial<ResourceFacts> = {}): ResourceFacts => ({ nodeIndex: 0, gpuCount: 0, cpusOnline: '0-15', ...overrides });

describe('stepResources: the step\'s CPUs and memory on this node', () => {
  it.each<[string, Record<string, string>, Partial<ResourceFacts>, StepResources]>([
    ['srun -c1 under task/affinity', { SLURM_MEM_PER_NODE: '2048' }, { cpusAllowed: '5' }, { cpuset: '5', memoryBytes: 2048 * MIB }],
    ['srun -c4, cores spread', {}, { cpusAllowed: '0-1,8-9' }, { cpuset: '0-1,8-9' }],
    ['task/none: the whole node, no cpuset', {}, { cpusAllowed: '0-15' }, {}],
    ['affinity unreadable', {}, {}, {}],
    ['SLURM_MEM_PER_CPU × tasks here × CPUs per task (node 2 of 3)', { SLURM_MEM_PER_CPU: '512', SLURM_STEP_TASKS_PER_NODE: '4,2(x2)', SLURM_CPUS_PER_TASK: '2' }, { nodeIndex: 2 }, { memoryBytes: 2048 * MIB }],
    ['SLURM_MEM_PER_CPU × SLURM_CPUS_ON_NODE (batch step)', { SLURM_MEM_PER_CPU: '1000', SLURM_CPUS_ON_NODE: '3' }, {}, { memoryBytes: 3000 * MIB }],
    ['SLURM_MEM_PER_CPU × the affinity\'s CPUs last', { SLURM_MEM_PER_CPU: '100' }, { cpusAllowed: '2-3' }, { cpuset: '2-3', memoryBytes: 200 * MIB }],
    ['SLURM_MEM_PER_GPU × this node\'s GPUs', { SLURM_MEM_PER_GPU: '8G' }, { gpuCount: 2 }, { memoryBytes: 16384 * MIB }],
    ['SLURM_MEM_PER_NODE=0 means the whole node: no limit', { SLURM_MEM_PER_NODE: '0' }, {}, {}],
    ['garbage is no limit', { SLURM_MEM_PER_NODE: 'lots' }, {}, {}],
  ])('%s', (_name, env, overrides, expected) => {
    expect(stepResources(env, facts(overrides))).toEqual(expected);
  });

  it('cpu lists: parse, normalise, reject garbage', () => {
    expect(parseCpuList('3,0-1,1')).toEqual([0, 1, 3]);
    expect(formatCpuList([0, 1, 2, 5, 7, 8])).toBe('0-2,5,7-8');
    expect(parseCpuList('a-b')).toBeUndefined();
    expect(parseCpuList('4-2')).toBeUndefined();
    expect(cpusAllowedFromStatus('Name:\tnode\nCpus_allowed:\t3\nCpus_allowed_list:\t0-1\nMems_allowed_list:\t0\n')).toBe('0-1');
    expect(expandTasksPerNode('2(x3),1')).toEqual([2, 2, 2, 1]);
    expect(expandTasksPerNode('2(x')).toBeUndefined();
  });
});
