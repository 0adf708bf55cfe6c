/**
 * What the user asked for, validated (cli/options.ts parses it): the input of every plan, read by
 * the layers below the CLI, which therefore never import the CLI.
 */
export type PullPolicy = 'missing' | 'never' | 'always';

/** Which ssh a job uses: the image's OpenSSH, the built-in Dropbear, or whichever fits the image (ssh/server.ts). */
export type SshMode = 'auto' | 'image' | 'builtin';

/** Everything the user asked for, validated; no I/O has happened yet. */
export interface RunOptions {
  container: string;
  script: string;
  /** Pass-through arguments for the script (unknown --flags and everything after --), in order. */
  scriptArgs: string[];
  scriptHelp: boolean;
  dockname?: string;
  datamnts: string[];
  envlist: string[];
  privileged: boolean;
  ibdevices: boolean;
  dockopts: string;
  slotsPerNode?: number;
  nodelist?: string;
  sshconfigdir?: string;
  sshdport?: number;
  timeoutSeconds: number;
  pull: PullPolicy;
  /** The image's OpenSSH, the built-in ssh, or whichever fits the image (ssh/server.ts). */
  ssh: SshMode;
  timings: boolean;
  /** Print what would be created and run, touch no Docker; `json` for machines. */
  dryRun: boolean;
  json: boolean;
  logLevel: 'quiet' | 'normal' | 'verbose';
}
