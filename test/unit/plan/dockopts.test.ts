import type Docker from 'dockerode';
import { describe, expect, it } from 'vitest';
import { mergeHostConfig, parseDockopts, SUPPORTED_DOCKOPTS, type DockOptions } from '../../../src/plan/dockopts.js';
import { UsageError } from '../../../src/platform/errors.js';

const ENV = { HOME: '/home/alice', MYVAR: 'fromcaller', EMPTY: '' };
const GPU = { Driver: 'nvidia', Capabilities: [['gpu']] };
const parse = (input: string): DockOptions => parseDockopts(input, ENV);

describe('parseDockopts', () => {
  it('parses the README example', () => {
    expect(parse('--ipc=host -e MYVAR=SOMEVALUE -v /datasets:/data --ulimit memlock=-1:-1 --shm-size=8g')).toEqual({
      env: ['MYVAR=SOMEVALUE'],
      labels: {},
      hostConfig: {
        IpcMode: 'host',
        Binds: ['/datasets:/data'],
        Ulimits: [{ Name: 'memlock', Soft: -1, Hard: -1 }],
        ShmSize: 8 * 1024 ** 3,
      },
      ulimitNames: ['memlock'],
    });
  });

  it.each<[string, string]>([
    ['', 'nothing'],
    ['   ', 'blanks'],
  ])('parses %j (%s) to empty options', (input) => {
    expect(parse(input)).toEqual({ env: [], labels: {}, hostConfig: {}, ulimitNames: [] });
  });

  it.each<[string, string[]]>([
    ['-e A=1', ['A=1']],
    ['--env A=1', ['A=1']],
    ['--env=A=1', ['A=1']],
    ['-eA=1', ['A=1']],
    ['-e=A=1', ['A=1']],
    ['-e A=1 -e B=x=y', ['A=1', 'B=x=y']],
    ['-e A=', ['A=']],
    ['-e "A=two words"', ['A=two words']],
    ["-e 'A=$HOME'", ['A=$HOME']],
    ['-e A=$HOME', ['A=/home/alice']],
    ['-e A=${HOME}/x', ['A=/home/alice/x']],
    ['-e A=\\$HOME', ['A=$HOME']],
    ['-e MYVAR', ['MYVAR=fromcaller']],
    ['-e EMPTY', ['EMPTY=']],
    ['-e UNSET_IN_CALLER', []],
  ])('env: %j', (input, env) => {
    expect(parse(input).env).toEqual(env);
  });

  it.each<[string, Docker.HostConfig]>([
    ['-v /a:/b -v /c:/d:ro --volume=myvol:/e:rw,z', { Binds: ['/a:/b', '/c:/d:ro', 'myvol:/e:rw,z'] }],
    ['--ipc host', { IpcMode: 'host' }],
    ['--ipc=container:other', { IpcMode: 'container:other' }],
    ['--shm-size=1g', { ShmSize: 1024 ** 3 }],
    ['--shm-size 512m', { ShmSize: 512 * 1024 ** 2 }],
    ['--shm-size=64k', { ShmSize: 64 * 1024 }],
    ['--shm-size=100', { ShmSize: 100 }],
    ['--shm-size=100b', { ShmSize: 100 }],
    ['--shm-size=2GB', { ShmSize: 2 * 1024 ** 3 }],
    ['--shm-size=1.5g', { ShmSize: 1.5 * 1024 ** 3 }],
    ['--ulimit stack=67108864', { Ulimits: [{ Name: 'stack', Soft: 67108864, Hard: 67108864 }] }],
    ['--ulimit nofile=1024:65536', { Ulimits: [{ Name: 'nofile', Soft: 1024, Hard: 65536 }] }],
    ['--ulimit memlock=unlimited:unlimited', { Ulimits: [{ Name: 'memlock', Soft: -1, Hard: -1 }] }],
    ['--ulimit nofile=1024:unlimited', { Ulimits: [{ Name: 'nofile', Soft: 1024, Hard: -1 }] }],
    ['--ulimit memlock=-1 --ulimit nofile=5 --ulimit memlock=7', {
      Ulimits: [{ Name: 'memlock', Soft: 7, Hard: 7 }, { Name: 'nofile', Soft: 5, Hard: 5 }],
    }],
    ['--cap-add SYS_PTRACE --cap-add=IPC_LOCK --cap-drop MKNOD', { CapAdd: ['SYS_PTRACE', 'IPC_LOCK'], CapDrop: ['MKNOD'] }],
    ['--device /dev/infiniband/uverbs0', {
      Devices: [{ PathOnHost: '/dev/infiniband/uverbs0', PathInContainer: '/dev/infiniband/uverbs0', CgroupPermissions: 'rwm' }],
    }],
    ['--device=/dev/a:/dev/b --device /dev/c:/dev/d:r --device /dev/fuse:rw', {
      Devices: [
        { PathOnHost: '/dev/a', PathInContainer: '/dev/b', CgroupPermissions: 'rwm' },
        { PathOnHost: '/dev/c', PathInContainer: '/dev/d', CgroupPermissions: 'r' },
        { PathOnHost: '/dev/fuse', PathInContainer: '/dev/fuse', CgroupPermissions: 'rw' },
      ],
    }],
    ['--gpus all', { DeviceRequests: [{ ...GPU, Count: -1 }] }],
    ['--gpus=2', { DeviceRequests: [{ ...GPU, Count: 2 }] }],
    ['--gpus count=all', { DeviceRequests: [{ ...GPU, Count: -1 }] }],
    ['--gpus device=0,1', { DeviceRequests: [{ ...GPU, DeviceIDs: ['0', '1'] }] }],
    [`--gpus '"device=0,1"'`, { DeviceRequests: [{ ...GPU, DeviceIDs: ['0', '1'] }] }],
    ['--gpus=\'"device=GPU-ab12"\'', { DeviceRequests: [{ ...GPU, DeviceIDs: ['GPU-ab12'] }] }],
    ['--security-opt seccomp=unconfined --security-opt=apparmor=unconfined', { SecurityOpt: ['seccomp=unconfined', 'apparmor=unconfined'] }],
    ['--runtime nvidia', { Runtime: 'nvidia' }],
    ['--group-add video --group-add 44', { GroupAdd: ['video', '44'] }],
    ['--pid=host', { PidMode: 'host' }],
    ['--tmpfs /scratch --tmpfs=/run:rw,size=64m', { Tmpfs: { '/scratch': '', '/run': 'rw,size=64m' } }],
    ['--privileged', { Privileged: true }],
    ['--privileged=false', { Privileged: false }],
    ['--network=host', { NetworkMode: 'host' }],
    ['--net host', { NetworkMode: 'host' }],
    ['--add-host storage:10.0.0.5 --add-host=db=fd00::1', { ExtraHosts: ['storage:10.0.0.5', 'db:fd00::1'] }],
    ['--dns 10.0.0.2 --dns=1.1.1.1', { Dns: ['10.0.0.2', '1.1.1.1'] }],
    ['-m 16g', { Memory: 16 * 1024 ** 3 }],
    ['--memory=512m', { Memory: 512 * 1024 ** 2 }],
    ['--cpus 1.5', { NanoCpus: 1_500_000_000 }],
    ['--cpus=8', { NanoCpus: 8_000_000_000 }],
    ['--cpuset-cpus 0-3,8', { CpusetCpus: '0-3,8' }],
    ['--init', { Init: true }],
    ['--sysctl net.core.somaxconn=1024 --sysctl=kernel.shmmax=1', { Sysctls: { 'net.core.somaxconn': '1024', 'kernel.shmmax': '1' } }],
    ['-v "/data with space:/data"', { Binds: ['/data with space:/data'] }],
    ['-v $HOME/data:/data', { Binds: ['/home/alice/data:/data'] }],
  ])('host config: %j', (input, hostConfig) => {
    expect(parse(input).hostConfig).toEqual(hostConfig);
  });

  it.each<[string, Record<string, string>]>([
    ['-l team=ml --label=cost=1 --label flag', { team: 'ml', cost: '1', flag: '' }],
  ])('labels: %j', (input, labels) => {
    expect(parse(input).labels).toEqual(labels);
  });

  it('reports each explicit ulimit name once', () => {
    expect(parse('--ulimit stack=1 --ulimit memlock=-1 --ulimit stack=2').ulimitNames).toEqual(['stack', 'memlock']);
  });

  it.each<[string, RegExp]>([
    ['--foo', /^unsupported --dockopts flag "--foo"; supported: -e\/--env, -v\/--volume, /],
    ['--foo=bar', /unsupported --dockopts flag "--foo";/],
    ['-x', /unsupported --dockopts flag "-x";/],
    ['-w /tmp', /"-w" is not allowed: srun-docker sets the working directory/],
    ['--workdir=/tmp', /"--workdir" is not allowed: srun-docker sets the working directory/],
    ['-u 0', /"-u" is not allowed: srun-docker runs the container as your own uid:gid/],
    ['--name x', /use --dockname/],
    ['--rm', /always removes/],
    ['-it', /"-it" is not allowed/],
    ['--network bridge', /--network=bridge is not possible: srun-docker always uses the host network/],
    ['--net=none', /--net=none is not possible/],
    ['--ipc', /flag "--ipc" is missing its value/],
    ['-e', /flag "-e" is missing its value/],
    ['-e --ipc=host', /flag "-e" is missing its value/],
    ['--ipc=', /flag "--ipc" has an empty value/],
    ['-e ""', /flag "-e" has an empty value/],
    ['ubuntu', /unexpected word "ubuntu" in --dockopts/],
    ['--ipc host extra', /unexpected word "extra"/],
    ['-', /unexpected word "-"/],
    ['-e =x', /-e "=x": expected NAME=value or NAME/],
    ['--ipc=bogus', /--ipc "bogus": expected one of host, private, shareable, none or container:<name>/],
    ['--pid=private', /--pid "private": expected one of host/],
    ['--shm-size=8x', /--shm-size "8x": expected a positive size/],
    ['--shm-size=0', /expected a positive size/],
    ['--shm-size=-1g', /missing its value|expected a positive size/],
    ['--memory=lots', /--memory "lots": expected a positive size/],
    ['--ulimit memlock', /--ulimit "memlock": expected name=soft\[:hard\]/],
    ['--ulimit bogus=1', /--ulimit "bogus=1": expected name=soft/],
    ['--ulimit nofile=a:b', /expected name=soft/],
    ['--ulimit nofile=1:2:3', /expected name=soft/],
    ['--ulimit nofile=10:5', /soft limit no higher than the hard limit/],
    ['--ulimit nofile=-1:5', /soft limit no higher than the hard limit/],
    ['-v /data', /-v "\/data": expected src:dst\[:opts\]/],
    ['-v data:rel', /expected src:dst/],
    ['-v ./rel:/data', /expected src:dst/],
    ['-v /a:/b:bogus', /expected src:dst/],
    ['-v /a:/b:', /expected src:dst/],
    ['-v /a:/b:ro:x', /expected src:dst/],
    ['--device dev/x', /--device "dev\/x": expected host\[:container\[:perms\]\]/],
    ['--device /dev/x:/dev/y:rwx', /expected host\[:container/],
    ['--gpus some', /--gpus "some": expected all, a GPU count, or device=/],
    ['--gpus 0', /expected all, a GPU count/],
    ['--gpus device=', /expected all, a GPU count/],
    ['--cpus=0', /--cpus "0": expected a positive number of CPUs/],
    ['--cpus=two', /expected a positive number of CPUs/],
    ['--cpuset-cpus=a-b', /expected a CPU list/],
    ['--privileged=maybe', /--privileged "maybe": expected true or false/],
    ['--privileged true', /unexpected word "true"/],
    ['--sysctl kernel.x', /--sysctl "kernel.x": expected key=value/],
    ['-l =x', /expected key or key=value/],
    ['--tmpfs scratch', /--tmpfs "scratch": expected an absolute path/],
    ['--add-host storage', /--add-host "storage": expected host:ip/],
    ['-e A=1 | cat', /shell syntax "\|"/],
    ['-e A=1; rm -rf /', /shell syntax ";"/],
    ['-e A=1 && true', /shell syntax "&&"/],
    ['--device /dev/nvidia*', /shell syntax "\/dev\/nvidia\*"/],
    ['-e A=1 # note', /shell syntax "# note"/],
    ['-e A=$NOT_SET', /uses \$NOT_SET, which is not set/],
  ])('rejects %j', (input, message) => {
    expect(() => parse(input)).toThrow(UsageError);
    expect(() => parse(input)).toThrow(message);
  });

  it('lists every supported flag for --help', () => {
    expect(SUPPORTED_DOCKOPTS).toEqual(expect.arrayContaining(['-e/--env', '-v/--volume', '--shm-size', '--ulimit', '--gpus', '--network/--net', '-m/--memory', '-l/--label']));
    expect(SUPPORTED_DOCKOPTS.some((f) => f.includes('workdir'))).toBe(false);
  });

  it('keeps error messages on one line', () => {
    for (const input of ['--foo', '--ulimit x', '--network bridge', '-e A=$NOPE', '-v /x']) {
      expect(() => parse(input)).toThrow(/^[^\n]+$/);
    }
  });
});

describe('mergeHostConfig', () => {
  const base: Docker.HostConfig = {
    NetworkMode: 'host',
    ShmSize: 1024 ** 3,
    Binds: ['/home/alice:/home/alice'],
    CapAdd: ['IPC_LOCK'],
    Ulimits: [{ Name: 'memlock', Soft: -1, Hard: -1 }, { Name: 'stack', Soft: 67108864, Hard: 67108864 }],
    Tmpfs: { '/run': '', '/tmp': 'size=1g' },
    Sysctls: { 'a.b': '1' },
    Privileged: false,
  };

  it.each<[string, Docker.HostConfig, Docker.HostConfig]>([
    ['empty extra keeps base', {}, base],
    ['scalars from extra win', { ShmSize: 8, Privileged: true, IpcMode: 'host' }, { ...base, ShmSize: 8, Privileged: true, IpcMode: 'host' }],
    ['undefined in extra does not erase base', { ShmSize: undefined }, base],
    ['lists concatenate', { Binds: ['/d:/d'], CapAdd: ['SYS_PTRACE'], Dns: ['1.1.1.1'] }, {
      ...base, Binds: ['/home/alice:/home/alice', '/d:/d'], CapAdd: ['IPC_LOCK', 'SYS_PTRACE'], Dns: ['1.1.1.1'],
    }],
    ['ulimits merge by name, extra wins in place', { Ulimits: [{ Name: 'stack', Soft: 8192, Hard: 8192 }, { Name: 'nofile', Soft: 1, Hard: 2 }] }, {
      ...base,
      Ulimits: [{ Name: 'memlock', Soft: -1, Hard: -1 }, { Name: 'stack', Soft: 8192, Hard: 8192 }, { Name: 'nofile', Soft: 1, Hard: 2 }],
    }],
    ['tmpfs and sysctls merge, extra wins', { Tmpfs: { '/tmp': '', '/x': 'ro' }, Sysctls: { 'a.b': '2', 'c.d': '3' } }, {
      ...base, Tmpfs: { '/run': '', '/tmp': '', '/x': 'ro' }, Sysctls: { 'a.b': '2', 'c.d': '3' },
    }],
  ])('%s', (_name, extra, expected) => {
    expect(mergeHostConfig(base, extra)).toEqual(expected);
  });

  it('takes every list from one side when the other has none', () => {
    const devices = [{ PathOnHost: '/dev/x', PathInContainer: '/dev/x', CgroupPermissions: 'rwm' }];
    const requests = [{ ...GPU, Count: -1 }];
    expect(mergeHostConfig({ Devices: devices }, { DeviceRequests: requests, SecurityOpt: ['s'], GroupAdd: ['g'], ExtraHosts: ['h:1'], CapDrop: ['c'] }))
      .toEqual({ Devices: devices, DeviceRequests: requests, SecurityOpt: ['s'], GroupAdd: ['g'], ExtraHosts: ['h:1'], CapDrop: ['c'] });
  });

  it('does not modify its inputs', () => {
    const extra: Docker.HostConfig = { Binds: ['/d:/d'], Ulimits: [{ Name: 'stack', Soft: 1, Hard: 1 }] };
    const before = structuredClone(base);
    mergeHostConfig(base, extra);
    expect(base).toEqual(before);
    expect(extra).toEqual({ Binds: ['/d:/d'], Ulimits: [{ Name: 'stack', Soft: 1, Hard: 1 }] });
  });

  it('merges a parsed --dockopts over defaults', () => {
    const user = parse('--ulimit stack=-1 --shm-size=8g -v /datasets:/data');
    expect(mergeHostConfig(base, user.hostConfig)).toMatchObject({
      ShmSize: 8 * 1024 ** 3,
      Binds: ['/home/alice:/home/alice', '/datasets:/data'],
      Ulimits: [{ Name: 'memlock', Soft: -1, Hard: -1 }, { Name: 'stack', Soft: -1, Hard: -1 }],
    });
  });
});
