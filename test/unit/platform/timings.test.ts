import { describe, expect, it } from 'vitest';
import { Timings } from '../../../src/platform/timings.js';
import { fakeClock } from '../fakes.js';

describe('Timings (--timings)', () => {
  it('one line: each phase in the order it ended, then the total since it was made', async () => {
    const clock = fakeClock(1000);
    const timings = new Timings(clock);
    timings.record('startup', 84.6);
    clock.advance(10);
    await timings.measure('docker-ping', async () => clock.advance(12));
    await timings.measure('container', async () => clock.advance(140.4));
    expect(timings.format()).toBe('timings: startup=85ms docker-ping=12ms container=140ms total=162ms');
  });

  it('a phase that fails is still timed, and the failure passes through', async () => {
    const clock = fakeClock(0);
    const timings = new Timings(clock);
    const failing = timings.measure('readiness', async () => {
      clock.advance(30);
      throw new Error('node2 failed');
    });
    await expect(failing).rejects.toThrow('node2 failed');
    expect(timings.list()).toEqual([
      { phase: 'readiness', ms: 30 },
      { phase: 'total', ms: 30 },
    ]);
  });
});
