import { describe, expect, it } from 'vitest';
import { createLimiter } from '../../../src/platform/limiter.js';

/** A task that stays running until released by hand. */
function gate() {
  let open!: () => void;
  const done = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { open, done };
}

const tick = () => new Promise((resolve) => setTimeout(resolve, 0));

describe('createLimiter', () => {
  it.each<[number, number]>([[1, 5], [2, 7], [3, 3], [4, 2]])('never runs more than %d of %d at once', async (limit, count) => {
    const run = createLimiter(limit);
    let active = 0;
    let maxActive = 0;
    const results = await Promise.all(
      Array.from({ length: count }, (_, i) =>
        run(async () => {
          active += 1;
          maxActive = Math.max(maxActive, active);
          await new Promise((r) => setTimeout(r, 2));
          active -= 1;
          return i * 10;
        }),
      ),
    );
    expect(maxActive).toBe(Math.min(limit, count));
    expect(results).toEqual(Array.from({ length: count }, (_, i) => i * 10));
  });

  it('starts waiting tasks in the order they came', async () => {
    const run = createLimiter(1);
    const started: number[] = [];
    const gates = [gate(), gate(), gate(), gate()];
    const all = gates.map((g, i) =>
      run(async () => {
        started.push(i);
        await g.done;
      }),
    );
    await tick();
    expect(started).toEqual([0]);
    // release out of order: the queue still starts 1, then 2, then 3
    gates[0]?.open();
    await tick();
    expect(started).toEqual([0, 1]);
    gates[3]?.open();
    gates[2]?.open();
    gates[1]?.open();
    await Promise.all(all);
    expect(started).toEqual([0, 1, 2, 3]);
  });

  it('a newcomer does not overtake a waiting task', async () => {
    const run = createLimiter(1);
    const started: string[] = [];
    const first = gate();
    const a = run(async () => {
      started.push('a');
      await first.done;
    });
    const b = run(() => (started.push('b'), Promise.resolve()));
    await tick();
    first.open();
    const c = run(() => (started.push('c'), Promise.resolve()));
    await Promise.all([a, b, c]);
    expect(started).toEqual(['a', 'b', 'c']);
  });

  it('a failing task passes its error on and releases its slot', async () => {
    const run = createLimiter(1);
    await expect(run(() => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    await expect(run(() => Promise.resolve('next'))).resolves.toBe('next');
  });

  it('a task that throws synchronously also releases its slot', async () => {
    const run = createLimiter(2);
    const failures = await Promise.allSettled([1, 2, 3].map(() => run<undefined>(() => { throw new Error('sync'); })));
    expect(failures.map((f) => f.status)).toEqual(['rejected', 'rejected', 'rejected']);
    await expect(run(() => Promise.resolve(1))).resolves.toBe(1);
  });
});
