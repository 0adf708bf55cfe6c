import { execa } from 'execa';
import { beforeAll, describe, expect, it } from 'vitest';
import { asAlice } from './support/cluster.js';
import { EXAMPLES } from './support/jobs.js';
import { useCluster } from './support/use-cluster.js';

useCluster();

const TORCH_IMAGE = 'srun-docker/torch:bookworm';
const TORCH_NODES = ['node1', 'node2'];
// Debian's torch 1.13 on Python 3.11 cannot parse its own "0" default for --redirects (see the example)
const TORCHRUN_EXTRA_ARGS = '--redirects=1 --tee=1';

/** The torch image is big: loaded only into the two nodes this test uses, only when missing. */
beforeAll(async () => {
  await Promise.all(
    TORCH_NODES.map(async (node) => {
      const present = await execa('docker', ['exec', node, 'docker', 'image', 'inspect', TORCH_IMAGE], { reject: false, timeout: 30_000 });
      if (present.exitCode === 0) return;
      await execa('bash', ['-c', `docker save ${TORCH_IMAGE} | docker exec -i ${node} docker load`], { timeout: 480_000 });
    }),
  );
}, 600_000);

describe('PyTorch DDP with torchrun (examples/torchrun-ddp.sh), CPU only', () => {
  it('one torchrun per node, two processes each: 4 ranks on 2 nodes agree on the weights', async () => {
    const run = await asAlice(
      [
        'env',
        `TORCHRUN_EXTRA_ARGS=${TORCHRUN_EXTRA_ARGS}`,
        'srun',
        '-N2',
        'srun-docker',
        `--container=${TORCH_IMAGE}`,
        `--script=${EXAMPLES}/torchrun-ddp.sh`,
        '--envlist=TORCHRUN_EXTRA_ARGS',
        '--slots_per_node=2',
        '--',
        '--steps=5',
      ],
      { timeoutMs: 240_000 },
    );
    expect(run.exitCode, run.all).toBe(0);
    const ranks = [...run.stdout.matchAll(/ddp rank=(\d+) world=(\d+) host=(\S+) loss=\S+ ok=(True|False)/g)].map((m) => ({
      rank: Number(m[1]),
      world: Number(m[2]),
      host: m[3],
      ok: m[4] === 'True',
    }));
    expect(ranks.map((r) => r.rank).sort(), run.all).toEqual([0, 1, 2, 3]);
    for (const r of ranks) expect(r, run.all).toMatchObject({ world: 4, ok: true });
    for (const node of TORCH_NODES) expect(ranks.filter((r) => r.host === node), `ranks on ${node}`).toHaveLength(2);
  });
});
