import { describe, expect, it } from 'vitest';
import { channelPorts } from '../../../src/channel/ports.js';
import { allocationFromEnv, type Allocation } from '../../../src/slurm/allocation.js';
import { formatDryRun, previewRun, type DryRun } from '../../../src/cli/dry-run.js';
import { UsageError } from '../../../src/platform/errors.js';
import type { HostFacts } from '../../../src/plan/plan.js';
import { aliceIdentity, runOptions } from '../fakes.js';

const options = runOptions({
  scriptArgs: ['--epochs=5'],
  datamnts: ['/data'],
  envlist: ['NCCL_DEBUG'],
  privileged: true,
  dockopts: '--ipc=host',
  dryRun: true,
});
const allocation: Allocation = { inSlurm: true, jobId: '77', stepId: '0', nodes: ['dgx01', 'dgx02'], nodeName: 'dgx01', role: 'coordinator', gpus: ['0', '1'], resources: { cpuset: '2-3', memoryBytes: 4096 * 1024 ** 2 } };
const host: HostFacts = { cwd: '/home/alice/work', user: 'alice', home: '/home/alice', env: { NCCL_DEBUG: 'INFO' }, scriptExecutable: true };
const identity = aliceIdentity();

describe('--dry-run: what every node would create and run', () => {
  const preview = previewRun(options, allocation, host, identity, 2);

  it('one entry per node, the first the coordinator, each with its own labelled container', () => {
    expect(preview.nodes.map((n) => [n.node, n.role])).toEqual([
      ['dgx01', 'coordinator'],
      ['dgx02', 'worker'],
    ]);
    for (const node of preview.nodes) {
      expect(node.container.Labels?.['srun-docker.node']).toBe(node.node);
      expect(node.container.User).toBe('1000:1000');
      expect(node.container.HostConfig?.Privileged).toBe(true);
      expect(node.container.HostConfig?.IpcMode).toBe('host');
      expect(node.container.HostConfig?.Binds).toContain('/data:/data');
      expect(node.container.Env).toContain('NCCL_DEBUG=INFO');
    }
  });

  it('the coordinator checks each worker and runs the script with the injected variables', () => {
    const [coordinator, worker] = preview.nodes;
    expect(coordinator?.readiness).toEqual([['ssh', '-F', '/home/alice/.srun-docker/jobs/77.0/ssh_config', 'dgx02', 'true']]);
    expect(coordinator?.job?.command).toEqual(['/home/alice/work/job.sh', '--epochs=5']);
    expect(coordinator?.job?.env).toMatchObject({ hostlist: 'dgx01:2,dgx02:2', np: '4', NNODES: '2', MASTER_ADDR: 'dgx01', NCCL_DEBUG: 'INFO' });
    expect(worker?.job).toBeUndefined();
  });

  it("names the coordinator's control channel ports, the same list the workers try", () => {
    const [coordinator, worker] = preview.nodes;
    expect(coordinator?.channelPorts).toEqual(channelPorts('77', '0'));
    expect(new Set(coordinator?.channelPorts).size).toBe(8);
    expect(worker?.channelPorts).toBeUndefined();
  });

  it('names the job directory and its ssh material, and what only a real run can know', () => {
    expect(preview.jobDir).toBe('/home/alice/.srun-docker/jobs/77.0');
    expect(preview.sshMaterial).toContain('/home/alice/.srun-docker/jobs/77.0/known_hosts');
    // every node its own host key and sshd_config
    for (const node of ['dgx01', 'dgx02']) {
      expect(preview.sshMaterial).toContain(`/home/alice/.srun-docker/jobs/77.0/nodes/${node}.ssh_host_ed25519_key`);
      expect(preview.sshMaterial).toContain(`/home/alice/.srun-docker/jobs/77.0/nodes/${node}.sshd_config`);
    }
    expect(preview.assumptions.join('\n')).toMatch(/image's own entries/);
  });

  it('prints a block per node for people', () => {
    const text = formatDryRun(preview);
    expect(text).toContain('== dgx01 (coordinator)');
    expect(text).toContain('== dgx02 (worker)');
    expect(text).toContain('create container srun-docker-alice-77.0 from img:1 as user 1000:1000');
    expect(text).toContain('readiness: ssh -F /home/alice/.srun-docker/jobs/77.0/ssh_config dgx02 true');
    expect(text).toContain('run: /home/alice/work/job.sh --epochs=5');
    expect(text).toContain('  privileged');
    expect(text).toContain('gpus: 0,1, cpuset: 2-3, memory: 4096 MiB');
  });
});

describe('--dry-run --json: GPUs, cpuset and memory per node, from SLURM\'s environment', () => {
  const MIB = 1024 ** 2;
  type Env = Record<string, string>;
  const STEP = { SLURM_JOB_ID: '91', SLURM_STEP_ID: '0', SLURM_STEP_NODELIST: 'gpu[01-02]', SLURMD_NODENAME: 'gpu01', SLURM_LOCALID: '0' };
  const preview = (env: Env, cpus: { allowed?: string; online?: string } = {}, dockopts = '') => {
    const alloc = allocationFromEnv({ env, hostname: 'gpu01', pid: 1, cpus });
    const opts = runOptions({ dryRun: true, json: true, dockopts });
    return JSON.parse(JSON.stringify(previewRun(opts, alloc, { ...host, env }, identity, 1))) as DryRun;
  };

  it.each<[string, Env, { allowed?: string; online?: string }, string, DryRun['nodes'][number]['resources']]>([
    [
      'the issue\'s gpu01: srun step, ConstrainDevices, the batch host\'s SLURM_JOB_GPUS copied in',
      { ...STEP, SLURM_STEP_GPUS: '4,5', CUDA_VISIBLE_DEVICES: '0,1', SLURM_JOB_GPUS: '0,1,2,3,4,5,6,7', SLURM_MEM_PER_NODE: '65536' },
      { allowed: '8-15', online: '0-63' },
      '',
      { gpus: ['4', '5'], cpuset: '8-15', memoryBytes: 65536 * MIB },
    ],
    ['srun step, no ConstrainDevices', { ...STEP, SLURM_STEP_GPUS: '3', CUDA_VISIBLE_DEVICES: '3' }, {}, '', { gpus: ['3'] }],
    ['batch step (no SLURM_STEP_ID)', { ...STEP, SLURM_STEP_ID: '', SLURM_JOB_GPUS: '6,7', CUDA_VISIBLE_DEVICES: '0,1' }, {}, '', { gpus: ['6', '7'] }],
    ['UUIDs (Slurm 25.11)', { ...STEP, CUDA_VISIBLE_DEVICES: 'GPU-8f1c' }, {}, '', { gpus: ['GPU-8f1c'] }],
    ['no GPUs, SLURM_MEM_PER_CPU x 2 tasks x 2 CPUs', { ...STEP, SLURM_MEM_PER_CPU: '1024', SLURM_STEP_TASKS_PER_NODE: '2(x2)', SLURM_CPUS_PER_TASK: '2' }, { allowed: '0-3', online: '0-7' }, '', { gpus: [], cpuset: '0-3', memoryBytes: 4096 * MIB }],
    ['only a count, and the user names the GPUs', { ...STEP, SLURM_GPUS_ON_NODE: '2' }, {}, '--gpus device=2,3', { gpus: ['2', '3'] }],
    ['the user\'s cpuset and memory win', { ...STEP, SLURM_MEM_PER_NODE: '1024' }, { allowed: '1', online: '0-1' }, '--cpuset-cpus=0-1 -m 2g', { gpus: [], cpuset: '0-1', memoryBytes: 2048 * MIB }],
  ])('%s', (_name, env, cpus, dockopts, resources) => {
    const nodes = preview(env, cpus, dockopts).nodes;
    expect(nodes.map((n) => n.node)).toEqual(['gpu01', 'gpu02']);
    for (const node of nodes) expect(node.resources).toEqual(resources);
  });

  it('GPUs SLURM gave with no ids: one line naming the variables looked at, never ids made up from the count', () => {
    expect(() => preview({ ...STEP, SLURM_GPUS_ON_NODE: '2' })).toThrow(UsageError);
    expect(() => preview({ ...STEP, SLURM_GPUS_ON_NODE: '2' })).toThrow(
      /^SLURM gave this step 2 GPU\(s\) on gpu01 but no variable names which \(SLURM_STEP_GPUS=\(unset\) .*SLURM_GPUS_ON_NODE="2"\) — pass --dockopts="--gpus device=ID,\.\.\."/,
    );
  });

  it('--envlist=CUDA_VISIBLE_DEVICES carries 0..n-1 in, not the host\'s ids', () => {
    const env = { ...STEP, SLURM_STEP_GPUS: '4,5', CUDA_VISIBLE_DEVICES: '4,5' };
    const alloc = allocationFromEnv({ env, hostname: 'gpu01', pid: 1 });
    const dry = previewRun(runOptions({ dryRun: true, envlist: ['CUDA_VISIBLE_DEVICES'] }), alloc, { ...host, env }, identity, 2);
    expect(dry.nodes[0]?.container.Env).toContain('CUDA_VISIBLE_DEVICES=0,1');
    expect(dry.nodes[0]?.container.Env).not.toContain('CUDA_VISIBLE_DEVICES=4,5');
    expect(dry.nodes[0]?.job?.env.CUDA_VISIBLE_DEVICES).toBe('0,1');
  });
});

describe('--dry-run: which ssh, and the script where the image has its directory', () => {
  const opts = runOptions({ script: '/bin/true', dryRun: true });
  const bindsOf = (preview: ReturnType<typeof previewRun>): string[] => preview.nodes[0]?.container.HostConfig?.Binds ?? [];

  it("--script=/bin/true never mounts the host's /bin over the image's: the image's own /bin/true runs, or the host's file alone where the image lacks it", () => {
    // not known without the image: the file alone, never its directory
    const assumed = previewRun(opts, allocation, host, identity, 1);
    expect(bindsOf(assumed)).toContain('/bin/true:/bin/true:ro');
    expect(bindsOf(assumed).some((b) => b.startsWith('/bin:'))).toBe(false);
    const has = previewRun(opts, allocation, host, identity, 1, { present: new Set(['/bin', '/bin/true', '/usr/sbin/sshd', '/usr/bin/ssh']), path: '/usr/bin:/bin', entrypoint: [] });
    expect(bindsOf(has).some((b) => b.startsWith('/bin'))).toBe(false);
    const lacks = previewRun(opts, allocation, host, identity, 1, { present: new Set(['/bin', '/usr/sbin/sshd', '/usr/bin/ssh']), path: '/usr/bin:/bin', entrypoint: [] });
    expect(bindsOf(lacks)).toContain('/bin/true:/bin/true:ro');
    expect(bindsOf(lacks).some((b) => b.startsWith('/bin:'))).toBe(false);
  });

  it('a script directory the image does not have is mounted whole', () => {
    const preview = previewRun(runOptions({ script: '/opt/jobs/run.sh' }), allocation, host, identity, 1, { present: new Set(), path: '/bin', entrypoint: [] });
    expect(bindsOf(preview)).toContain('/opt/jobs:/opt/jobs');
  });

  it("says which ssh and why: the image's OpenSSH, the built-in one mounted read-only, or not known without the image", () => {
    const withOpenSsh = previewRun(opts, allocation, host, identity, 1, { present: new Set(['/usr/sbin/sshd', '/usr/bin/ssh']), path: '/usr/bin:/bin', entrypoint: [] });
    expect(formatDryRun(withOpenSsh)).toContain('ssh: image (auto: the image has OpenSSH (/usr/sbin/sshd, /usr/bin/ssh))');
    expect(withOpenSsh.nodes[0]?.container.Cmd?.[0]).toMatch(/^exec \/usr\/sbin\/sshd -D -e -f /);

    const without = previewRun(opts, allocation, host, identity, 1, { present: new Set(), path: '/usr/bin:/bin', entrypoint: [] });
    expect(formatDryRun(without)).toContain('ssh: builtin (auto: the image has no /usr/sbin/sshd or ssh client; the built-in ssh (Dropbear) is mounted at /.srun-docker/ssh/dropbearmulti)');
    expect(bindsOf(without).some((b) => b.endsWith(':/.srun-docker/ssh/dropbearmulti:ro'))).toBe(true);
    expect(without.nodes[1]?.container.Cmd?.[0]).toContain('exec /.srun-docker/ssh/dropbearmulti dropbear');
    expect(without.sshMaterial).toContain('/home/alice/.srun-docker/jobs/77.0/nodes/dgx02.ssh_host_ed25519_key.dropbear');

    const unknown = previewRun(opts, allocation, host, identity, 1);
    expect(formatDryRun(unknown)).not.toContain('image entrypoint');
    expect(formatDryRun(unknown)).toMatch(/ssh: image \(--ssh=auto: the image was not looked at; .*each node decides at run time\)/);
    expect(unknown.assumptions.join('\n')).toContain('the image: not looked at');
  });

  it("names the image's ENTRYPOINT, which no container runs, with how to run it from the script", () => {
    const ngc = previewRun(opts, allocation, host, identity, 1, { present: new Set(), path: '/usr/bin:/bin', entrypoint: ['/opt/nvidia/nvidia_entrypoint.sh'] });
    expect(ngc.imageEntrypoint).toEqual(['/opt/nvidia/nvidia_entrypoint.sh']);
    expect(formatDryRun(ngc)).toContain(
      "image entrypoint: /opt/nvidia/nvidia_entrypoint.sh — not run (each container's main process is srun-docker's own sh); if the job needs what it sets up, start it from your script: exec /opt/nvidia/nvidia_entrypoint.sh python train.py",
    );
    const none = previewRun(opts, allocation, host, identity, 1, { present: new Set(), path: '/usr/bin:/bin', entrypoint: [] });
    expect(none.imageEntrypoint).toEqual([]);
    expect(formatDryRun(none)).not.toContain('image entrypoint');
  });
});
