import { describe, expect, it } from 'vitest';
import { createCommandRunner, helperEnv } from '../../../src/platform/runner.js';

/** A job's environment, as srun hands it to srun-docker: with secrets the helpers must never see. */
const CALLER = {
  PATH: process.env.PATH ?? '/usr/bin:/bin',
  HOME: '/home/alice',
  LANG: 'de_DE.UTF-8',
  LC_TIME: 'en_GB.UTF-8',
  USER: 'alice',
  SSH_AUTH_SOCK: '/tmp/ssh-XXXX/agent.1',
  AWS_SECRET_ACCESS_KEY: 'wJalrXUtnFEMI/K7MDENG',
  HF_TOKEN: 'hf_secret',
  WANDB_API_KEY: 'wandb-secret',
  SLURM_JOB_ID: '42',
  LD_PRELOAD: '/home/alice/evil.so',
};

describe('helper commands get only the variables they need', () => {
  it.each(['getent', 'nvidia-smi', 'ssh-keygen', '/usr/bin/ssh', 'ssh'])('%s: PATH, HOME, locale, and no secret', (file) => {
    const env = helperEnv(file, CALLER);
    expect(env).toMatchObject({ PATH: CALLER.PATH, HOME: '/home/alice', LANG: 'de_DE.UTF-8', LC_TIME: 'en_GB.UTF-8', LC_ALL: 'C' });
    for (const name of ['AWS_SECRET_ACCESS_KEY', 'HF_TOKEN', 'WANDB_API_KEY', 'SLURM_JOB_ID', 'LD_PRELOAD']) expect(env).not.toHaveProperty(name);
  });

  it('ssh also gets the agent socket; the others do not', () => {
    expect(helperEnv('ssh', CALLER).SSH_AUTH_SOCK).toBe(CALLER.SSH_AUTH_SOCK);
    expect(helperEnv('/usr/bin/ssh', CALLER).SSH_AUTH_SOCK).toBe(CALLER.SSH_AUTH_SOCK);
    expect(helperEnv('getent', CALLER)).not.toHaveProperty('SSH_AUTH_SOCK');
    expect(helperEnv('nvidia-smi', CALLER)).not.toHaveProperty('SSH_AUTH_SOCK');
  });

  it('a real child process sees exactly that environment (not the runner\'s own process.env)', async () => {
    process.env.SRUN_DOCKER_TEST_SECRET = 'must-not-leak';
    try {
      const result = await createCommandRunner({ ...CALLER, SRUN_DOCKER_TEST_SECRET: 'must-not-leak' }).run('env', []);
      expect(result.exitCode).toBe(0);
      const names = result.stdout.split('\n').filter((l) => l !== '').map((l) => l.split('=')[0]);
      expect(names.sort()).toEqual(['HOME', 'LANG', 'LC_ALL', 'LC_TIME', 'PATH']);
      expect(result.stdout).not.toContain('must-not-leak');
      expect(result.stdout).not.toContain('hf_secret');
    } finally {
      delete process.env.SRUN_DOCKER_TEST_SECRET;
    }
  });
});
