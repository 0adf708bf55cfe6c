import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { endWhenStuck, LINGER_MS } from '../../../src/cli/cli.js';

describe('endWhenStuck: the process ends even if something it opened stays open', () => {
  it('schedules an exit with main\'s code LINGER_MS later on a timer that never holds the process up itself, and says why', () => {
    const stderr = new PassThrough();
    let written = '';
    stderr.on('data', (chunk: Buffer) => (written += chunk.toString()));
    const exits: number[] = [];
    const scheduled: { run: () => void; ms: number; unrefd: boolean }[] = [];
    endWhenStuck(7, {
      stderr,
      exit: (code) => exits.push(code),
      later: (run, ms) => {
        const entry = { run, ms, unrefd: false };
        scheduled.push(entry);
        return { unref: () => (entry.unrefd = true) };
      },
    });
    expect(scheduled.map((s) => [s.ms, s.unrefd])).toEqual([[LINGER_MS, true]]);
    expect(exits).toEqual([]);
    scheduled[0]?.run();
    expect(exits).toEqual([7]);
    expect(written).toBe(`srun-docker: warning: still running ${LINGER_MS / 1000} s after the end (something it opened was not closed: please report it); exiting with 7\n`);
  });
});
