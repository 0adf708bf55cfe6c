import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { COORDINATOR_SCRIPT } from '../../../src/container/container-command.js';
import { openControlFifo, type ControlFifo } from '../../../src/container/control-fifo.js';
import { jobEnvScript } from '../../../src/plan/job-env.js';
import { JOB_END_LEAD, JobEndStripper, jobEndMarker } from '../../../src/docker/job-end.js';

/**
 * The coordinator container's main process, run for real by /bin/sh: sshd is replaced by a sleep
 * (30 s, or `sshdLives`), and `sleep` by a function that takes 10 ms, so its once-a-second looks at
 * sshd cost no real waits.
 */
function fastScript(sshdLives = '30'): string {
  const sshd = 'eval "$1"';
  expect(COORDINATOR_SCRIPT).toContain(sshd);
  return ['sleep() { command sleep 0.01; }', COORDINATOR_SCRIPT.replace(sshd, `command sleep ${sshdLives}`)].join('\n');
}

describe("the coordinator container's main process", () => {
  let dir = '';
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'srun-docker-watchdog-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  describe('on the coordinator: the job, once `go NONCE` arrives on the control FIFO', () => {
    const NONCE = '3f9a0c2e7b5d4a1c9e8f7a6b5c4d3e2f';
    const endLine = (code: number): string => `${JOB_END_LEAD}${jobEndMarker(NONCE)}:${code}`;

    /** Runs the script as the coordinator's container would: `input` as its input, the FIFO held by this process (as srun-docker holds it). */
    async function coordinator(
      input: string,
      job: string[],
      opts: { sshdLives?: string; control?: (fifo: ControlFifo) => Promise<void> } = {},
    ) {
      const log = join(dir, 'sshd.log');
      const envFile = join(dir, 'job.env');
      const exitFile = join(dir, 'job.exit');
      const fifoPath = join(dir, 'node1.control');
      await writeFile(envFile, jobEnvScript({ GREETING: "it's $HOME `x` \\ \"q\"\nline 2", np: '3' }));
      const fifo = await openControlFifo(fifoPath);
      const run = execa('/bin/sh', ['-c', fastScript(opts.sshdLives), 'srun-docker-coordinator', 'cfg', log, envFile, exitFile, fifoPath, ...job], {
        input,
        timeout: 20_000,
        reject: false,
      });
      await (opts.control ?? ((f) => f.go(NONCE)))(fifo);
      const result = await run;
      await fifo.close();
      const exitText = await readFile(exitFile, 'utf8').catch(() => undefined);
      const fifoLeft = await stat(fifoPath).then(() => true, () => false);
      return { code: result.exitCode, stdout: result.stdout, stderr: result.stderr, log: await readFile(log, 'utf8'), exitText, fifoLeft, timedOut: result.timedOut };
    }
    const marker = () => join(dir, 'job-ran');

    it('runs the job with its variables, arguments and input once go arrives, and ends with its exit code; the FIFO name is gone', async () => {
      const job = ['/bin/sh', '-c', 'printf "%s|%s|%s|%s\\n" "$GREETING" "$np" "$1" "$2"; while read -r x; do echo "input: $x"; done; exit 7', 'job', 'arg 1', "it's"];
      const r = await coordinator('first line\n  $HOME and spaces \nlast', job);
      expect(r.code).toBe(7);
      expect(r.exitText).toBe('7\n');
      // each stream ends with the job-end line, with the nonce and the code
      expect(r.stdout).toBe(`it's $HOME \`x\` \\ "q"\nline 2|3|arg 1|it's\ninput: first line\ninput: $HOME and spaces\n${endLine(7)}`);
      expect(r.stderr).toBe(endLine(7));
      expect(r.fifoLeft).toBe(false);
      expect(r.log).not.toContain('gone');
    });

    it('the job sees neither the nonce nor the FIFO: not in its arguments, environment, files or descriptors', async () => {
      const job = ['/bin/sh', '-c', `ps -o args= -p 1 2>/dev/null; cat /proc/$PPID/cmdline; env; ls -l /proc/self/fd; ls ${dir}; exit 0`];
      const r = await coordinator('', job);
      expect(r.code).toBe(0);
      const seen = r.stdout.slice(0, r.stdout.lastIndexOf(JOB_END_LEAD));
      expect(seen).not.toContain(NONCE);
      // the FIFO's path is an argument of the main process, but its name is gone and the job holds no descriptor of it
      expect(seen).not.toMatch(/-> .*node1\.control/);
      expect(seen.split('\n')).not.toContain('node1.control');
    });

    it('the job-end lines, run through the stripper srun-docker puts on each output, give back the output and the code', async () => {
      const r = await coordinator('', ['/bin/sh', '-c', 'printf "out without newline"; printf "err\\n" >&2; exit 3']);
      const codes: (number | undefined)[] = [];
      const stripped = async (text: string): Promise<string> => {
        const stripper = new JobEndStripper(jobEndMarker(NONCE), (code) => codes.push(code));
        const chunks: Buffer[] = [];
        stripper.on('data', (chunk: Buffer) => chunks.push(chunk));
        const ended = new Promise((resolve) => stripper.on('end', resolve));
        // execa strips the final newline of each output: the container's streams keep it
        stripper.end(Buffer.from(`${text}\n`, 'latin1'));
        await ended;
        return Buffer.concat(chunks).toString('latin1');
      };
      expect(await stripped(r.stdout)).toBe('out without newline');
      expect(await stripped(r.stderr)).toBe('err\n');
      expect(codes).toEqual([3, 3]);
    });

    it('end lines the job prints itself (any nonce but the real one) are its output: they end nothing', async () => {
      const forged = `printf '\\036srun-docker-job-end:%s:0\\n' guess; printf '\\036srun-docker-job-end:%s:0\\n' guess >&2; sleep 0.2; echo still-running; exit 5`;
      const r = await coordinator('', ['/bin/sh', '-c', forged]);
      expect(r.code).toBe(5);
      expect(r.stdout).toBe(`${JOB_END_LEAD}srun-docker-job-end:guess:0\nstill-running\n${endLine(5)}`);
    });

    it('a FIFO that ends without go (srun-docker is gone): the job never runs, the container ends at once', async () => {
      const r = await coordinator('', ['/bin/sh', '-c', `touch ${marker()}`], { control: (f) => f.close() });
      expect(r.code).toBe(255);
      // ended by itself, not by the test's own time limit
      expect(r.timedOut).toBe(false);
      await expect(readFile(marker())).rejects.toThrow();
    });

    it('an sshd that dies before go ends the container without running the job', async () => {
      const r = await coordinator('', ['/bin/sh', '-c', `touch ${marker()}`], { sshdLives: '0', control: async () => undefined });
      expect(r.code).not.toBe(0);
      await expect(readFile(marker())).rejects.toThrow();
    });

    it('srun-docker gone while the job runs (its end of the FIFO closed, as a SIGKILL does): the job and the container end within seconds', async () => {
      const r = await coordinator('', ['sleep', '30'], {
        control: async (f) => {
          await f.go(NONCE);
          await new Promise((resolve) => setTimeout(resolve, 300));
          await f.close();
        },
      });
      expect(r.log).toContain('the coordinator is gone; ending');
      expect(r.code).toBe(143);
      // ended by itself, not by the test's own time limit
      expect(r.timedOut).toBe(false);
    });
  });
});
