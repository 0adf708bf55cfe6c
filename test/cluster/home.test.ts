import { describe, expect, it } from 'vitest';
import { clusterHomeMode, HOME, onCluster, writeAliceFile } from './support/cluster.js';
import { srunDocker, WORK } from './support/jobs.js';
import { useCluster } from './support/use-cluster.js';

useCluster();

/**
 * The caching home (CLUSTER_HOME=caching) behaves like an NFS client's lookup cache: what the
 * cluster tests on it stand on. up.sh's verify step checks the first second of it on every bring-up;
 * this measures the whole lifetime of a negative entry.
 */
const mode = clusterHomeMode();
const why = mode === 'caching' ? '' : ` (skipped: this cluster has the ${mode} home; CLUSTER_HOME=caching runs it)`;
if (why !== '') console.log(`[home] the caching home's own tests${why}`);

describe.skipIf(mode !== 'caching')(`the caching home: lookups cached 30 s per host${why}`, () => {
  it('a name node2 looked up before node1 made it stays missing on node2 for ~30 s; open() sees new data at once', async () => {
    const name = `${HOME}/.home-test-${process.pid}`;
    const data = `${HOME}/.home-data-${process.pid}`;
    const alice = (node: string, script: string, ...args: string[]) => onCluster(node, ['sh', '-c', script, 'sh', ...args], { timeoutMs: 30_000 });
    try {
      await alice('node1', 'echo old >"$1"', data);
      expect((await alice('node2', 'cat "$1"', data)).stdout).toBe('old');
      expect((await alice('node2', 'test -e "$1"', name)).exitCode).toBe(1);
      const made = Date.now();
      await alice('node1', 'echo created >"$1"; echo "new, and longer than before" >"$2"', name, data);
      // close-to-open: the rewritten file (another size) reads whole and new on node2 at once
      expect((await alice('node2', 'cat "$1"', data)).stdout).toBe('new, and longer than before');
      // node3 never looked the name up: it sees it at once
      expect((await alice('node3', 'test -e "$1"', name)).exitCode).toBe(0);
      // node2's listing is not cached: the name is there, while a lookup still says it is not
      expect((await alice('node2', 'ls -a "$1"', HOME)).stdout.split('\n')).toContain(name.slice(HOME.length + 1));
      let seenMs = 0;
      for (;;) {
        const probe = await alice('node2', 'test -e "$1"', name);
        seenMs = Date.now() - made;
        if (probe.exitCode === 0 || seenMs > 45_000) break;
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
      console.log(`[home] a negative lookup on node2 lasted ${(seenMs / 1000).toFixed(1)} s after node1 made the name`);
      expect(seenMs).toBeGreaterThan(25_000);
      expect(seenMs).toBeLessThan(40_000);
    } finally {
      await alice('node1', 'rm -f "$1" "$2"', name, data);
    }
  });

  it("a script node2 still holds as missing while the coordinator finds it: the job runs on both nodes", async () => {
    const script = `${WORK}/late-on-node2-${process.pid}.sh`;
    const alice = (node: string, check: string) => onCluster(node, ['sh', '-c', check, 'sh', script], { timeoutMs: 30_000 });
    try {
      // node2 looks before it is there (a run with a mistyped name, say): its home keeps the miss 30 s
      expect((await alice('node2', 'test -e "$1"')).exitCode).toBe(1);
      await writeAliceFile(script, '#!/bin/bash\nmpirun -H "$hostlist" -np "$np" bash -c \'echo "rank on $(hostname)"\'\n');
      expect((await alice('node2', 'test -e "$1"')).exitCode, 'node2 still caches the miss').toBe(1);
      const run = await srunDocker(['-N2', '-w', 'node1,node2'], [`--script=${script}`, '--timeout=120', '--verbose'], 120_000);
      expect(run.exitCode, run.all).toBe(0);
      expect(run.stdout.split('\n').filter((l) => l.startsWith('rank on ')).sort()).toEqual(['rank on node1', 'rank on node2']);
      expect(run.stderr).toContain(`srun-docker[node2 worker]: ${script} is not there on this node, but the coordinator found it: going on`);
    } finally {
      await alice('node1', 'rm -f "$1"');
    }
  });

  it('milder than NFSv4: a flock held on node1 does not exclude node2 (each host locks its own view)', async () => {
    const lock = `${HOME}/.home-lock-${process.pid}`;
    try {
      await onCluster('node1', ['touch', lock], { timeoutMs: 30_000 });
      const held = onCluster('node1', ['flock', lock, 'sleep', '4'], { timeoutMs: 30_000 });
      await new Promise((resolve) => setTimeout(resolve, 1000));
      const other = await onCluster('node2', ['flock', '-n', lock, 'true'], { timeoutMs: 30_000 });
      const same = await onCluster('node1', ['flock', '-n', lock, 'true'], { timeoutMs: 30_000 });
      await held;
      console.log(`[home] flock -n while node1 holds it: node1 exit ${same.exitCode}, node2 exit ${other.exitCode}`);
      expect(same.exitCode, 'on node1 itself the lock excludes').toBe(1);
      expect(other.exitCode, 'node2 gets the lock node1 holds').toBe(0);
    } finally {
      await onCluster('node1', ['rm', '-f', lock], { timeoutMs: 30_000 });
    }
  });
});
