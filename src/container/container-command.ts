import { readFileSync } from 'node:fs';

/** The single-file bundle carries the scripts inside it (scripts/bundle.mjs defines this). */
declare const SRUN_DOCKER_SCRIPTS: Record<string, string> | undefined;

/**
 * A shell program that runs as a container's main process (`src/container/NAME.sh`, shellchecked in
 * CI), without its comment lines: it travels as an argument of `sh -c`, in the container's config.
 */
export function containerScript(name: 'coordinator' | 'worker'): string {
  const bundled = typeof SRUN_DOCKER_SCRIPTS === 'undefined' ? undefined : SRUN_DOCKER_SCRIPTS[name];
  // from src/container/ (tests) and from dist/container/ (the tsc build) alike
  const text = bundled ?? readFileSync(new URL(`../../src/container/${name}.sh`, import.meta.url), 'utf8');
  return text
    .split('\n')
    .filter((line) => line.trim() !== '' && !line.trimStart().startsWith('#'))
    .join('\n');
}

/** What the coordinator's container runs: sshd beside the job (coordinator.sh says how). */
export const COORDINATOR_SCRIPT = containerScript('coordinator');

/** What a worker's container runs: sshd for as long as its input is open (worker.sh says why). */
export const WORKER_SCRIPT = containerScript('worker');

export interface ContainerCommandInput {
  /** The ssh server, as a shell command that execs it (serverCommandLine in ssh/server.ts). */
  server: string;
  sshdLog: string;
  /**
   * The coordinator's: the job's command, the file of its variables (sourced once `go` arrives), the
   * file for its exit code, and the control FIFO srun-docker writes `go NONCE` to (control-fifo.ts).
   */
  job?: { command: readonly string[]; envFile: string; exitFile: string; controlFifo: string };
}

export function containerCommand(input: ContainerCommandInput): { Entrypoint: string[]; Cmd: string[] } {
  if (input.job === undefined) {
    return { Entrypoint: ['/bin/sh', '-c', WORKER_SCRIPT, 'srun-docker-worker'], Cmd: [input.server, input.sshdLog] };
  }
  const { job } = input;
  return {
    Entrypoint: ['/bin/sh', '-c', COORDINATOR_SCRIPT, 'srun-docker-coordinator'],
    Cmd: [input.server, input.sshdLog, job.envFile, job.exitFile, job.controlFifo, ...job.command],
  };
}
