import { createHash } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import type { ContainerFiles } from '../docker/client.js';
import { LaunchError } from '../platform/errors.js';
import { DROPBEAR_SHA256 } from './dropbear-build.js';

/**
 * The built-in ssh: one static (musl) Dropbear multi-call binary, built by scripts/build-dropbear.sh
 * and shipped in dist/ beside the build. The bytes checked here are written into each created
 * container, at a path no image has, so it runs in any image with a shell (no glibc, no bash needed)
 * and never hides one of the image's own directories. Not a bind mount: on a cluster the package is
 * in the user's home, which a root daemon may not reach (NFS with root_squash).
 */
export const BUILTIN_DIR = '/.srun-docker/ssh';
export const BUILTIN_BINARY = `${BUILTIN_DIR}/dropbearmulti`;

/** Set by scripts/bundle.mjs: the single-file build looks for the binary next to itself. */
declare const SRUN_DOCKER_BUNDLED: boolean | undefined;

/** The binary on this host: beside dist/srun-docker.cjs (the single-file build, the package), or dist/ of a checkout. */
export function dropbearHostPath(): string {
  const bundled = typeof SRUN_DOCKER_BUNDLED !== 'undefined' && SRUN_DOCKER_BUNDLED;
  return fileURLToPath(new URL(bundled ? 'dropbearmulti' : '../../dist/dropbearmulti', import.meta.url));
}

/** The checked binary, as the files putFiles writes at the container's root. */
export function builtinFiles(binary: Buffer): ContainerFiles {
  return {
    dir: '/',
    files: [
      { name: '.srun-docker/', mode: 0o755, directory: true },
      { name: '.srun-docker/ssh/', mode: 0o755, directory: true },
      { name: BUILTIN_BINARY.slice(1), mode: 0o755, content: binary },
    ],
  };
}

/**
 * Checks the binary is the one this srun-docker was built with, before any container runs it: a
 * wrong or damaged file would run as the job's user in every container.
 */
export async function verifyDropbear(path: string, read: (path: string) => Promise<Buffer | undefined>): Promise<Buffer> {
  const bytes = await read(path);
  if (bytes === undefined) {
    throw new LaunchError(
      `the built-in ssh ${path} is missing — it ships beside srun-docker (npm pack carries it; with the single file, copy dist/dropbearmulti next to srun-docker.cjs), or build it with npm run build; or use an image with OpenSSH (--ssh=image)`,
    );
  }
  const sum = createHash('sha256').update(bytes).digest('hex');
  if (sum !== DROPBEAR_SHA256) {
    throw new LaunchError(`the built-in ssh ${path} is not the one this srun-docker was built with (sha256 ${sum}, expected ${DROPBEAR_SHA256}) — reinstall srun-docker, or rebuild it with npm run build`);
  }
  return bytes;
}
