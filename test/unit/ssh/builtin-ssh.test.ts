import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { buildContainerSpec } from '../../../src/container/container-spec.js';
import { scriptMount } from '../../../src/container/container-spec.js';
import { LaunchError, UsageError } from '../../../src/platform/errors.js';
import { jobDirFor } from '../../../src/plan/jobdir.js';
import { BUILTIN_BINARY, builtinFiles, dropbearHostPath, verifyDropbear } from '../../../src/ssh/builtin.js';
import { DROPBEAR_SHA256 } from '../../../src/ssh/dropbear-build.js';
import { encodeDropbearEd25519, encodeEd25519, generateEd25519 } from '../../../src/ssh/keys.js';
import { renderClientFiles, renderDropbearKnownHosts, renderHostsTable } from '../../../src/ssh/material.js';
import { ROOT_DOCKER } from '../../../src/docker/engine.js';
import { chooseSsh, parseSshMode, serverCommandLine } from '../../../src/ssh/server.js';

describe('chooseSsh: which ssh the containers get', () => {
  const openssh = new Set(['/usr/sbin/sshd', '/usr/bin/ssh']);
  it.each<[string, 'auto' | 'image' | 'builtin', Set<string>, 'image' | 'builtin', RegExp]>([
    ['auto, server and client', 'auto', openssh, 'image', /auto: the image has OpenSSH/],
    ['auto, no server', 'auto', new Set(['/usr/bin/ssh']), 'builtin', /no \/usr\/sbin\/sshd; the built-in/],
    ['auto, no client', 'auto', new Set(['/usr/sbin/sshd']), 'builtin', /auto: the image has no ssh client; the built-in/],
    ['auto, nothing', 'auto', new Set(), 'builtin', /no \/usr\/sbin\/sshd or ssh client/],
    ['builtin wins over OpenSSH', 'builtin', openssh, 'builtin', /--ssh=builtin/],
    ['image', 'image', openssh, 'image', /--ssh=image/],
  ])('%s', (_name, mode, present, kind, reason) => {
    const choice = chooseSsh(mode, present, 'img:1');
    expect(choice.kind).toBe(kind);
    expect(choice.reason).toMatch(reason);
  });

  it('--ssh=image in an image without OpenSSH is a usage error naming what is missing', () => {
    expect(() => chooseSsh('image', new Set(['/usr/bin/ssh']), 'img:1')).toThrow(UsageError);
    expect(() => chooseSsh('image', new Set(['/usr/bin/ssh']), 'img:1')).toThrow(/img:1 has no \/usr\/sbin\/sshd/);
  });

  it('parses --ssh', () => {
    expect(parseSshMode(undefined)).toBe('auto');
    expect(parseSshMode('builtin')).toBe('builtin');
    expect(() => parseSshMode('dropbear')).toThrow(/--ssh expects auto, image or builtin, got "dropbear"/);
  });
});

describe('serverCommandLine', () => {
  const base = { port: 12001, sshdConfig: '/j/nodes/n1.sshd_config', dropbearHostKey: '/j/nodes/n1.key.dropbear', authorizedKeysDir: '/j', sessionPath: '/j/bin:/usr/bin:/bin', uid: 1001 };
  it("the image's sshd with its config", () => {
    expect(serverCommandLine({ ...base, kind: 'image' })).toBe('exec /usr/sbin/sshd -D -e -f /j/nodes/n1.sshd_config -p 12001');
  });
  it('the built-in server: foreground, authorized_keys from the job directory, the sessions PATH, no root logins for a user', () => {
    const line = serverCommandLine({ ...base, kind: 'builtin' });
    expect(line).toBe('PATH=/j/bin\\:/usr/bin\\:/bin exec /.srun-docker/ssh/dropbearmulti dropbear -F -E -e -j -k -p 12001 -r /j/nodes/n1.key.dropbear -D /j -w');
    expect(serverCommandLine({ ...base, kind: 'builtin', uid: 0 })).not.toContain(' -w');
  });
  it('the line runs in sh as written (paths with spaces stay one word)', () => {
    const line = serverCommandLine({ ...base, kind: 'builtin', dropbearHostKey: '/j k/key', sessionPath: '/a b:/bin' });
    const words = execFileSync('/bin/sh', ['-c', `${line.replace(/ exec /, ' exec printf "[%s]\\n" ')}; `], { encoding: 'utf8' });
    expect(words).toContain('[/j k/key]');
  });
});

describe("Dropbear's key format", () => {
  it('what dropbearkey reads: the same public key as the OpenSSH file', async () => {
    const binary = dropbearHostPath();
    if (!existsSync(binary)) return expect.fail(`${binary} missing: npm run build makes it`);
    const dir = await mkdtemp(join(tmpdir(), 'srun-docker-dbkey-'));
    try {
      const parts = generateEd25519('c');
      await writeFile(join(dir, 'key'), encodeDropbearEd25519(parts), { mode: 0o600 });
      const printed = execFileSync(binary, ['dropbearkey', '-y', '-f', join(dir, 'key')], { encoding: 'utf8' });
      const blob = encodeEd25519(parts).publicKey.split(' ')[1];
      expect(printed).toContain(`ssh-ed25519 ${blob}`);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("known_hosts for Dropbear's client: the address it connects to (the wrapper's table maps the name), no port", () => {
    expect(renderDropbearKnownHosts([{ node: 'n1', address: '10.0.0.1', port: 12001, hostKey: 'ssh-ed25519 AAAA host' }])).toBe('10.0.0.1 ssh-ed25519 AAAA\n');
  });

  it('the wrapper table: name, address, port', () => {
    expect(renderHostsTable([{ node: 'n1', address: '10.0.0.1', port: 12001, hostKey: undefined }, { node: 'n2', address: '10.0.0.2', port: 12009, hostKey: undefined }])).toBe('n1 10.0.0.1 12001\nn2 10.0.0.2 12009\n');
  });
});

describe('builtinFiles', () => {
  it('the checked bytes at BUILTIN_BINARY, executable, its directories made: nothing of the host is mounted', () => {
    const bytes = Buffer.from('binary');
    const files = builtinFiles(bytes);
    expect(files.dir).toBe('/');
    expect(files.files).toEqual([
      { name: '.srun-docker/', mode: 0o755, directory: true },
      { name: '.srun-docker/ssh/', mode: 0o755, directory: true },
      { name: '.srun-docker/ssh/dropbearmulti', mode: 0o755, content: bytes },
    ]);
    expect(BUILTIN_BINARY).toBe('/.srun-docker/ssh/dropbearmulti');
  });
});

describe('verifyDropbear', () => {
  it('passes the recorded binary, names a missing or different one', async () => {
    const real = await readFile(dropbearHostPath()).catch(() => undefined);
    if (real !== undefined) await expect(verifyDropbear('/x', async () => real)).resolves.toBe(real);
    await expect(verifyDropbear('/x/dropbearmulti', async () => undefined)).rejects.toThrow(/the built-in ssh \/x\/dropbearmulti is missing/);
    await expect(verifyDropbear('/x/dropbearmulti', async () => Buffer.from('other'))).rejects.toThrow(LaunchError);
    await expect(verifyDropbear('/x/dropbearmulti', async () => Buffer.from('other'))).rejects.toThrow(new RegExp(`expected ${DROPBEAR_SHA256}`));
  });
});

describe("the script's mount", () => {
  it("a script in one of the image's directories is mounted as the file alone, read-only", () => {
    expect(scriptMount('/usr/local/bin/train.sh', { file: false, dir: true })).toEqual({ neededPaths: [], scriptFile: '/usr/local/bin/train.sh' });
    expect(scriptMount('/opt/jobs/run.sh', { file: false, dir: false })).toEqual({ neededPaths: ['/opt/jobs'] });
    // the image's own program: nothing of the host's over it
    expect(scriptMount('/bin/bash', { file: true, dir: true })).toEqual({ neededPaths: [] });
  });
  it('--script=/bin/true does not mount the host /bin', () => {
    const binds = buildContainerSpec(specInput({ neededPaths: ['/home/alice/work'], scriptFile: '/bin/true' })).HostConfig?.Binds ?? [];
    expect(binds).toContain('/bin/true:/bin/true:ro');
    expect(binds.some((b) => b.startsWith('/bin:'))).toBe(false);
  });
  it('a script under the home or a mounted directory needs no mount of its own', () => {
    expect(buildContainerSpec(specInput({ scriptFile: '/home/alice/job.sh' })).HostConfig?.Binds?.join(' ')).not.toContain('job.sh');
    expect(buildContainerSpec(specInput({ neededPaths: ['/scratch'], scriptFile: '/scratch/a/job.sh' })).HostConfig?.Binds).toContain('/scratch:/scratch');
    expect(buildContainerSpec(specInput({ neededPaths: ['/scratch'], scriptFile: '/scratch/a/job.sh' })).HostConfig?.Binds?.join(' ')).not.toContain('job.sh');
  });
});

function specInput(overrides: Partial<Parameters<typeof buildContainerSpec>[0]>): Parameters<typeof buildContainerSpec>[0] {
  return {
    name: 'c',
    image: 'img:1',
    identity: { user: 'alice', uid: 1001, gid: 1001, home: '/home/alice', shell: '/bin/bash', groups: [], passwdLine: '', groupLines: [] },
    cwd: '/home/alice/work',
    fileBinds: [],
    neededPaths: [],
    datamnts: [],
    env: [],
    dockopts: { env: [], labels: {}, hostConfig: {}, ulimitNames: [] } as never,
    privileged: false,
    ibdevices: false,
    gpus: [],
    resources: {},
    engine: ROOT_DOCKER,
    labels: {},
    command: { Entrypoint: ['/bin/sh'], Cmd: [] },
    droppedDefaultUlimits: [],
    ...overrides,
  };
}

/**
 * The built-in ssh wrapper, run for real by /bin/sh with a stand-in for dropbearmulti that prints the
 * arguments it got: the OpenSSH options Open MPI, scp, rsync and people pass, turned into dbclient's.
 */
describe('the ssh wrapper of the built-in ssh', () => {
  let dir = '';
  let wrapper = '';
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'srun-docker-wrapper-'));
    const fake = join(dir, 'dropbearmulti');
    await writeFile(fake, '#!/bin/sh\necho "HOME=$HOME"\nfor a in "$@"; do printf "[%s]" "$a"; done\necho\n');
    await chmod(fake, 0o755);
    const files = await renderClientFiles({ dir: jobDirFor('/home/alice', '7', '0'), port: 12001, ssh: 'builtin' }, 'ssh-ed25519 AAAA c');
    wrapper = join(dir, 'ssh');
    await writeFile(wrapper, files.sshWrapper.replace('/.srun-docker/ssh/dropbearmulti', fake));
    await chmod(wrapper, 0o755);
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });
  const run = (...args: string[]): string => execFileSync('/bin/sh', [wrapper, ...args], { encoding: 'utf8', env: { ...process.env, host: 'inherited' } });

  it.each<[string, string[], string]>([
    ['a host and a command', ['n2', 'echo', 'a b'], '[dbclient][-p][12001][n2][echo][a b]'],
    ["Open MPI's orted launch", ['-x', 'n2', 'orted', '-mca', 'ess', 'env'], '[dbclient][-p][12001][n2][orted][-mca][ess][env]'],
    ['-p, -l, -i, -q; -t without a terminal asks for no pty, as OpenSSH', ['-p', '2222', '-l', 'bob', '-i', '/k', '-t', '-q', 'n2'], '[dbclient][-i][/k][-q][-p][2222][-l][bob][n2]'],
    ['values attached, combined flags', ['-p2222', '-lbob', '-xqT', 'n2', 'true'], '[dbclient][-q][-p][2222][-l][bob][-T][n2][true]'],
    ['-o options: Port, User, IdentityFile taken, the rest ignored', ['-o', 'Port=2200', '-oUser=bob', '-o', 'StrictHostKeyChecking=no', '-o', 'IdentityFile=/k', 'n2'], '[dbclient][-i][/k][-p][2200][-l][bob][n2]'],
    ['-F and -o BatchMode are ignored', ['-F', '/dev/null', '-o', 'BatchMode=yes', 'n2', 'hostname'], '[dbclient][-p][12001][n2][hostname]'],
    ["pdsh's ssh module (DeepSpeed's default launcher), with DeepSpeed's --ssh_port", ['-oConnectTimeout=10', '-p', '2222', '-2', '-a', '-x', 'n3', 'cd /w; python3 train.py'], '[dbclient][-p][2222][n3][cd /w; python3 train.py]'],
    ["Horovod's check", ['-o', 'PasswordAuthentication=no', '-o', 'StrictHostKeyChecking=no', 'n2', 'true'], '[dbclient][-p][12001][n2][true]'],
    ["options after the host, as OpenSSH takes them (Horovod's ssh with horovodrun -p)", ['-o', 'StrictHostKeyChecking=no', 'n2', '-p', '2222', '-i', '/k', 'cd /w', '&&', 'python3', '-x'], '[dbclient][-i][/k][-p][2222][n2][cd /w][&&][python3][-x]'],
    ['options after the host, then no command', ['n2', '-q'], '[dbclient][-q][-p][12001][n2]'],
    ['-- ends the options before the host: what follows the host is the command', ['-p', '2222', '--', 'n2', '-x', 'ls'], '[dbclient][-p][2222][n2][-x][ls]'],
    ['-- after the host: the rest is the command, options or not', ['n2', '-q', '--', '-p', 'ls'], '[dbclient][-q][-p][12001][n2][-p][ls]'],
    ["rsync's -l user host", ['-l', 'alice', 'n1', 'rsync', '--server', '-e.Lsfx', '.', '/tmp/x'], '[dbclient][-p][12001][-l][alice][n1][rsync][--server][-e.Lsfx][.][/tmp/x]'],
  ])('%s', (_name, args, expected) => {
    const out = run(...args);
    expect(out).toContain('HOME=/home/alice/.srun-docker/jobs/7.0/dbclient-home');
    expect(out).toContain(expected);
  });

  it('no host, or an unknown option: a usage line, exit 255', () => {
    expect(() => run()).toThrow(/usage: ssh/);
    expect(() => run('-Z', 'n2')).toThrow(/unknown option -Z/);
  });
});
