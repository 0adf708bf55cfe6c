import { hostname, userInfo } from 'node:os';
import { resolve } from 'node:path';
import yargs from 'yargs';
import { cleanupStale } from '../roles/cleanup.js';
import type { CliIo } from './cli.js';
import { createDockerodeClient } from '../docker/dockerode-client.js';
import { UsageError } from '../platform/errors.js';
import { nodeFileSystem } from '../platform/fs.js';
import { processLiveness } from '../roles/liveness.js';
import { createLogger } from '../platform/log.js';
import { ORIGINAL_SSHD_PORT } from '../plan/plan.js';
import { createCommandRunner } from '../platform/runner.js';
import { parseShellArgs, runShell, SHELL_USAGE } from './shell.js';
import { firstSignal } from '../platform/signals.js';
import { sshSetup } from '../ssh/setup.js';
import { processTerminal } from '../platform/terminal.js';

/** `srun-docker ssh-setup`: the original --sshconfigdir mode's directory, and the ~/.ssh/config block. */
export async function runSshSetupCommand(argv: readonly string[], env: Record<string, string | undefined>, io: CliIo): Promise<number> {
  const home = env.HOME ?? userInfo().homedir;
  const args = await strictParser(argv, 'ssh-setup', {
    sshconfigdir: { type: 'string', default: `${home}/mpisshconfig`, describe: 'Directory to create' },
    sshdport: { type: 'number', default: ORIGINAL_SSHD_PORT, describe: 'Port the containers listen on' },
    hosts: { type: 'string', default: '*', describe: 'Host patterns of your compute nodes for the ~/.ssh/config block' },
  });
  if (args === 'help') return 0;
  const port = Number(args.sshdport);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new UsageError(`--sshdport expects 1-65535, got ${String(args.sshdport)}`);
  const dir = resolve(String(args.sshconfigdir));
  const block = await sshSetup({ sshconfigdir: dir, port, user: userInfo().username, uid: userInfo().uid, home, hosts: String(args.hosts) }, createCommandRunner(env), nodeFileSystem);
  // only the block on stdout, so that `srun-docker ssh-setup >> ~/.ssh/config` is the whole set-up
  io.stderr.write(`created ${dir}/sshd_config and a host key; add the block below to ~/.ssh/config (or run again with >> ~/.ssh/config)\n`);
  io.stdout.write(`${block}\n`);
  io.stderr.write(`then run with: srun srun-docker --sshconfigdir=${dir} --sshdport=${port} ...\n`);
  io.stderr.write('(your own key must be in ~/.ssh/authorized_keys; the default mode needs none of this)\n');
  return 0;
}

/** `srun-docker cleanup`: this user's stale containers and job directories on this node. */
export async function runCleanupCommand(argv: readonly string[], env: Record<string, string | undefined>, io: CliIo): Promise<number> {
  const args = await strictParser(argv, 'cleanup', {
    all: { type: 'boolean', default: false, describe: "Also remove containers of jobs that look alive (SLURM epilog)" },
  });
  if (args === 'help') return 0;
  const user = userInfo();
  const log = createLogger((line) => io.stderr.write(line), 'normal', 'srun-docker cleanup');
  const docker = createDockerodeClient(env, (message) => log.warn(message));
  await docker.ping();
  const result = await cleanupStale({
    docker,
    fs: nodeFileSystem,
    log,
    user: user.username,
    home: env.HOME ?? user.homedir,
    liveness: processLiveness(hostname(), process.pid, createCommandRunner(env)),
    now: Date.now,
    all: args.all === true,
    jobDirs: true,
  });
  io.stdout.write(`removed ${result.containers.length} container(s), ${result.jobDirs.length} job director(y/ies)\n`);
  return 0;
}

/** `srun-docker shell`: a shell, or a command, in a running job's container on this node (shell.ts). */
export async function runShellCommand(argv: readonly string[], env: Record<string, string | undefined>, io: CliIo): Promise<number> {
  const request = parseShellArgs(argv);
  if (request === 'help') {
    io.stdout.write(`${SHELL_HELP}\n`);
    return 0;
  }
  const signals = firstSignal();
  try {
    return await runShell(request, {
      docker: createDockerodeClient(env),
      caller: userInfo().username,
      slurmJobId: env.SLURM_JOB_ID,
      stdin: process.stdin,
      stdout: io.stdout,
      stderr: io.stderr,
      terminal: processTerminal(process.stdin, io.stdout),
      interrupted: signals.received,
    });
  } finally {
    signals.stop();
  }
}

const SHELL_HELP = `usage: ${SHELL_USAGE}

Opens a shell (bash, else sh), or runs CMD, in a running job's container on this node, as you, with
the job's variables (np, hostlist, ssh to the other nodes). On a terminal it gets one.
  JOBID[.STEP]  the job (default: $SLURM_JOB_ID, else your only job on this node)
  --node=NODE   the container of that node, where one daemon holds several
Only the job's owner can enter it. Inside an allocation:
  srun --jobid=JOBID --overlap -w node2 --pty srun-docker shell`;

type OptionSpec = Record<string, { type: 'string' | 'number' | 'boolean'; default: string | number | boolean; describe: string }>;

async function strictParser(argv: readonly string[], command: string, spec: OptionSpec): Promise<Record<string, unknown> | 'help'> {
  const parser = yargs([...argv])
    .scriptName(`srun-docker ${command}`)
    .options(spec)
    .strict()
    .help(false)
    .version(false)
    .exitProcess(false)
    .fail((message: string | undefined, error: Error | undefined) => {
      throw new UsageError(`${message ?? error?.message ?? 'bad arguments'} — see srun-docker ${command} --help`);
    });
  if (argv.includes('--help')) {
    process.stdout.write((await parser.getHelp()) + '\n');
    return 'help';
  }
  return parser.parseAsync();
}
