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

export const execaRunner: CommandRunner = {
  async run(file, args, options = {}) {
    // loaded on first use: most runs spawn nothing (or only nvidia-smi), and every node pays the load
    const { execa } = await import('execa');
    const result = await execa(file, args, {
      reject: false,
      timeout: options.timeoutMs,
      input: options.input,
      cancelSignal: options.signal,
      stdin: options.input === undefined ? 'ignore' : 'pipe',
      // a job's environment must not leak into helper commands like ssh
      env: { LC_ALL: 'C' },
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
