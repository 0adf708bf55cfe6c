import { describe, expect, it } from 'vitest';
import type { Allocation } from '../../../src/slurm/allocation.js';
import { ROOT_DOCKER } from '../../../src/docker/engine.js';
import { nodeContainerEnv, nodeContainerSpec } from '../../../src/container/node-spec.js';
import { buildLaunchPlan } from '../../../src/plan/plan.js';
import { aliceIdentity, runOptions } from '../fakes.js';


const allocation = (nodeName: string, role: 'coordinator' | 'worker'): Allocation => ({
  inSlurm: true,
  jobId: '4242',
  stepId: '0',
  nodes: ['n1', 'n2'],
  nodeName,
  role,
  gpus: [],
  resources: {},
});

function planFor(nodeName: string, role: 'coordinator' | 'worker', more: Partial<Parameters<typeof runOptions>[0]> = {}, env: Record<string, string> = {}) {
  const options = runOptions({ script: 'train.sh', scriptArgs: ['--epochs', '3'], ...more });
  const plan = buildLaunchPlan(options, allocation(nodeName, role), { cwd: '/home/alice/work', user: 'alice', home: '/home/alice', env, scriptExecutable: true });
  return { options, plan };
}

function specFor(nodeName: string, role: 'coordinator' | 'worker', terminal?: boolean, gpus: string[] = [], more: Partial<Parameters<typeof runOptions>[0]> = {}, env: Record<string, string> = {}) {
  const { options, plan } = planFor(nodeName, role, more, env);
  const facts = { identity: aliceIdentity(), cwd: '/home/alice/work', gpus, resources: {}, engine: ROOT_DOCKER, imageHas: () => true, imagePath: '/usr/bin:/bin', ssh: 'image' as const, fileBinds: ['/p:/etc/passwd:ro', '/g:/etc/group:ro'], terminal };
  return nodeContainerSpec(options, plan, facts);
}

const JOB = '/home/alice/.srun-docker/jobs/4242.0';

describe('nodeContainerSpec: who runs the job', () => {
  it("the coordinator's container takes its input and runs the script with the job's variables file, started over its control FIFO", () => {
    const s = specFor('n1', 'coordinator');
    expect(s.Cmd?.slice(1)).toEqual([`${JOB}/nodes/n1.sshd.log`, `${JOB}/job.env`, `${JOB}/job.exit`, `${JOB}/nodes/n1.control`, '/home/alice/work/train.sh', '--epochs', '3']);
    expect(s).toMatchObject({ OpenStdin: true, StdinOnce: true, AttachStdin: true, AttachStdout: true, AttachStderr: true, Tty: false });
    // the nonce that ends the job is in no argument, variable or label: it travels on the FIFO
    expect(JSON.stringify([s.Cmd, s.Env, s.Labels])).not.toMatch(/job-end/);
  });

  it("on a terminal, the coordinator's container has one (the job's); a worker's never", () => {
    expect(specFor('n1', 'coordinator', true).Tty).toBe(true);
    expect(specFor('n2', 'worker', true).Tty).toBeUndefined();
  });

  it("a worker's container runs sshd alone, its input held by its srun-docker, no output attached", () => {
    const s = specFor('n2', 'worker');
    expect(s.Cmd?.slice(1)).toEqual([`${JOB}/nodes/n2.sshd.log`]);
    expect([s.OpenStdin, s.StdinOnce, s.AttachStdin]).toEqual([true, true, true]);
    expect(s.AttachStdout).toBeUndefined();
  });
});

describe("nodeContainerEnv: the container's variables, which its ssh sessions get too", () => {
  it('is exactly the Env of the container that node creates (--envlist, --dockopts -e, the GPUs)', () => {
    const more = { envlist: ['WANDB_MODE'], dockopts: '-e NCCL_DEBUG=INFO' };
    const env = { WANDB_MODE: 'offline' };
    const { plan } = planFor('n2', 'worker', more, env);
    const spec = specFor('n2', 'worker', false, ['4', '5'], more, env);
    const variables = nodeContainerEnv(plan, aliceIdentity(), ['4', '5']);
    expect(variables).toEqual(spec.Env);
    expect(variables).toEqual(expect.arrayContaining(['WANDB_MODE=offline', 'NCCL_DEBUG=INFO', 'NVIDIA_VISIBLE_DEVICES=4,5']));
  });
});
