import { describe, expect, it } from 'vitest';
import { isBatchOrInteractiveStep, stepGpus, type StepGpus } from '../../../src/slurm/gpus.js';

type Env = Record<string, string | undefined>;

/** The variables SLURM sets in a task, as they look on real nodes (srun/sbatch man pages, ../shared/TESTBED.md). */
const JOB = { SLURM_JOB_ID: '91', SLURM_JOB_GPUS: '0,1,2,3,4,5,6,7' };
const ids = (list: string, from: string): StepGpus => ({ kind: 'ids', ids: list.split(','), from });

describe('stepGpus: each node hands over its own step\'s physical GPUs', () => {
  it.each<[string, Env, StepGpus]>([
    // the example: node gpu01 of a step that owns GPUs 4 and 5 of an 8-GPU node
    ['srun step, ConstrainDevices=yes (the issue\'s gpu01)', { ...JOB, SLURM_STEP_ID: '0', SLURM_STEP_GPUS: '4,5', CUDA_VISIBLE_DEVICES: '0,1', SLURM_GPUS_ON_NODE: '2' }, ids('4,5', 'SLURM_STEP_GPUS')],
    ['srun step, ConstrainDevices=no', { ...JOB, SLURM_STEP_ID: '1', SLURM_STEP_GPUS: '4,5', CUDA_VISIBLE_DEVICES: '4,5' }, ids('4,5', 'SLURM_STEP_GPUS')],
    ['srun step on a worker: the batch host\'s SLURM_JOB_GPUS copied in is not its own', { ...JOB, SLURM_STEP_ID: '0', SLURM_STEP_GPUS: '1', CUDA_VISIBLE_DEVICES: '0' }, ids('1', 'SLURM_STEP_GPUS')],
    ['heterogeneous nodes, node A: 2 GPUs', { SLURM_JOB_ID: '91', SLURM_STEP_ID: '0', SLURM_STEP_GPUS: '6,7', SLURM_GPUS_ON_NODE: '2' }, ids('6,7', 'SLURM_STEP_GPUS')],
    ['heterogeneous nodes, node B: 4 GPUs', { SLURM_JOB_ID: '91', SLURM_STEP_ID: '0', SLURM_STEP_GPUS: '0,1,2,3', SLURM_GPUS_ON_NODE: '4' }, ids('0,1,2,3', 'SLURM_STEP_GPUS')],
    ['heterogeneous nodes, node C: a CPU node of the same step', { SLURM_JOB_ID: '91', SLURM_STEP_ID: '0', SLURM_JOB_GPUS: '0,1' }, { kind: 'none' }],
    ['batch step (no SLURM_STEP_ID): the job\'s GPUs on this node are the step\'s', { SLURM_JOB_ID: '91', SLURM_JOB_GPUS: '2,3', CUDA_VISIBLE_DEVICES: '0,1', SLURM_GPUS_ON_NODE: '2' }, ids('2,3', 'SLURM_JOB_GPUS')],
    ['interactive step (salloc, no SLURM_STEP_ID)', { SLURM_JOB_ID: '91', SLURM_JOB_GPUS: '5', CUDA_VISIBLE_DEVICES: '5' }, ids('5', 'SLURM_JOB_GPUS')],
    ['srun step with only SLURM_JOB_GPUS and a count: no ids to trust', { ...JOB, SLURM_STEP_ID: '0', SLURM_GPUS_ON_NODE: '2' }, { kind: 'unknown', count: 2, looked: expect.stringContaining('SLURM_JOB_GPUS="0,1,2,3,4,5,6,7"') as string }],
    ['only a count: never ids made up from it', { SLURM_JOB_ID: '91', SLURM_STEP_ID: '0', SLURM_GPUS_ON_NODE: '2' }, { kind: 'unknown', count: 2, looked: expect.stringContaining('SLURM_GPUS_ON_NODE="2"') as string }],
    ['CUDA_VISIBLE_DEVICES 0..n-1 alone: may be renumbered', { SLURM_JOB_ID: '91', SLURM_STEP_ID: '0', CUDA_VISIBLE_DEVICES: '0,1' }, { kind: 'unknown', count: 2, looked: expect.stringContaining('CUDA_VISIBLE_DEVICES="0,1"') as string }],
    ['CUDA_VISIBLE_DEVICES that cannot be renumbered (no ConstrainDevices)', { SLURM_JOB_ID: '91', SLURM_STEP_ID: '0', CUDA_VISIBLE_DEVICES: '3,6' }, ids('3,6', 'CUDA_VISIBLE_DEVICES')],
    ['CUDA_VISIBLE_DEVICES UUIDs (Slurm 25.11)', { SLURM_JOB_ID: '91', SLURM_STEP_ID: '0', CUDA_VISIBLE_DEVICES: 'GPU-8f1c, GPU-2a9e' }, ids('GPU-8f1c,GPU-2a9e', 'CUDA_VISIBLE_DEVICES')],
    ['SLURM_STEP_GPUS beats UUIDs', { SLURM_JOB_ID: '91', SLURM_STEP_ID: '0', SLURM_STEP_GPUS: '2', CUDA_VISIBLE_DEVICES: 'GPU-8f1c' }, ids('2', 'SLURM_STEP_GPUS')],
    ['no GPUs at all', { SLURM_JOB_ID: '91', SLURM_STEP_ID: '0' }, { kind: 'none' }],
    ['NoDevFiles: the gres without device files', { SLURM_JOB_ID: '91', SLURM_STEP_ID: '0', CUDA_VISIBLE_DEVICES: 'NoDevFiles' }, { kind: 'none' }],
    ['SLURM_GPUS_ON_NODE=0', { SLURM_JOB_ID: '91', SLURM_STEP_ID: '0', SLURM_GPUS_ON_NODE: '0' }, { kind: 'none' }],
    ['empty SLURM_STEP_GPUS counts as unset', { SLURM_JOB_ID: '91', SLURM_STEP_ID: '0', SLURM_STEP_GPUS: '', CUDA_VISIBLE_DEVICES: '7' }, ids('7', 'CUDA_VISIBLE_DEVICES')],
  ])('%s', (_name, env, expected) => {
    expect(stepGpus(env, true)).toEqual(expected);
  });

  it('outside SLURM, CUDA_VISIBLE_DEVICES is the user\'s own choice of physical ids', () => {
    expect(stepGpus({ CUDA_VISIBLE_DEVICES: '0,1' }, false)).toEqual(ids('0,1', 'CUDA_VISIBLE_DEVICES'));
    expect(stepGpus({ SLURM_GPUS_ON_NODE: '4' }, false)).toEqual({ kind: 'none' });
  });

  it.each<[string | undefined, boolean]>([
    [undefined, true],
    ['', true],
    ['batch', true],
    ['interactive', true],
    ['4294967291', true], // SLURM_BATCH_SCRIPT as unsigned
    ['4294967286', true], // SLURM_INTERACTIVE_STEP as unsigned
    ['4294967292', false], // SLURM_EXTERN_CONT
    ['0', false],
    ['12', false],
  ])('SLURM_STEP_ID=%s: batch or interactive step %s', (id, expected) => {
    expect(isBatchOrInteractiveStep({ SLURM_STEP_ID: id })).toBe(expected);
  });
});
