import { join } from 'node:path';
import type { ContainerFacts, DockerClient } from '../docker/client.js';
import { UsageError } from '../platform/errors.js';
import { LABELS } from '../plan/labels.js';
import { signalExitCode } from '../platform/signals.js';
import type { Terminal } from '../platform/terminal.js';

/** `srun-docker shell [JOBID[.STEP]] [--node=NODE] [-- CMD...]`, parsed. */
export interface ShellRequest {
  jobId?: string;
  stepId?: string;
  node?: string;
  /** Empty: a login-like shell (bash where the image has it, else sh). */
  command: string[];
}

export const SHELL_USAGE = 'srun-docker shell [JOBID[.STEP]] [--node=NODE] [-- CMD...]';

/** Pure: the arguments of `srun-docker shell`. 'help' for --help. */
export function parseShellArgs(argv: readonly string[]): ShellRequest | 'help' {
  const request: ShellRequest = { command: [] };
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i] ?? '';
    if (arg === '--') {
      request.command = argv.slice(i + 1);
      break;
    }
    if (arg === '--help' || arg === '-h') return 'help';
    if (arg.startsWith('--node=')) {
      const node = arg.slice('--node='.length);
      if (node === '') throw new UsageError(`--node expects a node name, got nothing — usage: ${SHELL_USAGE}`);
      request.node = node;
    } else if (arg === '--node') {
      const node = argv[i + 1];
      if (node === undefined || node.startsWith('-')) throw new UsageError(`--node expects a node name — usage: ${SHELL_USAGE}`);
      request.node = node;
      i += 1;
    } else if (arg.startsWith('-')) {
      throw new UsageError(`unknown option ${arg} — usage: ${SHELL_USAGE} (a command's own options go after --)`);
    } else if (request.jobId === undefined) {
      const match = /^([A-Za-z0-9_-]+)(?:\.([A-Za-z0-9_-]+))?$/.exec(arg);
      if (match === null) throw new UsageError(`"${arg}" is not a job id (JOBID or JOBID.STEP, e.g. 4242 or 4242.0) — usage: ${SHELL_USAGE}`);
      request.jobId = match[1];
      request.stepId = match[2];
    } else {
      throw new UsageError(`unexpected argument "${arg}" — usage: ${SHELL_USAGE} (put the command after --)`);
    }
  }
  return request;
}

/**
 * Pure: the one running container of this node the request names, for `caller`; a clear UsageError
 * otherwise. Without a job id: SLURM_JOB_ID's job (a step inside the allocation), else the caller's
 * only job here. Someone else's job is refused: only its owner may enter it.
 */
export function pickContainer(containers: readonly ContainerFacts[], request: ShellRequest, caller: string, slurmJobId: string | undefined): ContainerFacts {
  const jobId = request.jobId ?? slurmJobId;
  const running = containers.filter((c) => c.running && c.labels[LABELS.probe] !== 'true' && c.labels[LABELS.job] !== undefined);
  const matching = running.filter(
    (c) =>
      (jobId === undefined || c.labels[LABELS.job] === jobId) &&
      (request.stepId === undefined || c.labels[LABELS.step] === request.stepId) &&
      (request.node === undefined || c.labels[LABELS.node] === request.node),
  );
  const own = matching.filter((c) => c.labels[LABELS.user] === caller);
  const what = jobId === undefined ? 'no running srun-docker job of yours' : `no running srun-docker job ${jobId}${request.stepId === undefined ? '' : `.${request.stepId}`}`;
  const where = request.node === undefined ? 'on this node' : `for node ${request.node} on this node's Docker daemon`;
  if (own.length === 0) {
    const foreign = matching.find((c) => c.labels[LABELS.user] !== caller);
    if (foreign !== undefined && jobId !== undefined) {
      throw new UsageError(`job ${jobId} on this node belongs to ${foreign.labels[LABELS.user] ?? 'another user'}, not ${caller}: only its owner can open a shell in it`);
    }
    throw new UsageError(`${what} ${where} — check the job id (squeue --me) and the node (--node, or run it there: srun --jobid=JOBID --overlap -w NODE --pty srun-docker shell)`);
  }
  if (own.length > 1) {
    const names = own.map((c) => `${c.labels[LABELS.job] ?? '?'}.${c.labels[LABELS.step] ?? '?'} (${c.labels[LABELS.node] ?? '?'})`).join(', ');
    throw new UsageError(`several srun-docker containers of yours run here: ${names} — name one: ${SHELL_USAGE}`);
  }
  return own[0] as ContainerFacts;
}

/**
 * What runs in the container: the job's variables first (its job.env, where the container can read
 * it: `np`, `hostlist`, the ssh wrapper on PATH), then the command, or bash, or sh.
 */
export function shellCommand(container: ContainerFacts, command: readonly string[]): string[] {
  const jobDir = container.labels[LABELS.jobDir];
  const envFile = jobDir === undefined ? '' : join(jobDir, 'job.env');
  const script = 'f=$1; shift; [ -n "$f" ] && [ -r "$f" ] && . "$f"; [ $# -gt 0 ] && exec "$@"; command -v bash >/dev/null 2>&1 && exec bash; exec sh';
  return ['/bin/sh', '-c', script, 'srun-docker-shell', envFile, ...command];
}

export interface ShellDeps {
  docker: DockerClient;
  caller: string;
  slurmJobId: string | undefined;
  stdin: NodeJS.ReadableStream;
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  terminal: Terminal | undefined;
  /** A signal to this process (SIGTERM, a terminal hanging up): the terminal is restored, 128 + its number returned. */
  interrupted: Promise<NodeJS.Signals>;
}

/** Runs the request in the container it names; the command's exit code. */
export async function runShell(request: ShellRequest, deps: ShellDeps): Promise<number> {
  await deps.docker.ping();
  const containers = await deps.docker.listContainers([`${LABELS.managed}=true`, ...(request.jobId === undefined && deps.slurmJobId === undefined ? [`${LABELS.user}=${deps.caller}`] : [])]);
  const container = pickContainer(containers, request, deps.caller, deps.slurmJobId);
  const { terminal } = deps;
  const session = await deps.docker.exec(container.id, { command: shellCommand(container, request.command), tty: terminal !== undefined }, deps);
  const ended = Promise.race([session.exited, deps.interrupted.then(signalExitCode)]);
  if (terminal === undefined) return ended;
  const restore = terminal.raw();
  const resize = (): void => {
    const { rows, columns } = terminal.size();
    session.resize(rows, columns).catch(() => undefined);
  };
  resize();
  const unsubscribe = terminal.onResize(resize);
  try {
    return await ended;
  } finally {
    unsubscribe();
    restore();
  }
}
