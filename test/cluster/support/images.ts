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

/**
 * An image made on every node from one it has, with Dockerfile-style changes (`ENV A=1`): docker
 * commit of a container that never runs, so nothing is built and nothing is pulled (`--pull=never`).
 * Removed with removeNodeImages.
 */
export async function deriveNodeImages(tag: string, from: string, changes: readonly string[]): Promise<void> {
  await ensureNodeImages([from]);
  await Promise.all(
    NODES.map(async (node) => {
      const script = 'set -e; c=$(docker create --pull=never "$1" true); trap \'docker rm "$c" >/dev/null\' EXIT; tag=$2; shift 2; docker commit "$@" "$c" "$tag" >/dev/null';
      const made = await onCluster(node, ['sh', '-c', script, 'sh', from, tag, ...changes.flatMap((c) => ['--change', c])], { user: 'root', timeoutMs: 60_000 });
      if (made.exitCode !== 0) throw new Error(`${node}: deriving ${tag} from ${from} failed: ${made.all}`);
    }),
  );
}

/**
 * An image made on `nodes` by running `script` (sh, as root, with no network) in a container of one
 * they have, then docker commit: what a Dockerfile's RUN would make, without building or pulling.
 * Removed with removeNodeImages.
 */
export async function runDerivedNodeImages(tag: string, from: string, script: string, nodes: readonly string[]): Promise<void> {
  await Promise.all(
    nodes.map(async (node) => {
      const made = await onCluster(
        node,
        ['sh', '-c', 'set -e; c=$(docker create --pull=never --network=none --user=0 "$1" sh -c "$3"); trap \'docker rm "$c" >/dev/null\' EXIT; docker start -a "$c"; docker commit "$c" "$2" >/dev/null', 'sh', from, tag, script],
        { user: 'root', timeoutMs: 120_000 },
      );
      if (made.exitCode !== 0) throw new Error(`${node}: deriving ${tag} from ${from} failed: ${made.all}`);
    }),
  );
}

export async function removeNodeImages(tags: readonly string[]): Promise<void> {
  await Promise.all(NODES.map((node) => onCluster(node, ['docker', 'rmi', '-f', ...tags], { user: 'root', timeoutMs: 60_000 })));
}
