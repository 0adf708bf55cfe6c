/** What a finished command left behind. A non-zero exit is a result, not an exception. */
export interface CommandResult {
  exitCode: number;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

export interface RunCommandOptions {
  timeoutMs?: number;
  input?: string;
  signal?: AbortSignal;
}

/** Runs ssh, ssh-keygen, getent, nvidia-smi. Tests pass fixture scripts or fakes. */
export interface CommandRunner {
  run(file: string, args: readonly string[], options?: RunCommandOptions): Promise<CommandResult>;
}

/** exit code used when the program could not be started at all (as a shell would). */
export const NOT_FOUND_EXIT = 127;

/** Every helper gets these (the locale ones are overridden by LC_ALL=C, but a helper's own children may read them). */
const COMMON = ['PATH', 'HOME', 'LANG', 'TZ'];
/** And each what it needs of the caller's: ssh the agent, Kerberos' ticket cache and its own user name. */
const PER_PROGRAM: Readonly<Record<string, readonly string[]>> = {
  ssh: ['SSH_AUTH_SOCK', 'KRB5CCNAME', 'USER', 'LOGNAME'],
  // which cluster and how to reach its controller (a site's own slurm.conf path, a configless set-up)
  scontrol: ['SLURM_CONF', 'SLURM_CLUSTERS'],
};

/**
 * The environment a helper command runs with: only what it needs of the caller's, never the rest (a
 * job's environment holds tokens and keys that getent, nvidia-smi or ssh have no business seeing).
 * Output is parsed, so the messages are C locale's.
 */
export function helperEnv(file: string, env: Record<string, string | undefined>): Record<string, string> {
  const program = file.split('/').pop() ?? file;
  const names = [...COMMON, ...(PER_PROGRAM[program] ?? [])];
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(env)) {
    if (value !== undefined && (names.includes(name) || name.startsWith('LC_'))) out[name] = value;
  }
  return { ...out, LC_ALL: 'C' };
}

/** The real runner over execa, with the caller's environment (read at the edge) filtered per command. */
export function createCommandRunner(env: Record<string, string | undefined>): CommandRunner {
  return {
    async run(file, args, options = {}) {
      // loaded on first use: most runs spawn nothing (or only nvidia-smi), and every node pays the load
      const { execa } = await import('execa');
      const result = await execa(file, args, {
        reject: false,
        timeout: options.timeoutMs,
        input: options.input,
        cancelSignal: options.signal,
        stdin: options.input === undefined ? 'ignore' : 'pipe',
        env: helperEnv(file, env),
        extendEnv: false,
      });
      const spawnFailed = result.exitCode === undefined;
      return {
        exitCode: spawnFailed ? NOT_FOUND_EXIT : result.exitCode ?? 1,
        stdout: String(result.stdout ?? ''),
        stderr: spawnFailed ? (result.shortMessage ?? String(result.stderr ?? '')) : String(result.stderr ?? ''),
        timedOut: result.timedOut,
      };
    },
  };
}
