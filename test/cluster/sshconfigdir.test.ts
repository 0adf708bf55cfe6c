import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { asAlice, asAliceOk, HOME, NODES } from './support/cluster.js';
import { ALLREDUCE_JOB, allreduceRanks, jobLine, srunDocker, WORK } from './support/jobs.js';
import { useCluster } from './support/use-cluster.js';

useCluster();

/**
 * The original launcher's mode on all three nodes: alice's own key and ~/.ssh/config (with the block
 * `srun-docker ssh-setup` prints) reach every container's sshd, which runs with the sshd_config in
 * her --sshconfigdir. The coordinator's readiness check is OpenSSH with her config; mpirun uses it too.
 */
const SSH_DIR = `${HOME}/.ssh`;
const SAVED = `${WORK}/ssh-saved`;
const CONFIG_DIR = `${WORK}/mpisshconfig`;
const PORT = 12377;

beforeAll(async () => {
  // alice's own ~/.ssh is the thing under test: keep what was there, restore it after
  await asAliceOk([
    'sh',
    '-c',
    [
      'set -e',
      `mkdir -p "${WORK}"; rm -rf "${SAVED}" "${CONFIG_DIR}"`,
      `if [ -d "${SSH_DIR}" ]; then cp -a "${SSH_DIR}" "${SAVED}"; fi`,
      `mkdir -p -m 700 "${SSH_DIR}"; rm -f "${SSH_DIR}/id_ed25519" "${SSH_DIR}/id_ed25519.pub" "${SSH_DIR}/config"`,
      `ssh-keygen -q -t ed25519 -N "" -f "${SSH_DIR}/id_ed25519"`,
      `cp "${SSH_DIR}/id_ed25519.pub" "${SSH_DIR}/authorized_keys"; chmod 600 "${SSH_DIR}/authorized_keys"`,
    ].join('\n'),
  ]);
  // as the README says: the block ssh-setup prints is appended to ~/.ssh/config as it is
  await asAliceOk([
    'sh',
    '-c',
    `srun -N1 -w node1 srun-docker ssh-setup --sshconfigdir="${CONFIG_DIR}" --sshdport=${PORT} --hosts="node*" >>"${SSH_DIR}/config" && chmod 600 "${SSH_DIR}/config"`,
  ]);
});

afterAll(async () => {
  await asAlice(['sh', '-c', `rm -rf "${SSH_DIR}" "${CONFIG_DIR}"; if [ -d "${SAVED}" ]; then mv "${SAVED}" "${SSH_DIR}"; fi`]);
});

describe('--sshconfigdir (original mode) on 3 nodes', () => {
  it("mpirun reaches every node's container with alice's own key and ~/.ssh/config", async () => {
    const config = await asAliceOk(['cat', `${SSH_DIR}/config`]);
    expect(config.stdout).toContain(`Host node*\n  Port ${PORT}\n  HostKeyAlias srun-docker-alice`);
    const run = await srunDocker(['-N3'], [`--script=${ALLREDUCE_JOB}`, `--sshconfigdir=${CONFIG_DIR}`, '--verbose', '--timeout=60']);
    expect(run.exitCode, run.all).toBe(0);
    expect(jobLine(run.stdout)).toEqual({ hostlist: 'node1:1,node2:1,node3:1', np: 3, nnodes: 3, host: 'node1' });
    const ranks = allreduceRanks(run.stdout);
    expect(ranks.map((r) => r.rank).sort(), run.all).toEqual([0, 1, 2]);
    for (const r of ranks) expect(r, run.all).toMatchObject({ size: 3, sum: 6, ok: true });
    expect(new Set(ranks.map((r) => r.host))).toEqual(new Set(NODES));
    expect(run.stderr).toContain(`waiting for 2 worker(s) to answer ssh on port ${PORT}`);
  });

  it('an --sshconfigdir without an sshd_config: every node says so at once, not at the deadline', async () => {
    const started = Date.now();
    const run = await srunDocker(['-N3'], [`--script=${ALLREDUCE_JOB}`, `--sshconfigdir=${WORK}/no-such-dir`, '--timeout=60']);
    expect(run.exitCode, run.all).not.toBe(0);
    expect(Date.now() - started, run.all).toBeLessThan(30_000);
    for (const node of ['node2', 'node3']) {
      expect(run.stderr).toContain(
        `srun-docker[${node} worker]: error: ${WORK}/no-such-dir/sshd_config does not exist — create it with: srun-docker ssh-setup --sshconfigdir=${WORK}/no-such-dir`,
      );
    }
    // and nothing is left on any node (useCluster checks after every test)
  });
});
