import { describe, expect, it } from 'vitest';
import { JOB_END_LEAD, JobEndStripper, jobEndMarker } from '../../../src/docker/job-end.js';

const MARKER = jobEndMarker('5f0c9a7e3b1d4c2a8e6f0b9d7c5a3e1f');
const line = (code: number | string): string => `${JOB_END_LEAD}${MARKER}:${code}\n`;

/** Feeds the chunks through a stripper; what came out, and the codes it reported. */
async function strip(chunks: (string | Buffer)[], end = true): Promise<{ out: Buffer; codes: (number | undefined)[] }> {
  const codes: (number | undefined)[] = [];
  const stripper = new JobEndStripper(MARKER, (code) => codes.push(code));
  const out: Buffer[] = [];
  stripper.on('data', (chunk: Buffer) => out.push(chunk));
  for (const chunk of chunks) stripper.write(typeof chunk === 'string' ? Buffer.from(chunk, 'latin1') : chunk);
  if (end) {
    const finished = new Promise((resolve) => stripper.on('end', resolve));
    stripper.end();
    await finished;
  } else await new Promise((resolve) => setImmediate(resolve));
  return { out: Buffer.concat(out), codes };
}

describe('JobEndStripper: the job-end line taken out of the job output', () => {
  it('passes output through unchanged and reports the code from the line, which it removes', async () => {
    const { out, codes } = await strip([`hello\nworld\n${line(0)}`]);
    expect(out.toString()).toBe('hello\nworld\n');
    expect(codes).toEqual([0]);
  });

  it('output without a final newline stays exactly as the job wrote it', async () => {
    const { out, codes } = await strip([`no newline${line(3)}`]);
    expect(out.toString()).toBe('no newline');
    expect(codes).toEqual([3]);
  });

  it('finds the line split across chunks at every byte', async () => {
    const whole = `abc\n${line(42)}`;
    for (let cut = 1; cut < whole.length; cut += 1) {
      const { out, codes } = await strip([whole.slice(0, cut), whole.slice(cut)], false);
      expect(out.toString(), `cut at ${cut}`).toBe('abc\n');
      expect(codes, `cut at ${cut}`).toEqual([42]);
    }
  });

  it('finds it fed one byte at a time', async () => {
    const { out, codes } = await strip([...`x${line(137)}`], false);
    expect(out.toString()).toBe('x');
    expect(codes).toEqual([137]);
  });

  it('holds back only what could be the start of the line, and lets it go when it is not', async () => {
    const held = await strip([`progress 50%${JOB_END_LEAD}srun-do`], false);
    expect(held.out.toString()).toBe('progress 50%');
    const released = await strip([`progress 50%${JOB_END_LEAD}srun-do`, 'g and more'], false);
    expect(released.out.toString()).toBe(`progress 50%${JOB_END_LEAD}srun-dog and more`);
    expect(released.codes).toEqual([]);
  });

  it('output that merely ends in some byte is not held', async () => {
    const { out } = await strip(['loss 0.5s'], false);
    expect(out.toString()).toBe('loss 0.5s');
  });

  it('a line with another nonce (one the job printed, guessed or seen elsewhere) is output like any other', async () => {
    const other = `${JOB_END_LEAD}${jobEndMarker('0000')}:0\n${JOB_END_LEAD}srun-docker-job-end:5f0c9a7e:0\n`;
    const { out, codes } = await strip([`${other}done\n${line(0)}`]);
    expect(out.toString()).toBe(`${other}done\n`);
    expect(codes).toEqual([0]);
  });

  it('binary output passes byte for byte', async () => {
    const bytes = Buffer.from([0, 255, 0x1f, 0x0a, 0xc3, 0x28, 0x1e, 0x1e, 7]);
    const { out, codes } = await strip([bytes, line(0)]);
    expect(out.equals(bytes)).toBe(true);
    expect(codes).toEqual([0]);
  });

  it('what comes after the line (a leftover background process) is still passed on', async () => {
    const { out, codes } = await strip([`a\n${line(1)}late\n`]);
    expect(out.toString()).toBe('a\nlate\n');
    expect(codes).toEqual([1]);
  });

  it('a second line later is output: only the first ends the job', async () => {
    const { out, codes } = await strip([line(0), line(5)]);
    expect(out.toString()).toBe(line(5));
    expect(codes).toEqual([0]);
  });

  it('output that ends without the line (the container was stopped) keeps what was held back', async () => {
    const { out, codes } = await strip([`partial${JOB_END_LEAD}srun`]);
    expect(out.toString()).toBe(`partial${JOB_END_LEAD}srun`);
    expect(codes).toEqual([]);
  });

  it('the marker followed by anything but a short code and a newline is output, never held without bound', async () => {
    const { out, codes } = await strip([`${JOB_END_LEAD}${MARKER}:12345678 not a code`], false);
    expect(out.toString()).toBe(`${JOB_END_LEAD}${MARKER}:12345678 not a code`);
    expect(codes).toEqual([]);
  });

  it('a line with no number in it still ends the job, with no code', async () => {
    const { codes } = await strip([`${JOB_END_LEAD}${MARKER}:x\n`]);
    expect(codes).toEqual([undefined]);
  });

  it('a terminal\'s line ends in \\r\\n: found, and taken out whole', async () => {
    const { out, codes } = await strip([`$ exit 4\r\n${JOB_END_LEAD}${MARKER}:4\r\nlate\r\n`]);
    expect(out.toString()).toBe('$ exit 4\r\nlate\r\n');
    expect(codes).toEqual([4]);
  });

  it('a terminal\'s line split at every byte, the \\r\\n too', async () => {
    const whole = `x\r\n${JOB_END_LEAD}${MARKER}:130\r\n`;
    for (let cut = 1; cut < whole.length; cut += 1) {
      const { out, codes } = await strip([whole.slice(0, cut), whole.slice(cut)], false);
      expect(out.toString(), `cut at ${cut}`).toBe('x\r\n');
      expect(codes, `cut at ${cut}`).toEqual([130]);
    }
  });
});
