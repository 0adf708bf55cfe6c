import { basename, join } from 'node:path';
import { quote } from 'shell-quote';
import { jobEnvScript } from '../plan/job-env.js';

/**
 * The job's variables in its ssh sessions. `ssh node2 'echo $np'`, a pdsh-style launcher and
 * mpirun's daemons run through the user's shell, which sshd starts with the server's environment
 * only; the job's variables (hostlist, np, MASTER_ADDR, ...) are known once every node has reported,
 * after each sshd has started. So the shell the generated passwd names is this script: it sources
 * the node's session.env, which the node writes itself once the coordinator sends the variables
 * over the control channel (before the job starts; never looked up on the home before it exists),
 * then becomes the user's own shell.
 */
export interface SessionFiles {
  /** The login shell in this node's passwd (0755). */
  shell: string;
  /** The job's variables for this node's sessions, NODE_RANK its own (0600). */
  env: string;
}

/**
 * Both in this node's private folder of the job directory (beside its passwd, which the container
 * sees). The shell is named as the user's own (`.../session/bash`): whoever tells shells apart by
 * name (Open MPI picks the syntax of its remote daemons' command line by it) sees the real one.
 */
export function sessionFiles(privateDir: string, shell: string): SessionFiles {
  return { shell: join(privateDir, 'session', basename(shell)), env: join(privateDir, 'session.env') };
}

/** Pure: the session shell for a node whose user's own shell is `shell`. */
export function sessionShellScript(files: SessionFiles, shell: string): string {
  const [env, real] = [quote([files.env]), quote([shell])];
  return [
    '#!/bin/sh',
    "# srun-docker: the shell of this job's ssh sessions on this node. The job's variables (once the job",
    '# runs), then your own shell, as a login shell when there is no command.',
    `if [ -r ${env} ]; then . ${env}; fi`,
    `SHELL=${real}`,
    'export SHELL',
    `if [ "$#" -eq 0 ]; then exec ${real} -l; fi`,
    `exec ${real} "$@"`,
    '',
  ].join('\n');
}

/**
 * Pure: session.env for the node of this rank (the job's NODE_RANK is the coordinator's, 0): the
 * container's own variables first, then the job's over them.
 */
export function sessionEnvScript(env: Record<string, string>, rank: number, container: Record<string, string> = {}): string {
  return jobEnvScript({ ...container, ...env, NODE_RANK: String(rank) });
}

/** What a login sets for itself (sshd, the shell): a session keeps its own. */
const SESSION_OWN = new Set(['PATH', 'HOME', 'USER', 'LOGNAME', 'SHELL', 'TERM', 'PWD', 'OLDPWD', 'SHLVL', 'MAIL']);

/**
 * Pure: the variables every process of the container has and an OpenSSH session would not (sshd
 * starts sessions with its own few): the image's ENV (an NGC image's LD_LIBRARY_PATH, OPAL_PREFIX,
 * NCCL_*), then srun-docker's (`--dockopts -e`, NVIDIA_VISIBLE_DEVICES) over them, as Docker merges
 * them. The built-in server passes its environment on, which is the same.
 */
export function containerVariables(imageEnv: readonly string[], containerEnv: readonly string[]): Record<string, string> {
  const variables: Record<string, string> = {};
  for (const entry of [...imageEnv, ...containerEnv]) {
    const at = entry.indexOf('=');
    const name = at < 0 ? entry : entry.slice(0, at);
    if (at > 0 && !SESSION_OWN.has(name)) variables[name] = entry.slice(at + 1);
  }
  return variables;
}

/** The passwd line with the session shell as the login shell. */
export function withSessionShell(passwdLine: string, files: SessionFiles): string {
  const fields = passwdLine.split(':');
  fields[6] = files.shell;
  return fields.join(':');
}
