import { createHash } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import type { ContainerFiles } from '../docker/client.js';
import { LaunchError } from '../platform/errors.js';
import { DROPBEAR_SHA256 } from './dropbear-build.js';

/**
 * The built-in ssh: one static (musl) Dropbear multi-call binary, built by scripts/build-dropbear.sh
 * and shipped in dist/ beside the build. It is mounted read-only, as a file, at a path no image has,
 * so it runs in any image with a shell (no glibc, no bash needed) and never hides one of the image's
 * own directories. Where the daemon cannot mount it (the package in a home on NFS with root_squash),
 * the bytes checked here are written into each created container instead (container.ts).
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

/** Read-only bind of the binary file itself (its directory on the host is never mounted). */
export function builtinBind(hostPath: string): string {
  return `${hostPath}:${BUILTIN_BINARY}:ro`;
}

/** The checked binary, as the files putFiles writes at the container's root (where the daemon cannot mount it). */
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
