import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../../src/platform/log.js';
import { pullProgressPrinter, workerPullProgress } from '../../../src/cli/progress.js';

function sink(tty: boolean): { stream: PassThrough; text: () => string } {
  const stream = new PassThrough();
  Object.assign(stream, { isTTY: tty });
  let text = '';
  stream.on('data', (chunk: Buffer) => (text += chunk.toString()));
  return { stream, text: () => text };
}

const EVENTS = [
  { status: 'Pulling from org/img', id: 'latest' },
  { status: 'Downloading', id: 'a1', progress: '[==>   ] 1MB/10MB' },
  { status: 'Downloading', id: 'a1', progress: '[=====>] 9MB/10MB' },
  { status: 'Pull complete', id: 'a1' },
  { status: 'Status: Downloaded newer image for org/img:latest' },
];

describe('image pull progress', () => {
  it('not on a terminal (srun, sbatch logs): one line per finished step, no progress bars', () => {
    const out = sink(false);
    const print = pullProgressPrinter(out.stream, createLogger((l) => out.stream.write(l), 'normal', 'srun-docker[n1 worker]'));
    EVENTS.forEach(print);
    const lines = out.text().trim().split('\n');
    expect(lines).toEqual([
      'srun-docker[n1 worker]: pull latest: Pulling from org/img',
      'srun-docker[n1 worker]: pull a1: Pull complete',
      'srun-docker[n1 worker]: pull Status: Downloaded newer image for org/img:latest',
    ]);
    expect(out.text()).not.toContain('MB/10MB');
  });

  it('on a terminal: one line rewritten in place, ended when the pull is done', () => {
    const out = sink(true);
    const print = pullProgressPrinter(out.stream, createLogger((l) => out.stream.write(l), 'normal'));
    EVENTS.forEach(print);
    expect(out.text()).toContain('\r\x1b[Ka1: Downloading [=====>] 9MB/10MB');
    expect(out.text().endsWith('Status: Downloaded newer image for org/img:latest \n')).toBe(true);
    expect(out.text().split('\n')).toHaveLength(2);
  });
});

describe("a worker's pull progress", () => {
  it.each([
    ['normal', []],
    ['verbose', ['srun-docker[n2 worker]: pull latest: Pulling from org/img', 'srun-docker[n2 worker]: pull a1: Pull complete', 'srun-docker[n2 worker]: pull Status: Downloaded newer image for org/img:latest']],
  ] as const)('at level %s prints %j (the coordinator says the pull once for every node), never in place on a terminal', (level, expected) => {
    const out = sink(true);
    const print = workerPullProgress(out.stream, createLogger((l) => out.stream.write(l), level, 'srun-docker[n2 worker]'));
    EVENTS.forEach(print);
    expect(out.text().split('\n').filter((l) => l !== '')).toEqual(expected);
    expect(out.text()).not.toContain('\r');
  });
});

describe('logger', () => {
  it.each([
    ['quiet', ['srun-docker warning: w', 'srun-docker error: e']],
    ['normal', ['srun-docker: i', 'srun-docker warning: w', 'srun-docker error: e']],
    ['verbose', ['srun-docker: i', 'srun-docker warning: w', 'srun-docker error: e', 'srun-docker: v']],
  ] as const)('%s level', (level, expected) => {
    const lines: string[] = [];
    const log = createLogger((l) => lines.push(l.trimEnd()), level);
    log.info('i');
    log.warn('w');
    log.error('e');
    log.verbose('v');
    expect(lines).toEqual(expected);
  });
});
