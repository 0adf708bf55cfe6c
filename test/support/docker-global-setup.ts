import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { cacheRoot } from '../../src/plan/jobdir.js';
import { cacheDirFor } from '../../src/platform/code-cache.js';
import { testUser } from './cli.js';

/**
 * vitest globalSetup of the "docker" project: the test user's runs of bin/srun-docker leave the
 * build's code cache and the node cache (image facts, the daemon's limits) in the node-local temp
 * directory, as a user's runs do; the tests remove both.
 */
export default function setup(): () => void {
  const dir = cacheDirFor({}, testUser().uid); // the default place: the tests' runs set no SRUN_DOCKER_CODE_CACHE
  return () => {
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
    rmSync(cacheRoot(tmpdir(), testUser().uid), { recursive: true, force: true });
  };
}
