import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { containerVariables, sessionEnvScript, sessionFiles, sessionShellScript, withSessionShell } from '../../../src/ssh/session-shell.js';

const work = mkdtempSync(join(tmpdir(), 'session-shell-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** The session shell run by the real /bin/sh, as sshd runs a login shell: `shell -c CMD`. */
function run(files: ReturnType<typeof sessionFiles>, realShell: string, args: string[]): string {
  writeFileSync(files.shell, sessionShellScript(files, realShell));
  chmodSync(files.shell, 0o755);
  return execFileSync(files.shell, args, { env: { PATH: '/usr/bin:/bin' }, encoding: 'utf8' });
}

describe("the ssh sessions' shell", () => {
  it("is named as the user's own shell, in the node's folder; the passwd line names it", () => {
    const files = sessionFiles('/home/a/.srun-docker/jobs/7.0/nodes/n2.etc', '/usr/bin/zsh');
    expect(files).toEqual({ shell: '/home/a/.srun-docker/jobs/7.0/nodes/n2.etc/session/zsh', env: '/home/a/.srun-docker/jobs/7.0/nodes/n2.etc/session.env' });
    expect(withSessionShell('a:x:1000:1000:A:/home/a:/usr/bin/zsh', files)).toBe('a:x:1000:1000:A:/home/a:/home/a/.srun-docker/jobs/7.0/nodes/n2.etc/session/zsh');
  });

  it("a command gets the job's variables (values with quotes and spaces unchanged), this node's rank and the real SHELL", () => {
    const dir = join(work, "it's here");
    execFileSync('mkdir', ['-p', join(dir, 'session')]);
    const files = sessionFiles(dir, '/bin/sh');
    writeFileSync(files.env, sessionEnvScript({ np: '3', hostlist: 'n1:1,n2:1', NODE_RANK: '0', odd: "it's a 'test' $HOME" }, 2));
    expect(run(files, '/bin/sh', ['-c', 'echo "$np $hostlist $NODE_RANK $SHELL [$odd]"'])).toBe("3 n1:1,n2:1 2 /bin/sh [it's a 'test' $HOME]\n");
  });

  it("a command also gets the container's own variables (the image's ENV, then srun-docker's), the job's over them", () => {
    const dir = join(work, 'container');
    execFileSync('mkdir', ['-p', join(dir, 'session')]);
    const files = sessionFiles(dir, '/bin/sh');
    const container = containerVariables(
      ['PATH=/opt/img/bin:/usr/bin', 'LD_LIBRARY_PATH=/usr/local/cuda/compat/lib', 'OPAL_PREFIX=/opt/hpcx/ompi', 'NCCL_DEBUG=WARN', 'HOME=/root'],
      ['HOME=/home/a', 'USER=a', 'NCCL_DEBUG=INFO', 'NVIDIA_VISIBLE_DEVICES=4,5'],
    );
    writeFileSync(files.env, sessionEnvScript({ np: '2', OPAL_PREFIX: '/from/the/job' }, 1, container));
    const out = run(files, '/bin/sh', ['-c', 'echo "$LD_LIBRARY_PATH|$OPAL_PREFIX|$NCCL_DEBUG|$NVIDIA_VISIBLE_DEVICES|$np|$NODE_RANK|$PATH|${HOME:-unset}"']);
    expect(out).toBe('/usr/local/cuda/compat/lib|/from/the/job|INFO|4,5|2|1|/usr/bin:/bin|unset\n');
  });

  it("containerVariables: Docker's order (srun-docker's over the image's); what a login sets for itself and entries without a value are left out", () => {
    expect(containerVariables(['A=1', 'B=image', 'PATH=/x', 'SHELL=/bin/zsh', 'TERM=dumb', 'NOVALUE', '=odd'], ['B=ours', 'HOME=/h', 'USER=u', 'LOGNAME=u', 'C=x=y'])).toEqual({
      A: '1',
      B: 'ours',
      C: 'x=y',
    });
  });

  it('before the variables are there (the readiness login), the command runs all the same', () => {
    const dir = join(work, 'early');
    execFileSync('mkdir', ['-p', join(dir, 'session')]);
    const files = sessionFiles(dir, '/bin/sh');
    expect(run(files, '/bin/sh', ['-c', 'echo "np=[${np:-}] rc=0"; exit 0'])).toBe('np=[] rc=0\n');
  });

  it('without a command it becomes a login shell (-l) of the real one', () => {
    const dir = join(work, 'login');
    execFileSync('mkdir', ['-p', join(dir, 'session')]);
    const files = sessionFiles(dir, '/bin/echo');
    // /bin/echo as the "shell" shows the arguments it was given
    expect(run(files, '/bin/echo', [])).toBe('-l\n');
  });
});
