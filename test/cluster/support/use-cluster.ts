import { afterAll, afterEach, beforeAll } from 'vitest';
import { assertNothingLeft } from './leftovers.js';
import { clusterAnswers } from './cluster.js';
import { bringClusterUp } from './lifecycle.js';

/**
 * Hooks for a cluster test file: the cluster must be up (the globalSetup brings it up once for
 * all files; without it this file brings it up and down itself), and after every test no
 * container is left on any node and no job directory in alice's home.
 */
export function useCluster(): void {
  let down: (() => Promise<void>) | undefined;
  beforeAll(async () => {
    if (await clusterAnswers()) return;
    down = await bringClusterUp((line) => console.log(line));
  });
  afterAll(async () => {
    await down?.();
  });
  afterEach(async () => {
    await assertNothingLeft();
  });
}
