import { setTimeout as sleep } from 'node:timers/promises';
import { asAlice, asAliceOk, HOME, NODES, onCluster, type Result } from './cluster.js';
import { waitUntil } from './jobs.js';

/** Helpers for the fault-injection and security tests: what runs where, and how long until clean. */

export const JOBS_DIR = `${HOME}/.srun-docker/jobs`;

export interface NodeContainer {
  id: string;
  name: string;
}

/** The containers on one node (all of them: srun-docker's and anything else). */
export async function containersOn(node: string): Promise<NodeContainer[]> {
  const ps = await onCluster(node, ['docker', 'ps', '-a', '--format', '{{.ID}} {{.Names}}'], { user: 'root', timeoutMs: 30_000 });
  if (ps.exitCode !== 0) throw new Error(`${node}: docker ps failed: ${ps.all}`);
  return ps.stdout
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => {
      const [id = '', name = ''] = l.trim().split(' ');
      return { id, name };
    });
}

export async function containersPerNode(nodes: readonly string[] = NODES): Promise<number[]> {
  return Promise.all(nodes.map(async (node) => (await containersOn(node)).length));
}

/** Entries of alice's job directory root (~/.srun-docker/jobs). */
export async function jobDirs(): Promise<string[]> {
  const ls = await asAlice(['sh', '-c', `ls -A ${JOBS_DIR} 2>/dev/null || true`], { timeoutMs: 30_000 });
  return ls.stdout.split('\n').filter((l) => l.trim() !== '');
}

/** Clean = no container on any node and no job directory. */
export async function isClean(nodes: readonly string[] = NODES): Promise<boolean> {
  const [counts, dirs] = await Promise.all([containersPerNode(nodes), jobDirs()]);
  return counts.every((n) => n === 0) && dirs.length === 0;
}

/** Milliseconds from `since` until everything is clean (polled every 250 ms); throws after timeoutMs. */
export async function msUntilClean(since: number, timeoutMs: number, nodes: readonly string[] = NODES): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await isClean(nodes)) return Date.now() - since;
    if (Date.now() > deadline) {
      throw new Error(`not clean ${timeoutMs / 1000} s after the fault: containers ${JSON.stringify(await containersPerNode(nodes))}, job dirs ${JSON.stringify(await jobDirs())}`);
    }
    await sleep(250);
  }
}

/** Milliseconds from `since` until `node` has no container left; throws after timeoutMs. */
export async function msUntilNoContainer(node: string, since: number, timeoutMs: number): Promise<number> {
  await waitUntil(`no container on ${node}`, timeoutMs, async () => ((await containersOn(node)).length === 0 ? true : undefined));
  return Date.now() - since;
}

/** Waits until every given node runs exactly `perNode` containers. */
export async function waitForContainers(what: string, timeoutMs: number, perNode = 1, nodes: readonly string[] = NODES): Promise<void> {
  await waitUntil(what, timeoutMs, async () => ((await containersPerNode(nodes)).every((n) => n === perNode) ? true : undefined));
}

/** The id of alice's job with this name, once squeue shows it RUNNING. */
export async function runningJobId(name: string, timeoutMs = 60_000): Promise<string> {
  return waitUntil(`job ${name} running`, timeoutMs, async () => {
    const q = await asAlice(['squeue', '-h', '-u', 'alice', '-n', name, '-t', 'RUNNING', '-o', '%i'], { timeoutMs: 30_000 });
    return q.stdout.trim().split('\n')[0]?.trim() || undefined;
  });
}

/** JobState and ExitCode from `scontrol show job` (there is no accounting, so no sacct). */
export async function jobState(id: string): Promise<{ state: string; exitCode: string }> {
  const show = await asAlice(['scontrol', 'show', 'job', '-o', id], { timeoutMs: 30_000 });
  return { state: /JobState=(\S+)/.exec(show.stdout)?.[1] ?? '?', exitCode: /ExitCode=(\S+)/.exec(show.stdout)?.[1] ?? '?' };
}

/** A unique job name per test, so squeue finds exactly our job. */
export function jobName(what: string): string {
  return `${what}-${process.pid}-${Date.now() % 100_000}`;
}

/** `ps` of every process on a cluster container, full width, as root: `PID USER ARGS` lines. */
export async function processes(host: string): Promise<Array<{ pid: number; user: string; args: string }>> {
  const ps = await onCluster(host, ['ps', '-eww', '-o', 'pid=,user:20=,args='], { user: 'root', timeoutMs: 30_000 });
  return ps.stdout
    .split('\n')
    .map((l) => /^\s*(\d+)\s+(\S+)\s+(.*)$/.exec(l))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ pid: Number(m[1]), user: m[2] ?? '', args: m[3] ?? '' }));
}

/**
 * Holds a TCP port on a node (a node.js listener, run as `user`, that accepts connections and says
 * nothing on them, and ends itself after `maxSeconds`); returns a function that stops it, by its PID.
 */
export async function occupyPort(node: string, port: number, maxSeconds = 120, user = 'root'): Promise<() => Promise<void>> {
  const js = `require('net').createServer().listen(${port}, '0.0.0.0'); setTimeout(() => process.exit(0), ${maxSeconds * 1000});`;
  const started = await onCluster(node, ['sh', '-c', 'node -e "$1" </dev/null >/dev/null 2>&1 & echo $!', 'sh', js], { user, cwd: '/', timeoutMs: 30_000 });
  const pid = Number(started.stdout.trim());
  if (!Number.isInteger(pid) || pid <= 1) throw new Error(`could not start a listener on ${node}:${port}: ${started.all}`);
  await waitUntil(`${node} listening on ${port}`, 15_000, async () => ((await portListening(node, port)) ? true : undefined));
  return async () => {
    await onCluster(node, ['kill', String(pid)], { user: 'root', timeoutMs: 30_000 });
    await waitUntil(`${node} port ${port} free again`, 15_000, async () => ((await portListening(node, port)) ? undefined : true));
  };
}

async function portListening(node: string, port: number): Promise<boolean> {
  const ss = await onCluster(node, ['ss', '-Hltn', `sport = :${port}`], { user: 'root', timeoutMs: 30_000 });
  return ss.stdout.trim() !== '';
}

const DOCKERD = '/usr/sbin/dockerd';

/**
 * Stops the inner dockerd of a node (the one entrypoint.sh started), by its PID, and waits until it
 * is gone (slurmd, its parent, does not reap it: a zombie counts as gone). Returns its command line,
 * for startDockerd.
 */
export async function stopDockerd(node: string): Promise<string[]> {
  const daemon = (await processes(node)).find((p) => p.args.startsWith(`${DOCKERD} `));
  if (daemon === undefined) throw new Error(`no ${DOCKERD} running on ${node}`);
  const cmdline = await onCluster(node, ['cat', `/proc/${daemon.pid}/cmdline`], { user: 'root', timeoutMs: 30_000 });
  const argv = cmdline.stdout.split('\0').filter((a) => a !== '');
  await onCluster(node, ['kill', '-TERM', String(daemon.pid)], { user: 'root', timeoutMs: 30_000 });
  await waitUntil(`dockerd ${daemon.pid} on ${node} to stop`, 30_000, async () => {
    const stat = await onCluster(node, ['ps', '-o', 'stat=', '-p', String(daemon.pid)], { user: 'root', timeoutMs: 30_000 });
    return stat.stdout.trim() === '' || stat.stdout.trim().startsWith('Z') ? true : undefined;
  });
  const info = await onCluster(node, ['docker', 'info'], { user: 'root', timeoutMs: 30_000 });
  if (info.exitCode === 0) throw new Error(`docker on ${node} still answers after stopping dockerd ${daemon.pid}`);
  return argv;
}

/** Starts a node's inner dockerd again with the same command line (and log) as entrypoint.sh; bounded wait. */
export async function startDockerd(node: string, argv: readonly string[]): Promise<void> {
  const command = argv.length > 0 ? argv : [DOCKERD];
  await onCluster(node, ['sh', '-c', 'exec "$@" </dev/null >>/var/log/dockerd.log 2>&1 &', 'sh', ...command], { user: 'root', timeoutMs: 30_000 });
  await waitUntil(`docker on ${node} to answer again`, 60_000, async () =>
    (await onCluster(node, ['docker', 'info'], { user: 'root', timeoutMs: 30_000 })).exitCode === 0 ? true : undefined,
  );
}

/** Lines of srun-docker's own errors (`srun-docker: error: ...`, or `srun-docker[node2 worker]: error: ...`). */
export function errorLines(output: string): string[] {
  return output.split('\n').filter((l) => /^srun-docker(\[[^\]]+\])?: error:/.test(l));
}

/** Runs `srun ...` as alice in the background; the promise settles when srun exits. */
export function srunInBackground(args: readonly string[], timeoutMs = 240_000): Promise<Result> {
  const running = asAlice(['srun', ...args], { timeoutMs });
  running.catch(() => undefined); // awaited by the test; never an unhandled rejection meanwhile
  return running;
}

/** scancel as alice. */
export async function scancel(id: string): Promise<void> {
  await asAliceOk(['scancel', id]);
}
