import { execa } from 'execa';
import { NODES, onCluster } from './cluster.js';

/**
 * Job images that only some test files need are loaded into the nodes' inner daemons by those files
 * (up.sh loads CLUSTER_IMAGES, the mpi image, for every run): `docker save | docker load`, on the
 * nodes (every node unless told) that do not have the image yet, all at once.
 */
export async function ensureNodeImages(images: readonly string[], nodes: readonly string[] = NODES): Promise<void> {
  await Promise.all(
    nodes.map(async (node) => {
      for (const image of images) {
        const has = await onCluster(node, ['docker', 'image', 'inspect', image], { user: 'root', timeoutMs: 30_000 });
        if (has.exitCode === 0) continue;
        const load = await execa('bash', ['-c', 'set -o pipefail; docker save "$1" | docker exec -i "$2" docker load -q', 'bash', image, node], { reject: false, all: true, timeout: 480_000 });
        if (load.exitCode !== 0) throw new Error(`${node}: loading ${image} failed: ${load.all ?? ''}`);
      }
    }),
  );
}

/**
 * An image made on nodes (every node unless told) from one they have, without building or pulling
 * (`--pull=never`): docker commit of a container of it, with Dockerfile-style changes (`ENV A=1`),
 * and with `run` first run in it (sh, as root, with no network), as a Dockerfile's RUN would.
 * Removed with removeNodeImages.
 */
export async function deriveNodeImages(
  tag: string,
  from: string,
  how: { changes?: readonly string[]; run?: string; nodes?: readonly string[] },
): Promise<void> {
  const nodes = how.nodes ?? NODES;
  await ensureNodeImages([from], nodes);
  const script = [
    'set -e',
    // a container that only exists to be committed runs `true`, and is never started
    'if [ -n "$3" ]; then c=$(docker create --pull=never --network=none --user=0 "$1" sh -c "$3"); else c=$(docker create --pull=never "$1" true); fi',
    'trap \'docker rm "$c" >/dev/null\' EXIT',
    'if [ -n "$3" ]; then docker start -a "$c"; fi',
    'tag=$2; shift 3; docker commit "$@" "$c" "$tag" >/dev/null',
  ].join('\n');
  await Promise.all(
    nodes.map(async (node) => {
      const changes = (how.changes ?? []).flatMap((c) => ['--change', c]);
      const made = await onCluster(node, ['sh', '-c', script, 'sh', from, tag, how.run ?? '', ...changes], { user: 'root', timeoutMs: 120_000 });
      if (made.exitCode !== 0) throw new Error(`${node}: deriving ${tag} from ${from} failed: ${made.all}`);
    }),
  );
}

export async function removeNodeImages(tags: readonly string[]): Promise<void> {
  await Promise.all(NODES.map((node) => onCluster(node, ['docker', 'rmi', '-f', ...tags], { user: 'root', timeoutMs: 60_000 })));
}
