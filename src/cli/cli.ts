import { readFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { configPath, readConfigFile } from './config-file.js';
import { LaunchError, UsageError } from '../platform/errors.js';
import { parseRunArgs } from './options.js';
import { runJob } from './run.js';
import { runCleanupCommand, runShellCommand, runSshSetupCommand } from './subcommands.js';

export interface CliIo {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
}

/**
 * The edge: argv and the environment come in here and nowhere else; typed errors become one line and
 * an exit code (2 usage, 1 launch failure, the script's own code when it ran).
 */
export async function main(
  argv: readonly string[],
  env: Record<string, string | undefined>,
  io: CliIo = { stdout: process.stdout, stderr: process.stderr },
): Promise<number> {
  const code = await dispatch(argv, env, io).catch((error: unknown) => {
    const where = error instanceof UsageError || error instanceof LaunchError ? error.where : undefined;
    io.stderr.write(`srun-docker${where ? `[${where}]` : ''}: error: ${errorLine(error)}\n`);
    return exitCodeOf(error);
  });
  process.exitCode = code;
  return code;
}

async function dispatch(argv: readonly string[], env: Record<string, string | undefined>, io: CliIo): Promise<number> {
  const [first, ...rest] = argv;
  if (first === 'ssh-setup') return runSshSetupCommand(rest, env, io);
  if (first === 'cleanup') return runCleanupCommand(rest, env, io);
  if (first === 'shell') return runShellCommand(rest, env, io);
  if (first === 'run') return dispatch(rest, env, io);
  const home = env.HOME ?? userInfo().homedir;
  const parsed = await parseRunArgs(argv, env, await readConfigFile(configPath(env, home)));
  if (parsed.kind === 'help') {
    io.stdout.write(parsed.text + '\n');
    return 0;
  }
  if (parsed.kind === 'version') {
    io.stdout.write(`${packageVersion()}\n`);
    return 0;
  }
  return runJob(parsed.options, env, io);
}

/** How long the process may stay up once main is over before it ends anyway (endWhenStuck). */
export const LINGER_MS = 5_000;

/**
 * After main: the process ends by itself once nothing is open. If something still is LINGER_MS
 * later (a connection the daemon never closed), it ends anyway and says so: under srun a process
 * that outlives its job holds the step, and the allocation, until someone cancels it.
 */
export function endWhenStuck(
  code: number,
  effects: { stderr: NodeJS.WritableStream; exit: (code: number) => void; later: (run: () => void, ms: number) => { unref(): unknown } } = {
    stderr: process.stderr,
    exit: (c) => process.exit(c),
    later: (run, ms) => setTimeout(run, ms),
  },
): void {
  // unref'd: it never keeps the process up itself, and runs only while something else does
  effects
    .later(() => {
      effects.stderr.write(`srun-docker: warning: still running ${LINGER_MS / 1000} s after the end (something it opened was not closed: please report it); exiting with ${code}\n`);
      effects.exit(code);
    }, LINGER_MS)
    .unref();
}

function errorLine(error: unknown): string {
  if (error instanceof UsageError || error instanceof LaunchError) return error.message;
  if (error instanceof Error) return `${error.message} (unexpected; please report it with the command you ran)`;
  return String(error);
}

function exitCodeOf(error: unknown): number {
  if (error instanceof UsageError || error instanceof LaunchError) return error.exitCode;
  return 1;
}

/** The single-file bundle has no package.json beside it (scripts/bundle.mjs defines this). */
declare const SRUN_DOCKER_VERSION: string | undefined;

export function packageVersion(): string {
  if (typeof SRUN_DOCKER_VERSION !== 'undefined') return SRUN_DOCKER_VERSION;
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}
