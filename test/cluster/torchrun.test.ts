import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { asAlice } from './support/cluster.js';
import { deriveNodeImages, ensureNodeImages, removeNodeImages } from './support/images.js';
import { EXAMPLES } from './support/jobs.js';
import { useCluster } from './support/use-cluster.js';

useCluster();

const TORCH_IMAGE = 'srun-docker/torch:bookworm';
/** The torch image as the official PyTorch image is: no sshd, no ssh client, no MPI (made on the nodes, removed after). */
const BARE_TORCH_IMAGE = 'srun-docker-test/torch-bare:1';
const TORCH_NODES = ['node1', 'node2'];
// Debian's torch 1.13 on Python 3.11 cannot parse its own "0" default for --redirects (see the example)
const TORCHRUN_EXTRA_ARGS = '--redirects=1 --tee=1';

/** The torch image is big: loaded only into the two nodes this test uses, only when missing. */
beforeAll(async () => {
  await ensureNodeImages([TORCH_IMAGE], TORCH_NODES);
  await deriveNodeImages(BARE_TORCH_IMAGE, TORCH_IMAGE, {
    run: 'dpkg --purge --force-depends openssh-server openssh-client openssh-sftp-server openmpi-bin >/dev/null && ! command -v mpirun && ! command -v ssh && ! test -e /usr/sbin/sshd',
    nodes: TORCH_NODES,
  });
}, 600_000);

afterAll(() => removeNodeImages([BARE_TORCH_IMAGE]), 120_000);

/** `srun -N2` of a torchrun example with two processes a node, CPU only. */
function torchJob(image: string, example: string) {
  return asAlice(
    [
      'env',
      `TORCHRUN_EXTRA_ARGS=${TORCHRUN_EXTRA_ARGS}`,
      'srun',
      '-N2',
      'srun-docker',
      `--container=${image}`,
      `--script=${EXAMPLES}/${example}`,
      '--envlist=TORCHRUN_EXTRA_ARGS',
      '--slots_per_node=2',
      '--verbose',
      '--',
      '--steps=5',
    ],
    { timeoutMs: 240_000 },
  );
}

/** Every rank's line: 4 ranks of one world, two on each node, all holding the same weights. */
function expectFourRanksAgree(run: { stdout: string; all: string }): void {
  const ranks = [...run.stdout.matchAll(/ddp rank=(\d+) world=(\d+) host=(\S+) loss=\S+ ok=(True|False)/g)].map((m) => ({
    rank: Number(m[1]),
    world: Number(m[2]),
    host: m[3],
    ok: m[4] === 'True',
  }));
  expect(ranks.map((r) => r.rank).sort(), run.all).toEqual([0, 1, 2, 3]);
  for (const r of ranks) expect(r, run.all).toMatchObject({ world: 4, ok: true });
  for (const node of TORCH_NODES) expect(ranks.filter((r) => r.host === node), `ranks on ${node}`).toHaveLength(2);
}

describe('PyTorch DDP with torchrun, CPU only', () => {
  it('examples/torchrun-ddp.sh: one torchrun per node (started by mpirun), two processes each: 4 ranks on 2 nodes agree on the weights', async () => {
    const run = await torchJob(TORCH_IMAGE, 'torchrun-ddp.sh');
    expect(run.exitCode, run.all).toBe(0);
    expectFourRanksAgree(run);
  });

  it('examples/torchrun-ssh.sh in the image with no sshd, no ssh client and no MPI: one torchrun per node over the built-in ssh, each with its own NODE_RANK; 4 ranks agree', async () => {
    const run = await torchJob(BARE_TORCH_IMAGE, 'torchrun-ssh.sh');
    expect(run.exitCode, run.all).toBe(0);
    expect(run.stderr, run.all).toContain('auto: the image has no /usr/sbin/sshd or ssh client; the built-in ssh (Dropbear)');
    expectFourRanksAgree(run);
  });
});
