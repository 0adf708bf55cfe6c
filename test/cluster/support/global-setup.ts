import { bringClusterUp } from './lifecycle.js';

/**
 * vitest globalSetup of the "cluster" project: the SLURM test cluster comes up once for all
 * cluster test files and goes down at the end (CLUSTER_REUSE=1 uses one that is already up and
 * leaves it up).
 */
export default async function setup(): Promise<() => Promise<void>> {
  const log = (line: string): void => void process.stderr.write(`${line}\n`);
  return bringClusterUp(log);
}
