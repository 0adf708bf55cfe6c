import type Docker from 'dockerode';
import { describe, expect, it } from 'vitest';
import { buildContainerSpec, type ContainerSpecInput } from '../../../src/container/container-spec.js';
import { containerCommand } from '../../../src/container/container-command.js';
import { parseDockopts } from '../../../src/plan/dockopts.js';
import { engineFacts, ROOT_DOCKER, type EngineFacts } from '../../../src/docker/engine.js';
import { containerIdentity, mergeGroup, mergePasswd } from '../../../src/container/identity.js';
import { aliceIdentity } from '../fakes.js';

/** What the container gets of the step's GPUs, CPUs and memory, per engine (issue 16). */

const IDENTITY = aliceIdentity({ uid: 1001, gid: 1002, groups: [27], passwdLine: 'alice:x:1001:1002::/home/alice:/bin/bash', groupLines: ['alice:x:1002:', 'sudo:x:27:alice'] });
const PODMAN_ROOTLESS: EngineFacts = { ...ROOT_DOCKER, kind: 'podman', rootless: true };
const DOCKER_ROOTLESS: EngineFacts = { ...ROOT_DOCKER, rootless: true };

function spec(overrides: Partial<ContainerSpecInput> & { dockoptsText?: string } = {}): Docker.ContainerCreateOptions {
  const { dockoptsText = '', ...rest } = overrides;
  return buildContainerSpec({
    name: 'c',
    image: 'img',
    identity: IDENTITY,
    cwd: '/home/alice',
    neededPaths: [],
    fileBinds: [],
    datamnts: [],
    env: [],
    dockopts: parseDockopts(dockoptsText, {}),
    privileged: false,
    ibdevices: false,
    gpus: [],
    resources: {},
    engine: ROOT_DOCKER,
    labels: {},
    command: containerCommand({ server: 'exec /usr/sbin/sshd', sshdLog: '/l' }),
    droppedDefaultUlimits: [],
    ...rest,
  });
}
const host = (o: Parameters<typeof spec>[0] = {}): Docker.HostConfig => spec(o).HostConfig ?? {};
const envOf = (o: Parameters<typeof spec>[0] = {}, name: string): string | undefined =>
  spec(o).Env?.filter((e) => e.startsWith(`${name}=`)).pop()?.slice(name.length + 1);

describe('GPUs: the step\'s physical ids, to the engine', () => {
  it('the issue\'s gpu01: DeviceIDs 4,5; NVIDIA_VISIBLE_DEVICES the same; CUDA_VISIBLE_DEVICES not the host\'s', () => {
    expect(host({ gpus: ['4', '5'] }).DeviceRequests).toEqual([{ Driver: 'nvidia', DeviceIDs: ['4', '5'], Capabilities: [['gpu']] }]);
    expect(envOf({ gpus: ['4', '5'] }, 'NVIDIA_VISIBLE_DEVICES')).toBe('4,5');
    expect(envOf({ gpus: ['4', '5'] }, 'CUDA_VISIBLE_DEVICES')).toBeUndefined();
  });

  it('no GPUs: no request, and NVIDIA_VISIBLE_DEVICES=void so an image\'s "all" takes none', () => {
    expect(host()).not.toHaveProperty('DeviceRequests');
    expect(envOf({}, 'NVIDIA_VISIBLE_DEVICES')).toBe('void');
  });

  it('Podman: CDI names', () => {
    expect(host({ gpus: ['4', '5'], engine: { ...ROOT_DOCKER, kind: 'podman' } }).DeviceRequests).toEqual([{ Driver: 'cdi', DeviceIDs: ['nvidia.com/gpu=4', 'nvidia.com/gpu=5'] }]);
  });

  it.each<[string, string, Docker.DeviceRequest[], string | undefined]>([
    ['--gpus device=1', '--gpus device=1', [{ Driver: 'nvidia', DeviceIDs: ['1'], Capabilities: [['gpu']] }], '1'],
    ['--gpus all', '--gpus all', [{ Driver: 'nvidia', Count: -1, Capabilities: [['gpu']] }], 'all'],
    ['--gpus 2', '--gpus 2', [{ Driver: 'nvidia', Count: 2, Capabilities: [['gpu']] }], undefined],
  ])('the user\'s %s wins over SLURM\'s', (_name, dockoptsText, requests, visible) => {
    expect(host({ gpus: ['4', '5'], dockoptsText }).DeviceRequests).toEqual(requests);
    expect(envOf({ gpus: ['4', '5'], dockoptsText }, 'NVIDIA_VISIBLE_DEVICES')).toBe(visible);
  });
});

describe('CPUs and memory of the step', () => {
  it('cpuset and memory (swap no more than memory)', () => {
    expect(host({ resources: { cpuset: '2-3', memoryBytes: 4096 } })).toMatchObject({ CpusetCpus: '2-3', Memory: 4096, MemorySwap: 4096 });
  });

  it('the user\'s --dockopts wins', () => {
    const h = host({ resources: { cpuset: '2-3', memoryBytes: 4096 }, dockoptsText: '--cpuset-cpus=0-7 -m 8g' });
    expect(h).toMatchObject({ CpusetCpus: '0-7', Memory: 8 * 1024 ** 3 });
    expect(h).not.toHaveProperty('MemorySwap');
  });

  it('none of either: nothing set', () => {
    const h = host();
    for (const key of ['CpusetCpus', 'Memory', 'MemorySwap']) expect(h).not.toHaveProperty(key);
  });

  it('an engine that cannot apply them: left out (node-container.ts warns)', () => {
    const h = host({ resources: { cpuset: '1', memoryBytes: 4096 }, engine: { ...DOCKER_ROOTLESS, cpuset: false, memoryLimit: false } });
    for (const key of ['CpusetCpus', 'Memory', 'MemorySwap']) expect(h).not.toHaveProperty(key);
  });
});

describe('user namespaces: files written into the home are the user\'s on the host', () => {
  it('rootless Podman: keep-id, the user\'s own uid:gid, no ulimits it would drop anyway', () => {
    const s = spec({ engine: PODMAN_ROOTLESS });
    expect(s.HostConfig?.UsernsMode).toBe('keep-id');
    expect(s.User).toBe('1001:1002');
    expect(s.HostConfig).not.toHaveProperty('Ulimits');
  });

  it('a root daemon with userns-remap: the host\'s user namespace', () => {
    expect(host({ engine: { ...ROOT_DOCKER, usernsRemap: true } }).UsernsMode).toBe('host');
    expect(host()).not.toHaveProperty('UsernsMode');
  });

  it('rootless Docker: 0:0 inside (the engine\'s root is the user), under the user\'s name and home', () => {
    const mapped = containerIdentity(IDENTITY, DOCKER_ROOTLESS);
    expect(mapped).toMatchObject({ user: 'alice', uid: 0, gid: 0, home: '/home/alice', groups: [], passwdLine: 'alice:x:0:0::/home/alice:/bin/bash', groupLines: ['alice:x:0:'] });
    const s = spec({ identity: mapped, engine: DOCKER_ROOTLESS });
    expect(s.User).toBe('0:0');
    expect(s.Env).toContain('USER=alice');
    expect(s.HostConfig?.GroupAdd).toEqual([]);
    expect(s.HostConfig).not.toHaveProperty('UsernsMode');
    // the image's root entry gives way to the user's: `id -un` says alice
    expect(mergePasswd('root:x:0:0:root:/root:/bin/bash\nsshd:x:100:65534::/run/sshd:/usr/sbin/nologin\n', mapped)).toBe(
      'sshd:x:100:65534::/run/sshd:/usr/sbin/nologin\nalice:x:0:0::/home/alice:/bin/bash\n',
    );
    expect(mergeGroup('root:x:0:\n', mapped)).toBe('alice:x:0:\n');
  });

  it('everywhere else the identity is the host\'s', () => {
    expect(containerIdentity(IDENTITY, ROOT_DOCKER)).toBe(IDENTITY);
    expect(containerIdentity(IDENTITY, PODMAN_ROOTLESS)).toBe(IDENTITY);
    expect(containerIdentity({ ...IDENTITY, uid: 0, gid: 0 }, DOCKER_ROOTLESS).uid).toBe(0);
  });
});

describe('engineFacts: from the engine\'s /info', () => {
  it.each<[string, object, Partial<EngineFacts>]>([
    // as Docker 20.10 on this machine answers (root, and rootless under rootlesskit)
    ['root Docker', { SecurityOptions: ['name=apparmor', 'name=seccomp,profile=default'], MemoryLimit: true, CPUSet: true, CgroupVersion: '1' }, ROOT_DOCKER],
    ['rootless Docker on cgroup v1', { SecurityOptions: ['name=seccomp,profile=default', 'name=rootless'], MemoryLimit: false, CPUSet: false, CgroupVersion: '1' }, { kind: 'docker', rootless: true, memoryLimit: false, cpuset: false }],
    ['Docker with userns-remap', { SecurityOptions: ['name=seccomp,profile=default', 'name=userns'] }, { kind: 'docker', rootless: false, usernsRemap: true }],
    // Podman 4.3 rootless on this machine: SecurityOptions say nothing, `Rootless` does; its limits claim support on cgroup v1
    ['rootless Podman 4.3 (cgroup v1)', { SecurityOptions: ['name=seccomp,profile=default'], Rootless: true, MemoryLimit: true, CPUSet: true, CgroupVersion: '1', BuildahVersion: '1.28.2' }, { kind: 'podman', rootless: true, memoryLimit: false, cpuset: false }],
    ['rootless Podman (cgroup v2)', { SecurityOptions: ['name=rootless'], Rootless: true, MemoryLimit: true, CPUSet: true, CgroupVersion: '2', BuildahVersion: '1.33.7' }, { kind: 'podman', rootless: true, memoryLimit: true, cpuset: true }],
    ['root Podman', { SecurityOptions: null, Rootless: false, BuildahVersion: '1.28.2' }, { kind: 'podman', rootless: false }],
  ])('%s', (_name, info, expected) => {
    expect(engineFacts(info)).toMatchObject(expected);
  });
});
