import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { testUser } from './cli.js';

/**
 * vitest globalSetup of the "docker" project: the test user's runs of bin/srun-docker leave the
 * build's code cache in the node-local temp directory (as a user's runs do); the tests remove it.
 */
export default function setup(): () => void {
  return () => rmSync(join(tmpdir(), `srun-docker-code-cache-${testUser().uid}`), { recursive: true, force: true });
}
