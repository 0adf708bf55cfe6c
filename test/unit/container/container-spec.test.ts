import type Docker from 'dockerode';
import { describe, expect, it } from 'vitest';
import {
  buildContainerSpec,
  dataMountBind,
  samePathDataMount,
  SHM_BYTES,
  STACK_BYTES,
  type ContainerSpecInput,
} from '../../../src/container/container-spec.js';
import { WORKER_SCRIPT, containerCommand } from '../../../src/container/container-command.js';
import { parseDockopts } from '../../../src/plan/dockopts.js';
import { aliceIdentity } from '../fakes.js';
import { UsageError } from '../../../src/platform/errors.js';
import { ROOT_DOCKER } from '../../../src/docker/engine.js';


const IDENTITY = aliceIdentity({ uid: 1001, gid: 1002, groups: [27, 44], passwdLine: 'alice:x:1001:1002::/home/alice:/bin/bash', groupLines: ['alice:x:1002:'] });

function input(overrides: Partial<ContainerSpecInput> = {}): ContainerSpecInput {
  return {
    name: 'srun-docker-alice-7.0',
    image: 'img:1',
    identity: IDENTITY,
    cwd: '/home/alice/work',
    neededPaths: ['/home/alice/work'],
    fileBinds: ['/home/alice/.srun-docker/jobs/7.0/n1/passwd:/etc/passwd:ro', '/home/alice/.srun-docker/jobs/7.0/n1/group:/etc/group:ro'],
    datamnts: [],
    env: [],
    dockopts: parseDockopts('', {}),
    privileged: false,
    ibdevices: false,
    gpus: [],
    resources: {},
    engine: ROOT_DOCKER,
    labels: { 'srun-docker.job': '7' },
    command: containerCommand({
      server: "exec /usr/sbin/sshd -D -e -f /home/alice/.srun-docker/jobs/7.0/sshd_config -p 12345",
      sshdLog: '/home/alice/.srun-docker/jobs/7.0/nodes/n1.sshd.log',
    }),
    droppedDefaultUlimits: [],
    ...overrides,
  };
}

const spec = (o: Partial<ContainerSpecInput> = {}) => buildContainerSpec(input(o));
const hostConfig = (o: Partial<ContainerSpecInput> = {}): Docker.HostConfig => spec(o).HostConfig ?? {};
const BASE_BINDS = [
  '/home/alice:/home/alice',
  '/home/alice/.srun-docker/jobs/7.0/n1/passwd:/etc/passwd:ro',
  '/home/alice/.srun-docker/jobs/7.0/n1/group:/etc/group:ro',
];

describe('buildContainerSpec: the user', () => {
  it('runs as uid:gid with HOME and USER, in the cwd, on the host network', () => {
    const s = spec();
    expect(s.name).toBe('srun-docker-alice-7.0');
    expect(s.Image).toBe('img:1');
    expect(s.User).toBe('1001:1002');
    expect(s.WorkingDir).toBe('/home/alice/work');
    expect(s.Env).toEqual(expect.arrayContaining(['HOME=/home/alice', 'USER=alice']));
    expect(s.HostConfig?.NetworkMode).toBe('host');
    expect(s.HostConfig?.GroupAdd).toEqual(['27', '44']);
  });

  it('adds --envlist and --dockopts -e values to Env', () => {
    const s = spec({ env: ['A=1'], dockopts: parseDockopts('-e B=2', {}) });
    expect(s.Env).toEqual(expect.arrayContaining(['A=1', 'B=2']));
  });

  it('mounts the home and the generated passwd/group read-only', () => {
    expect(hostConfig().Binds).toEqual(BASE_BINDS);
  });

  it('where the daemon writes them in instead, only the home is mounted', () => {
    expect(hostConfig({ fileBinds: [] }).Binds).toEqual(['/home/alice:/home/alice']);
  });
});

describe('buildContainerSpec: extra binds for needed paths', () => {
  it.each<[string, string[], string[]]>([
    ['paths inside the home need none', ['/home/alice/work', '/home/alice/jobs'], []],
    ['a path outside the home', ['/scratch/run1'], ['/scratch/run1:/scratch/run1']],
    ['duplicates once', ['/scratch/run1', '/scratch/run1', '/scratch/run1/'], ['/scratch/run1:/scratch/run1']],
    ['nested paths collapse to the top one', ['/scratch/run1/jobs', '/scratch/run1'], ['/scratch/run1:/scratch/run1']],
    ['siblings both', ['/scratch/a', '/scratch/b'], ['/scratch/a:/scratch/a', '/scratch/b:/scratch/b']],
    ['a name sharing the home prefix is outside it', ['/home/alice2/x'], ['/home/alice2/x:/home/alice2/x']],
    ['the root is never mounted', ['/'], []],
  ])('%s', (_name, neededPaths, extra) => {
    expect(hostConfig({ neededPaths }).Binds).toEqual([...BASE_BINDS, ...extra]);
  });
});

describe('--datamnts', () => {
  it.each<[string, string]>([
    ['/data', '/data:/data'],
    ['/data:/in', '/data:/in'],
    ['/data:/in:ro', '/data:/in:ro'],
    ['/data:/in:rw', '/data:/in:rw'],
  ])('%s → %s', (entry, bind) => {
    expect(dataMountBind(entry)).toBe(bind);
  });

  it.each<[string, RegExp]>([
    ['data', /absolute path/],
    ['/data:in', /absolute path/],
    ['/a:/b:ro:x', /absolute path/],
    ['', /absolute path/],
    ['/a:/b:rx', /mode must be ro or rw/],
  ])('%j is a UsageError', (entry, message) => {
    expect(() => dataMountBind(entry)).toThrow(UsageError);
    expect(() => dataMountBind(entry)).toThrow(message);
  });

  it.each<[string, string | undefined]>([
    ['/data', '/data'],
    ['/data:/data', '/data'],
    ['/data:/data:rw', '/data'],
    ['/data:/data:ro', undefined],
    ['/data:/in', undefined],
  ])('samePathDataMount(%s) is %s (a mount above it can stand in only for a read-write one at its own path)', (entry, path) => {
    expect(samePathDataMount(entry)).toBe(path);
  });

  it('are appended to the binds', () => {
    expect(hostConfig({ datamnts: ['/data', '/x:/y:ro'] }).Binds).toEqual([...BASE_BINDS, '/data:/data', '/x:/y:ro']);
  });

  it('a bad entry fails the whole spec', () => {
    expect(() => spec({ datamnts: ['relative'] })).toThrow(UsageError);
  });
});

describe('buildContainerSpec: limits', () => {
  const MEMLOCK = { Name: 'memlock', Soft: -1, Hard: -1 };
  const STACK = { Name: 'stack', Soft: STACK_BYTES, Hard: STACK_BYTES };

  it('1 GiB shared memory, unlimited memlock, 64 MiB stack', () => {
    expect(SHM_BYTES).toBe(1024 ** 3);
    expect(STACK_BYTES).toBe(64 * 1024 ** 2);
    const hc = hostConfig();
    expect(hc.ShmSize).toBe(1024 ** 3);
    expect(hc.Ulimits).toEqual([MEMLOCK, STACK]);
  });

  it.each<[string[], Docker.Ulimit[]]>([
    [['memlock'], [STACK]],
    [['stack'], [MEMLOCK]],
    [['memlock', 'stack'], []],
  ])('dropped defaults %j are left out', (dropped, ulimits) => {
    expect(hostConfig({ droppedDefaultUlimits: dropped }).Ulimits).toEqual(ulimits);
  });

  it('a --dockopts ulimit overrides the default of the same name', () => {
    const hc = hostConfig({ dockopts: parseDockopts('--ulimit memlock=1024:2048 --ulimit nofile=4096', {}) });
    expect(hc.Ulimits).toEqual([
      { Name: 'memlock', Soft: 1024, Hard: 2048 },
      STACK,
      { Name: 'nofile', Soft: 4096, Hard: 4096 },
    ]);
  });

  it('a --dockopts ulimit comes back even when its default was dropped', () => {
    const hc = hostConfig({ droppedDefaultUlimits: ['memlock'], dockopts: parseDockopts('--ulimit memlock=-1', {}) });
    expect(hc.Ulimits).toEqual(expect.arrayContaining([MEMLOCK]));
  });

  it('--dockopts --shm-size wins and -v adds to the binds', () => {
    const hc = hostConfig({ dockopts: parseDockopts('--shm-size=8g -v /d:/d:ro', {}) });
    expect(hc.ShmSize).toBe(8 * 1024 ** 3);
    expect(hc.Binds).toEqual([...BASE_BINDS, '/d:/d:ro']);
  });
});

describe('buildContainerSpec: privileges and devices', () => {
  it.each<[boolean]>([[true], [false]])('privileged %s', (privileged) => {
    expect(hostConfig({ privileged }).Privileged).toBe(privileged);
  });

  it('ibdevices hands IPC_LOCK and /dev/infiniband', () => {
    const hc = hostConfig({ ibdevices: true });
    expect(hc.CapAdd).toEqual(['IPC_LOCK']);
    expect(hc.Devices).toEqual([
      { PathOnHost: '/dev/infiniband', PathInContainer: '/dev/infiniband', CgroupPermissions: 'rwm' },
    ]);
  });

  it('no infiniband without --ibdevices', () => {
    const hc = hostConfig();
    expect(hc.CapAdd).toBeUndefined();
    expect(hc.Devices).toBeUndefined();
  });

  it('ibdevices and a --dockopts --cap-add add up', () => {
    expect(hostConfig({ ibdevices: true, dockopts: parseDockopts('--cap-add SYS_NICE', {}) }).CapAdd).toEqual([
      'IPC_LOCK',
      'SYS_NICE',
    ]);
  });

  it("hands the node's GPUs by id", () => {
    expect(hostConfig({ gpus: ['0', '3'] }).DeviceRequests).toEqual([
      { Driver: 'nvidia', DeviceIDs: ['0', '3'], Capabilities: [['gpu']] },
    ]);
  });

  it('no device request when the node has no GPUs', () => {
    expect(hostConfig({ gpus: [] })).not.toHaveProperty('DeviceRequests');
  });
});

describe('buildContainerSpec: labels and sshd', () => {
  it('carries the job labels, which win over --dockopts labels', () => {
    const s = spec({ dockopts: parseDockopts('-l team=ml -l srun-docker.job=evil', {}) });
    expect(s.Labels).toEqual({ team: 'ml', 'srun-docker.job': '7' });
  });

  it('runs sshd for as long as its input is open, and Docker removes the container when it ends', () => {
    const s = spec();
    expect(s.Entrypoint).toEqual(['/bin/sh', '-c', WORKER_SCRIPT, 'srun-docker-worker']);
    expect(s.Cmd).toEqual([
      'exec /usr/sbin/sshd -D -e -f /home/alice/.srun-docker/jobs/7.0/sshd_config -p 12345',
      '/home/alice/.srun-docker/jobs/7.0/nodes/n1.sshd.log',
    ]);
    expect(WORKER_SCRIPT).toContain('eval "$1" ) 2>>"$2" & sshd=$!');
    expect(hostConfig().AutoRemove).toBe(true);
  });
});
