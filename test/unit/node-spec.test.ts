import { describe, expect, it } from 'vitest';
import type { Allocation } from '../../src/allocation.js';
import { CONTAINER_STALE_SECONDS } from '../../src/container-command.js';
import { ROOT_DOCKER } from '../../src/docker/engine.js';
import { nodeContainerSpec } from '../../src/node-spec.js';
import { buildLaunchPlan } from '../../src/plan.js';
import { aliceIdentity, runOptions } from './fakes.js';


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

function specFor(nodeName: string, role: 'coordinator' | 'worker') {
  const options = runOptions({ script: 'train.sh', scriptArgs: ['--epochs', '3'] });
  const plan = buildLaunchPlan(options, allocation(nodeName, role), {
    cwd: '/home/alice/work',
    user: 'alice',
    home: '/home/alice',
    env: {},
    scriptExecutable: true,
  });
  const facts = { identity: aliceIdentity(), cwd: '/home/alice/work', gpus: [], resources: {}, engine: ROOT_DOCKER, passwdFile: '/p', groupFile: '/g', imageHas: () => true, imagePath: '/usr/bin:/bin', ssh: 'image' as const, dropbearPath: '/opt/srun-docker/dist/dropbearmulti' };
  return nodeContainerSpec(options, plan, facts);
}

const JOB = '/home/alice/.srun-docker/jobs/4242.0';

describe('nodeContainerSpec: who runs the job', () => {
  it("the coordinator's container takes its input and runs the script with the job's variables file", () => {
    const s = specFor('n1', 'coordinator');
    expect(s.Cmd?.slice(3)).toEqual([String(CONTAINER_STALE_SECONDS), `${JOB}/nodes/n1.sshd.log`, `${JOB}/job.env`, `${JOB}/job.exit`, 'srun-docker-job-end:4242.0', '/home/alice/work/train.sh', '--epochs', '3']);
    expect(s).toMatchObject({ OpenStdin: true, StdinOnce: true, AttachStdin: true, AttachStdout: true, AttachStderr: true });
    expect(s.Tty).toBeUndefined();
  });

  it("a worker's container runs sshd alone, its input held by its srun-docker, no output attached", () => {
    const s = specFor('n2', 'worker');
    expect(s.Cmd?.slice(2)).toEqual([`${JOB}/nodes/n2.sshd.log`]);
    expect([s.OpenStdin, s.StdinOnce, s.AttachStdin]).toEqual([true, true, true]);
    expect(s.AttachStdout).toBeUndefined();
  });
});
