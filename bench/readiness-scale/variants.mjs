// An alternative to compare against the shipped probes (bench only; nothing in src/ uses it):
// the CommandRunner interface over node:child_process.execFile instead of execa.
import { execFile } from 'node:child_process';

export const spawnRunner = {
  run(file, args, options = {}) {
    return new Promise((resolve) => {
      const child = execFile(file, args, { timeout: options.timeoutMs, env: { ...process.env, LC_ALL: 'C' } }, (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : error.killed ? 1 : 127) : 0;
        resolve({ exitCode: code, stdout: String(stdout), stderr: String(stderr), timedOut: Boolean(error?.killed) });
      });
      child.stdin?.end();
    });
  },
};
