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
