import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { START_JOB, WATCHDOG_SCRIPT } from '../../src/container-command.js';
import { jobEnvScript } from '../../src/job-env.js';
import { JOB_END_LEAD, JobEndStripper, jobEndMarker } from '../../src/job-end.js';

/**
 * The container's watchdog, run for real by /bin/sh: sshd is replaced by a sleep (30 s, or `sshdLives`),
 * and `sleep` by a function that counts rounds — a round is one second of the real script, the
 * heartbeat is read every 5th — with no real waits, and can change the heartbeat ($hb) between rounds.
 */
function fastWatchdog(onRound: string, sshdLives = '30'): string {
  const sshd = 'eval "$1"';
  expect(WATCHDOG_SCRIPT).toContain(sshd);
  return [
    'rounds=0; hb=$3',
    `sleep() { command sleep 0.01; rounds=$((rounds + 1)); ${onRound} }`,
    // the log's path is kept before the coordinator's part of the script shifts its arguments
    'rounds_log=$5; trap \'echo "rounds=$rounds" >>"$rounds_log"\' EXIT',
    WATCHDOG_SCRIPT.replace(sshd, `command sleep ${sshdLives}`),
  ].join('\n');
}

describe('the container watchdog', () => {
  let dir = '';
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'srun-docker-watchdog-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function run(onRound: string, sshdLives?: string): Promise<string> {
    const heartbeat = join(dir, 'heartbeat');
    const log = join(dir, 'sshd.log');
    await writeFile(heartbeat, '1\n');
    // stale after 15 "seconds": three rounds of 5 without a new beat
    const result = await execa('/bin/sh', ['-c', fastWatchdog(onRound, sshdLives), 'srun-docker-watchdog', 'cfg', '1', heartbeat, '15', log], { timeout: 20_000, reject: false });
    expect(result.exitCode, result.all).toBe(0);
    return readFile(log, 'utf8');
  }

  it('ends after three looks without a new beat once the heartbeat stops', async () => {
    const log = await run('');
    expect(log).toContain('no heartbeat from the coordinator for 15 s; ending');
    expect(log).toContain('rounds=20'); // the look at 5 s sees the beat, those at 10, 15, 20 see it frozen
  });

  it('counts a heartbeat file that disappears (job directory removed) as stopped, not as a new beat', async () => {
    const log = await run('[ "$rounds" = 2 ] && rm -f "$hb";');
    expect(log).toContain('no heartbeat from the coordinator for 15 s; ending');
    expect(log).toContain('rounds=15');
  });

  it('keeps running while the heartbeat moves', async () => {
    // a new beat every second for 10 s, then it stops: the looks at 15, 20, 25 s see it frozen
    const log = await run('[ "$rounds" -le 10 ] && echo "$rounds" >"$hb";');
    expect(log).toContain('rounds=25');
  });

  it('an sshd that dies at once (it could not start) ends the container within a second, not five', async () => {
    const log = await run('', '0');
    expect(log).not.toContain('no heartbeat');
    expect(log).toMatch(/^rounds=[01]$/m);
  });

  describe("on the coordinator: the job, once 'go' arrives on the container's input", () => {
    /** Runs the script as the coordinator's container would, with `input` as its input. */
    async function coordinator(input: string, job: string[], opts: { onRound?: string; sshdLives?: string; env?: string } = {}) {
      const heartbeat = join(dir, 'heartbeat');
      const log = join(dir, 'sshd.log');
      const envFile = join(dir, 'job.env');
      const exitFile = join(dir, 'job.exit');
      await writeFile(heartbeat, '1\n');
      await writeFile(envFile, opts.env ?? jobEnvScript({ GREETING: "it's $HOME `x` \\ \"q\"\nline 2", np: '3' }));
      const result = await execa('/bin/sh', ['-c', fastWatchdog(opts.onRound ?? '', opts.sshdLives), 'srun-docker-watchdog', 'cfg', '1', heartbeat, '15', log, envFile, exitFile, MARKER, ...job], {
        input,
        timeout: 20_000,
        reject: false,
      });
      const exitText = await readFile(exitFile, 'utf8').catch(() => undefined);
      return { code: result.exitCode, stdout: result.stdout, stderr: result.stderr, log: await readFile(log, 'utf8'), exitText };
    }
    const marker = () => join(dir, 'job-ran');
    const MARKER = jobEndMarker('77', '0');

    it('runs the job with its variables and arguments once go arrives (after any other input), input at its end, and ends with its exit code', async () => {
      const job = ['/bin/sh', '-c', 'printf "%s|%s|%s|%s\\n" "$GREETING" "$np" "$1" "$2"; if read -r x; then echo "input: $x"; else echo "no input"; fi; exit 7', 'job', 'arg 1', "it's"];
      // Podman puts the attach request's body before what srun-docker writes
      const r = await coordinator(`{"stream":true,"stdin":true}${START_JOB}more input\n`, job);
      expect(r.code).toBe(7);
      expect(r.exitText).toBe('7\n');
      // each stream ends with the job-end line, with the code
      expect(r.stdout).toBe(`it's $HOME \`x\` \\ "q"\nline 2|3|arg 1|it's\nno input\n${JOB_END_LEAD}${MARKER}:7`);
      expect(r.stderr).toBe(`${JOB_END_LEAD}${MARKER}:7`);
      expect(r.log).not.toContain('no heartbeat');
    });

    it('the job-end lines, run through the stripper srun-docker puts on each output, give back the output and the code', async () => {
      const r = await coordinator(START_JOB, ['/bin/sh', '-c', 'printf "out without newline"; printf "err\\n" >&2; exit 3']);
      const codes: (number | undefined)[] = [];
      const stripped = async (text: string): Promise<string> => {
        const stripper = new JobEndStripper(MARKER, (code) => codes.push(code));
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

    it('input that ends without go (srun-docker is gone): the job never runs, the container ends at once', async () => {
      const r = await coordinator('', ['/bin/sh', '-c', `touch ${marker()}`]);
      expect(r.code).toBe(255);
      await expect(readFile(marker())).rejects.toThrow();
    });

    it('an sshd that dies before go ends the container without running the job', async () => {
      const r = await coordinator('', ['/bin/sh', '-c', `touch ${marker()}`], { sshdLives: '0' });
      expect(r.code).not.toBe(0);
      await expect(readFile(marker())).rejects.toThrow();
    });

    it('a heartbeat that stops while the job runs ends the job and the container', async () => {
      // the real sleep (exec does not see the test's sleep function): 30 s unless it is ended
      const r = await coordinator(START_JOB, ['sleep', '30']);
      expect(r.log).toContain('no heartbeat from the coordinator for 15 s; ending');
      expect(r.code).toBe(143);
      expect(r.exitText).toBe('143\n');
      expect(r.stdout).toBe(`${JOB_END_LEAD}${MARKER}:143`);
    });
  });
});
