import { existsSync } from 'node:fs';
import { CLUSTER_DIR, clusterAnswers, clusterHomeMode, clusterNodeNamesMode, NODE_COUNT, PROJECT, requestedHomeMode, requestedNodeNamesMode, testbedScript } from './cluster.js';

/**
 * Brings the test cluster up once (docker daemon, images, `up.sh 3`) and returns how to take it
 * down again — or nothing to do when CLUSTER_REUSE=1 found one already up (whoever started it
 * stops it). Used by the vitest globalSetup and, when that is not configured, by useCluster().
 */
export async function bringClusterUp(log: (line: string) => void): Promise<() => Promise<void>> {
  if (!existsSync(`${PROJECT}/dist/srun-docker.cjs`)) {
    throw new Error(`${PROJECT}/dist is missing: run npm run build first (npm run test:cluster does)`);
  }
  const home = requestedHomeMode();
  if (process.env.CLUSTER_REUSE === '1' && (await clusterAnswers())) {
    if (clusterHomeMode() !== home) {
      throw new Error(`CLUSTER_REUSE=1: the cluster that is up has the ${clusterHomeMode()} home, CLUSTER_HOME asks for ${home}: take it down (test/cluster/down.sh) or set CLUSTER_HOME=${clusterHomeMode()}`);
    }
    const names = requestedNodeNamesMode();
    if (clusterNodeNamesMode() !== names) {
      throw new Error(`CLUSTER_REUSE=1: the cluster that is up has ${clusterNodeNamesMode()} node names, CLUSTER_NODENAMES asks for ${names}: take it down (test/cluster/down.sh) or set CLUSTER_NODENAMES=${clusterNodeNamesMode()}`);
    }
    log(`[cluster] CLUSTER_REUSE=1: using the cluster that is already up (${home} home, ${names} node names; it stays up)`);
    return async () => undefined;
  }
  if (await clusterAnswers()) {
    throw new Error('a test cluster is already up: set CLUSTER_REUSE=1 to use it, or run test/cluster/down.sh first');
  }
  await testbedScript(`${PROJECT}/test/setup/ensure-docker.sh`, [], 120_000);
  await testbedScript(`${PROJECT}/test/images/build.sh`, [], 600_000);
  try {
    const upMs = await testbedScript(`${CLUSTER_DIR}/up.sh`, [String(NODE_COUNT)], 420_000);
    log(`[cluster] up in ${(upMs / 1000).toFixed(1)} s (${home} home, ${requestedNodeNamesMode()} node names)`);
  } catch (error) {
    await takeClusterDown(log);
    throw error;
  }
  return () => takeClusterDown(log);
}

export async function takeClusterDown(log: (line: string) => void): Promise<void> {
  const downMs = await testbedScript(`${CLUSTER_DIR}/down.sh`, [], 300_000);
  log(`[cluster] down in ${(downMs / 1000).toFixed(1)} s`);
}
