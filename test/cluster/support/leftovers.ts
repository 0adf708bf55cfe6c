import { CONTROLLER, HOME, NODES, onCluster } from './cluster.js';

const JOBS_DIR = `${HOME}/.srun-docker/jobs`;

/**
 * Fails when a container is left on any node or a job directory in alice's home. It removes what
 * it found first, so one leaking test does not make every later one fail too.
 */
export async function assertNothingLeft(): Promise<void> {
  const problems: string[] = [];
  await Promise.all(
    NODES.map(async (node) => {
      const ps = await onCluster(node, ['docker', 'ps', '-a', '--format', '{{.ID}} {{.Names}} {{.Status}}'], { user: 'root', timeoutMs: 30_000 });
      if (ps.exitCode !== 0) {
        problems.push(`${node}: docker ps failed: ${ps.all.trim()}`);
        return;
      }
      const lines = ps.stdout.split('\n').filter((l) => l.trim() !== '');
      if (lines.length === 0) return;
      problems.push(`${node}: containers left: ${lines.join('; ')}`);
      const ids = lines.map((l) => l.split(' ')[0] ?? '').filter(Boolean);
      await onCluster(node, ['docker', 'rm', '-f', '-v', ...ids], { user: 'root', timeoutMs: 60_000 });
    }),
  );
  const jobs = await onCluster(CONTROLLER, ['sh', '-c', `ls -A ${JOBS_DIR} 2>/dev/null || true`], { timeoutMs: 30_000 });
  const dirs = jobs.stdout.split('\n').filter((l) => l.trim() !== '');
  if (dirs.length > 0) {
    problems.push(`job directories left in ${JOBS_DIR}: ${dirs.join(', ')}`);
    await onCluster(CONTROLLER, ['sh', '-c', `rm -rf ${JOBS_DIR}/*`], { timeoutMs: 30_000 });
  }
  if (problems.length > 0) throw new Error(`left behind after the test (now removed):\n  ${problems.join('\n  ')}`);
}
