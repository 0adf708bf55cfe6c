import { execa } from 'execa';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { WORKER_SCRIPT } from '../../../src/container/container-command.js';


describe("a worker container's main process", () => {
  let dir = '';
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'srun-docker-worker-script-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  /** `server` stands in for the ssh server's command line (ssh/server.ts), as the container gets it. */
  function start(server: string) {
    return execa('/bin/sh', ['-c', WORKER_SCRIPT, 'srun-docker-worker', server, join(dir, 'sshd.log')], {
      stdin: 'pipe',
      reject: false,
      timeout: 20_000,
    });
  }

  it('ends sshd and itself once its input closes (srun-docker closed it, or is gone)', async () => {
    const child = start('exec sleep 30');
    child.stdin?.write('anything\n');
    child.stdin?.end();
    const result = await child;
    expect(result.timedOut).toBe(false);
    expect(await readFile(join(dir, 'sshd.log'), 'utf8')).toContain('srun-docker: input closed (srun-docker ended); ending');
  });

  it('keeps sshd while its input stays open, and ends with sshd when sshd ends by itself', async () => {
    const child = start('sleep 0.3; exit 7');
    const result = await child;
    expect(result.exitCode).toBe(7);
    child.stdin?.destroy();
  });
});
