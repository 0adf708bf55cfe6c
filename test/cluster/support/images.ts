import { execa } from 'execa';
import { NODES, onCluster } from './cluster.js';

/**
 * Job images that only some test files need are loaded into the nodes' inner daemons by those files
 * (up.sh loads CLUSTER_IMAGES, the mpi image, for every run): `docker save | docker load`, on the
 * nodes that do not have the image yet, all nodes at once.
 */
export async function ensureNodeImages(images: readonly string[]): Promise<void> {
  await Promise.all(
    NODES.map(async (node) => {
      for (const image of images) {
        const has = await onCluster(node, ['docker', 'image', 'inspect', image], { user: 'root', timeoutMs: 30_000 });
        if (has.exitCode === 0) continue;
        const load = await execa('bash', ['-c', 'set -o pipefail; docker save "$1" | docker exec -i "$2" docker load -q', 'bash', image, node], { reject: false, all: true, timeout: 240_000 });
        if (load.exitCode !== 0) throw new Error(`${node}: loading ${image} failed: ${load.all ?? ''}`);
      }
    }),
  );
}
