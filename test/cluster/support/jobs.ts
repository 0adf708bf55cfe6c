import { setTimeout as sleep } from 'node:timers/promises';
import { asAlice, asAliceOk, HOME, MPI_IMAGE, PROJECT, type Result } from './cluster.js';

export const EXAMPLES = `${PROJECT}/examples`;
export const ALLREDUCE_JOB = `${EXAMPLES}/mpi4py-allreduce.sh`;
/** Test-only job scripts and batch output go here (the shared home: every node sees it). */
export const WORK = `${HOME}/cluster-tests`;

/**
 * A hold job's wait (sh) for the file the test makes ($1) to release it, bounded at 120 s. The name
 * is looked for in a listing of its directory: a home that caches lookups (the caching home, NFS)
 * would keep a "no such file" from the job's first look for 30 s after the test made it.
 */
export const AWAIT_RELEASE = 'i=0; while [ $i -lt 240 ]; do ls "$(dirname "$1")" | grep -qxF "$(basename "$1")" && exit 0; sleep 0.5; i=$((i + 1)); done';

/** `srun SRUN_ARGS srun-docker --container=mpi ARGS` as alice on the controller. */
export function srunDocker(srunArgs: readonly string[], args: readonly string[], timeoutMs = 180_000): Promise<Result> {
  return asAlice(['srun', ...srunArgs, 'srun-docker', `--container=${MPI_IMAGE}`, ...args], { timeoutMs });
}

export interface AllreduceRank {
  rank: number;
  size: number;
  host: string;
  sum: number;
  expected: number;
  ok: boolean;
}

/** The `allreduce rank=...` lines examples/allreduce.py prints, one per rank. */
export function allreduceRanks(output: string): AllreduceRank[] {
  const re = /^allreduce rank=(\d+) size=(\d+) host=(\S+) sum=(\d+) expected=(\d+) ok=(True|False)$/gm;
  return [...output.matchAll(re)].map((m) => ({
    rank: Number(m[1]),
    size: Number(m[2]),
    host: m[3] ?? '',
    sum: Number(m[4]),
    expected: Number(m[5]),
    ok: m[6] === 'True',
  }));
}

/** The `job: hostlist=... np=... NNODES=... on HOST` line of examples/mpi4py-allreduce.sh. */
export function jobLine(output: string): { hostlist: string; np: number; nnodes: number; host: string } | undefined {
  const m = /^job: hostlist=(\S+) np=(\d+) NNODES=(\d+) on (\S+)$/m.exec(output);
  return m ? { hostlist: m[1] ?? '', np: Number(m[2]), nnodes: Number(m[3]), host: m[4] ?? '' } : undefined;
}

export interface BatchJob {
  id: string;
  state: string;
  /** ExitCode=code:signal of the batch script. */
  exitCode: number;
  signal: number;
  output: string;
  waitedMs: number;
}

const FINAL_STATES = new Set(['COMPLETED', 'FAILED', 'CANCELLED', 'TIMEOUT', 'NODE_FAIL', 'OUT_OF_MEMORY', 'PREEMPTED', 'BOOT_FAIL', 'DEADLINE']);

/** `sbatch --parsable -o WORK/out/%j.out SBATCH_ARGS` as alice; returns the job id. */
export async function sbatch(sbatchArgs: readonly string[]): Promise<string> {
  await asAliceOk(['mkdir', '-p', `${WORK}/out`]);
  const submitted = await asAliceOk(['sbatch', '--parsable', '-o', batchOutput('%j'), ...sbatchArgs]);
  return submitted.stdout.trim().split(';')[0] ?? '';
}

export function batchOutput(jobId: string): string {
  return `${WORK}/out/${jobId}.out`;
}

/**
 * A batch job's output so far, '' before slurmstepd made the file. Read only once its name shows in a
 * listing of its directory: a read before, on the caching home (or NFS), would leave this host a
 * "no such file" for 30 s after the file is there.
 */
export function readBatchOutput(jobId: string): Promise<string> {
  return readListed(batchOutput(jobId));
}

/** A file on the home as alice reads it on the login host, '' while its name is not in its directory's listing (see readBatchOutput). */
export async function readListed(path: string): Promise<string> {
  const read = await asAlice(['sh', '-c', 'ls "$(dirname "$1")" | grep -qxF "$(basename "$1")" && cat "$1"', 'sh', path], { timeoutMs: 30_000 });
  return read.exitCode === 0 ? read.stdout : '';
}

/** sbatch, then waitForJob. */
export async function sbatchAndWait(sbatchArgs: readonly string[], timeoutMs = 150_000): Promise<BatchJob> {
  return waitForJob(await sbatch(sbatchArgs), timeoutMs);
}

/**
 * Waits (bounded) until the job is in a final state and reads its output file. A job still
 * running at the deadline is cancelled and the test fails.
 */
export async function waitForJob(id: string, timeoutMs = 150_000): Promise<BatchJob> {
  const started = Date.now();
  let last = '';
  while (Date.now() - started < timeoutMs) {
    last = (await asAlice(['scontrol', 'show', 'job', '-o', id], { timeoutMs: 30_000 })).stdout;
    const state = /JobState=(\S+)/.exec(last)?.[1] ?? '';
    if (FINAL_STATES.has(state)) {
      const [code = '-1', signal = '0'] = (/ExitCode=(\S+)/.exec(last)?.[1] ?? '-1:0').split(':');
      return { id, state, exitCode: Number(code), signal: Number(signal), output: await readBatchOutput(id), waitedMs: Date.now() - started };
    }
    await sleep(500);
  }
  await asAlice(['scancel', id], { timeoutMs: 30_000 });
  throw new Error(`batch job ${id} did not finish within ${timeoutMs / 1000} s (cancelled it); last: ${last.trim()}`);
}

/** Polls `check` every 500 ms until it returns a value other than undefined; throws after timeoutMs. */
export async function waitUntil<T>(what: string, timeoutMs: number, check: () => Promise<T | undefined>): Promise<T> {
  const started = Date.now();
  while (Date.now() - started < timeoutMs) {
    const value = await check();
    if (value !== undefined) return value;
    await sleep(500);
  }
  throw new Error(`timed out after ${timeoutMs} milliseconds waiting for ${what}`);
}
