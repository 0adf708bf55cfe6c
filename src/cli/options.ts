import yargs from 'yargs';
import { UsageError } from '../platform/errors.js';
import { helpEpilogue, helpExamples } from './help.js';
import type { PullPolicy, RunOptions } from '../plan/run-options.js';
import { parseSshMode } from '../ssh/server.js';

export type { PullPolicy, RunOptions } from '../plan/run-options.js';

export type ParsedCommand =
  | { kind: 'run'; options: RunOptions }
  | { kind: 'help'; text: string }
  | { kind: 'version' };

export const DEFAULT_TIMEOUT_SECONDS = 300;

/** Parses the run command line. Values keep `=` and spaces; unknown --flags go to the script. */
export async function parseRunArgs(
  argv: readonly string[],
  env: Record<string, string | undefined> = {},
  fileDefaults: Record<string, unknown> = {},
): Promise<ParsedCommand> {
  const dashDash = argv.indexOf('--');
  const own = dashDash === -1 ? [...argv] : argv.slice(0, dashDash);
  const after = dashDash === -1 ? [] : argv.slice(dashDash + 1);
  const parser = buildParser(own);
  if (own.includes('--help') || own.includes('-h')) return { kind: 'help', text: await parser.getHelp() };
  if (own.includes('--version')) return { kind: 'version' };
  const parsed = await parser.parseAsync();
  return { kind: 'run', options: validate(withDefaults(parsed, env, fileDefaults), after) };
}

function buildParser(args: string[]) {
  return yargs(args)
    .scriptName('srun-docker')
    .usage('Usage: srun srun-docker --container=IMAGE --script=JOB.sh [options] [-- script args]')
    .parserConfiguration({
      'unknown-options-as-args': true,
      'camel-case-expansion': false,
      'parse-numbers': false,
      'parse-positional-numbers': false,
      'boolean-negation': false,
      'dot-notation': false,
    })
    .options({
      container: { type: 'string', describe: 'Docker image to run on every node (required)' },
      script: { type: 'string', describe: "Job script run in the coordinator's container (required)" },
      dockname: { type: 'string', describe: 'Container name (default: srun-docker-USER-JOBID.STEPID, unique per job step)' },
      datamnts: { type: 'string', describe: 'Comma-separated host dirs mounted at the same path: /data,/scratch (or src:dst[:ro])' },
      envlist: { type: 'string', describe: 'Comma-separated variables passed from your environment into the containers' },
      privileged: { type: 'boolean', describe: 'Run the containers --privileged (RDMA on some clusters)' },
      ibdevices: { type: 'boolean', describe: 'Hand /dev/infiniband and IPC_LOCK to the containers' },
      dockopts: { type: 'string', describe: 'Extra docker-run flags, e.g. "--ipc=host -e A=B -v /d:/d" (supported subset)' },
      slots_per_node: { type: 'string', describe: 'MPI slots per node (default: GPUs SLURM gave the node, else nvidia-smi, else 1)' },
      nodelist: { type: 'string', describe: "Run on this subset of the step's nodes: dgx[02-03]" },
      script_help: { type: 'boolean', describe: 'Pass --help to the script' },
      sshconfigdir: { type: 'string', describe: 'Your own sshd config dir (original mode; see srun-docker ssh-setup)' },
      sshdport: { type: 'string', describe: 'sshd port in the containers (default: derived from the job step id)' },
      timeout: { type: 'string', describe: `Seconds to wait for every node's sshd (default ${DEFAULT_TIMEOUT_SECONDS})` },
      pull: { type: 'string', describe: 'Pull the image: missing (default), never, always' },
      ssh: { type: 'string', describe: "ssh in the containers: auto (default: the image's OpenSSH if it has one, else the built-in), image, builtin" },
      timings: { type: 'boolean', describe: "Print each phase's duration" },
      'dry-run': { type: 'boolean', describe: 'Print what every node would create and run; touch no Docker' },
      json: { type: 'boolean', describe: 'With --dry-run: the plan as JSON' },
      verbose: { type: 'boolean', describe: 'More log lines' },
      quiet: { type: 'boolean', describe: "Only warnings and errors from srun-docker's own lines" },
    })
    .example(helpExamples())
    .epilogue(helpEpilogue())
    .help(false)
    .version(false)
    .exitProcess(false)
    .wrap(100)
    .fail((message: string | undefined, error: Error | undefined) => {
      throw new UsageError(`${message ?? error?.message ?? 'bad arguments'} — see srun-docker --help`);
    });
}

type Parsed = Record<string, unknown> & { _: (string | number)[] };

/** Option names that take defaults from SRUN_DOCKER_<NAME> and the config file. */
export const OPTION_NAMES = [
  'container', 'script', 'dockname', 'datamnts', 'envlist', 'privileged', 'ibdevices', 'dockopts', 'slots_per_node',
  'nodelist', 'sshconfigdir', 'sshdport', 'timeout', 'pull', 'ssh', 'timings', 'verbose', 'quiet',
] as const;

/** The command line wins over SRUN_DOCKER_* variables, which win over the config file. */
function withDefaults(parsed: Parsed, env: Record<string, string | undefined>, file: Record<string, unknown>): Parsed {
  const merged: Parsed = { ...parsed };
  for (const name of OPTION_NAMES) {
    if (merged[name] !== undefined) continue;
    const fromEnv = env[`SRUN_DOCKER_${name.toUpperCase()}`];
    const value = fromEnv !== undefined && fromEnv !== '' ? fromEnv : file[name];
    if (value === undefined) continue;
    merged[name] = typeof value === 'string' && BOOLEAN_OPTIONS.has(name) ? ['1', 'true', 'yes'].includes(value.toLowerCase()) : typeof value === 'number' ? String(value) : value;
  }
  return merged;
}

const BOOLEAN_OPTIONS = new Set<string>(['privileged', 'ibdevices', 'timings', 'verbose', 'quiet']);

function validate(parsed: Parsed, after: string[]): RunOptions {
  const container = nonEmpty(parsed.container, 'container', '--container=IMAGE (e.g. --container=ubuntu:22.04)');
  const script = nonEmpty(parsed.script, 'script', '--script=PATH to the job script');
  const scriptHelp = parsed.script_help === true;
  const scriptArgs = [...parsed._.map(String), ...after, ...(scriptHelp ? ['--help'] : [])];
  const verbose = parsed.verbose === true;
  return {
    container,
    script,
    scriptArgs,
    scriptHelp,
    dockname: optionalString(parsed.dockname),
    datamnts: commaList(parsed.datamnts),
    envlist: commaList(parsed.envlist),
    privileged: parsed.privileged === true,
    ibdevices: parsed.ibdevices === true,
    dockopts: optionalString(parsed.dockopts) ?? '',
    slotsPerNode: optionalInt(parsed.slots_per_node, 'slots_per_node', 1, 4096),
    nodelist: optionalString(parsed.nodelist),
    sshconfigdir: optionalString(parsed.sshconfigdir),
    sshdport: optionalInt(parsed.sshdport, 'sshdport', 1, 65535),
    timeoutSeconds: optionalInt(parsed.timeout, 'timeout', 1, 86_400) ?? DEFAULT_TIMEOUT_SECONDS,
    pull: pullPolicy(parsed.pull),
    ssh: parseSshMode(optionalString(parsed.ssh)),
    timings: parsed.timings === true,
    dryRun: parsed['dry-run'] === true,
    json: parsed.json === true,
    logLevel: parsed.quiet === true ? 'quiet' : verbose ? 'verbose' : 'normal',
  };
}

function nonEmpty(value: unknown, name: string, hint: string): string {
  const text = optionalString(value);
  if (text === undefined) throw new UsageError(`missing --${name}: pass ${hint}`);
  return text;
}

function optionalString(value: unknown): string | undefined {
  if (Array.isArray(value)) return optionalString(value[value.length - 1]);
  if (typeof value !== 'string' || value.trim() === '') return undefined;
  return value;
}

function commaList(value: unknown): string[] {
  return (optionalString(value) ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
}

function optionalInt(value: unknown, name: string, min: number, max: number): number | undefined {
  const text = optionalString(value);
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!/^\d+$/.test(text.trim()) || n < min || n > max) {
    throw new UsageError(`--${name} expects a whole number from ${min} to ${max}, got "${text}"`);
  }
  return n;
}

function pullPolicy(value: unknown): PullPolicy {
  const text = optionalString(value) ?? 'missing';
  if (text === 'missing' || text === 'never' || text === 'always') return text;
  throw new UsageError(`--pull expects missing, never or always, got "${text}"`);
}
