import { execa } from 'execa';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** The checkout; up.sh mounts it at the same path on every cluster container. */
export const PROJECT = fileURLToPath(new URL('../../../', import.meta.url)).replace(/\/$/, '');
export const CLUSTER_DIR = `${PROJECT}/test/cluster`;
export const CONTROLLER = 'slurmctl';
export const NODE_COUNT = 3;
export const NODES = Array.from({ length: NODE_COUNT }, (_, i) => `node${i + 1}`);
export const MPI_IMAGE = 'srun-docker/mpi:bookworm';
export const USER = 'alice';
export const HOME = `/home/${USER}`;
/** up.sh's state directory (the same default as test/cluster/common.sh). */
export const CLUSTER_STATE = process.env.CLUSTER_STATE ?? '/tmp/srun-docker-cluster';

/**
 * One of up.sh's cluster modes: the environment variable a run sets (its first value the default),
 * and the file up.sh records it in (a cluster brought up before up.sh recorded it has the default).
 */
function clusterMode<M extends string>(variable: string, file: string, values: readonly [M, ...M[]]) {
  const [fallback] = values;
  return {
    /** What this run asks for, as up.sh reads it. */
    requested(env: NodeJS.ProcessEnv = process.env): M {
      const mode = env[variable] ?? fallback;
      if (!(values as readonly string[]).includes(mode)) throw new Error(`${variable} must be ${values.join(' or ')}, got '${mode}'`);
      return mode as M;
    },
    /** What the cluster that is up has. */
    recorded(): M {
      let text: string;
      try {
        text = readFileSync(`${CLUSTER_STATE}/${file}`, 'utf8').trim();
      } catch {
        return fallback;
      }
      return (values as readonly string[]).includes(text) ? (text as M) : fallback;
    },
  };
}

const homeModes = clusterMode('CLUSTER_HOME', 'home-mode', ['plain', 'caching']);
const nodeNameModes = clusterMode('CLUSTER_NODENAMES', 'nodenames-mode', ['hostnames', 'aliased']);
export type HomeMode = ReturnType<typeof homeModes.recorded>;
export type NodeNamesMode = ReturnType<typeof nodeNameModes.recorded>;
/** The home a run asks for: CLUSTER_HOME (plain, the default, or caching). */
export const requestedHomeMode = homeModes.requested;
/** The home of the cluster that is up. */
export const clusterHomeMode = homeModes.recorded;
/** The node names a run asks for: CLUSTER_NODENAMES (hostnames, the default, or aliased). */
export const requestedNodeNamesMode = nodeNameModes.requested;
/** The node names of the cluster that is up. */
export const clusterNodeNamesMode = nodeNameModes.recorded;

/** SLURM's NodeName of each node under CLUSTER_NODENAMES=aliased (up.sh): resolvable nowhere. */
export const ALIASED_NODES = Array.from({ length: NODE_COUNT }, (_, i) => `sn${i + 1}`);

export interface Result {
  exitCode: number;
  stdout: string;
  stderr: string;
  /** stdout and stderr interleaved, for failure messages. */
  all: string;
  durationMs: number;
}

/**
 * Runs a command on a cluster container (`docker exec`), as alice in her home by default.
 * Bounded: a command that outlives `timeoutMs` is killed and reported as timed out.
 */
export async function onCluster(
  host: string,
  command: readonly string[],
  options: { user?: string; cwd?: string; input?: string; timeoutMs?: number } = {},
): Promise<Result> {
  const user = options.user ?? USER;
  const cwd = options.cwd ?? (user === 'root' ? '/' : `/home/${user}`);
  const timeoutMs = options.timeoutMs ?? 180_000;
  // srun and sbatch pass the environment on: srun-docker never pulls on the test cluster
  const args = ['exec', '-e', 'SRUN_DOCKER_PULL=never', ...(options.input === undefined ? [] : ['-i']), '-u', user, '-w', cwd, host, ...command];
  const started = Date.now();
  const result = await execa('docker', args, {
    reject: false,
    all: true,
    timeout: timeoutMs,
    ...(options.input === undefined ? { stdin: 'ignore' as const } : { input: options.input }),
  });
  if (result.timedOut) {
    throw new Error(`Command timed out after ${timeoutMs} milliseconds: docker ${args.join(' ')}\n${result.all ?? ''}`);
  }
  return {
    exitCode: result.exitCode ?? -1,
    stdout: result.stdout ?? '',
    stderr: result.stderr ?? '',
    all: result.all ?? '',
    durationMs: Date.now() - started,
  };
}

/** A command as alice on the controller, e.g. `asAlice(['srun', '-N3', 'hostname'])`. */
export function asAlice(command: readonly string[], options: { input?: string; timeoutMs?: number } = {}): Promise<Result> {
  return onCluster(CONTROLLER, command, options);
}

/** Like asAlice, but throws with the output unless the command exits 0. */
export async function asAliceOk(command: readonly string[], options: { input?: string; timeoutMs?: number } = {}): Promise<Result> {
  const result = await asAlice(command, options);
  if (result.exitCode !== 0) throw new Error(`exit ${result.exitCode}: ${command.join(' ')}\n${result.all}`);
  return result;
}

/** Writes a file in alice's (shared) home, so every node and container sees it. */
export async function writeAliceFile(path: string, content: string, mode = '0755'): Promise<string> {
  const full = path.startsWith('/') ? path : `${HOME}/${path}`;
  await asAliceOk(['sh', '-c', 'mkdir -p "$(dirname "$1")" && cat >"$1" && chmod "$2" "$1"', 'sh', full, mode], { input: content });
  return full;
}

/** Whether a cluster answers: the controller runs and sinfo lists at least NODE_COUNT nodes. */
export async function clusterAnswers(): Promise<boolean> {
  const running = await execa('docker', ['inspect', '-f', '{{.State.Running}}', CONTROLLER], { reject: false, timeout: 30_000 });
  if (running.stdout?.trim() !== 'true') return false;
  const sinfo = await onCluster(CONTROLLER, ['sinfo', '-h', '-N', '-o', '%N'], { user: 'root', timeoutMs: 30_000 });
  const nodes = new Set(sinfo.stdout.split('\n').map((l) => l.trim()).filter(Boolean));
  const expected = clusterNodeNamesMode() === 'aliased' ? ALIASED_NODES : NODES;
  return sinfo.exitCode === 0 && expected.every((n) => nodes.has(n));
}

/** Runs one of the test bed's shell scripts (up.sh, down.sh, ...) with its output shown live. */
export async function testbedScript(path: string, args: readonly string[], timeoutMs: number): Promise<number> {
  const started = Date.now();
  const result = await execa('bash', [path, ...args], { reject: false, timeout: timeoutMs, stdio: ['ignore', 'inherit', 'inherit'] });
  if (result.timedOut) throw new Error(`Command timed out after ${timeoutMs} milliseconds: bash ${path} ${args.join(' ')}`);
  if (result.exitCode !== 0) throw new Error(`bash ${path} ${args.join(' ')} failed with exit code ${result.exitCode}`);
  return Date.now() - started;
}
