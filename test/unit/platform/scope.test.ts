import { describe, expect, it } from 'vitest';
import { Teardown } from '../../../src/roles/teardown.js';
import { fakeLogger } from '../fakes.js';

describe('Teardown', () => {
  it('runs the steps last-in first-out', async () => {
    const t = new Teardown();
    const order: string[] = [];
    for (const name of ['job dir', 'container', 'heartbeat']) t.add(name, () => (order.push(name), Promise.resolve()));
    await t.run(fakeLogger());
    expect(order).toEqual(['heartbeat', 'container', 'job dir']);
  });

  it('runs each step exactly once when run() is called twice at once', async () => {
    const t = new Teardown();
    const counts = { a: 0, b: 0 };
    t.add('a', async () => {
      counts.a += 1;
      await new Promise((r) => setTimeout(r, 10));
    });
    t.add('b', async () => {
      counts.b += 1;
      await new Promise((r) => setTimeout(r, 10));
    });
    const log = fakeLogger();
    const first = t.run(log);
    const second = t.run(log);
    await Promise.all([first, second]);
    expect(counts).toEqual({ a: 1, b: 1 });
    await t.run(log);
    expect(counts).toEqual({ a: 1, b: 1 });
  });

  it('both callers wait for the whole teardown', async () => {
    const t = new Teardown();
    let finished = false;
    t.add('slow', async () => {
      await new Promise((r) => setTimeout(r, 20));
      finished = true;
    });
    const log = fakeLogger();
    void t.run(log);
    await t.run(log);
    expect(finished).toBe(true);
  });

  it('logs a failing step and still runs the later ones', async () => {
    const t = new Teardown();
    const ran: string[] = [];
    t.add('first', () => (ran.push('first'), Promise.resolve()));
    t.add('broken', () => Promise.reject(new Error('daemon gone')));
    t.add('sync throw', () => {
      throw new Error('oops');
    });
    t.add('last added', () => (ran.push('last added'), Promise.resolve()));
    const log = fakeLogger();
    await expect(t.run(log)).resolves.toBeUndefined();
    expect(ran).toEqual(['last added', 'first']);
    expect(log.lines.warn).toHaveLength(2);
    expect(log.lines.warn[0]).toContain('"sync throw"');
    expect(log.lines.warn[0]).toContain('oops');
    expect(log.lines.warn[1]).toContain('"broken"');
    expect(log.lines.warn[1]).toContain('daemon gone');
  });

  it('gives up on a hanging step after the step timeout and goes on', async () => {
    const t = new Teardown();
    const ran: string[] = [];
    t.add('after', () => (ran.push('after'), Promise.resolve()));
    t.add('hangs', () => new Promise<void>(() => undefined));
    const log = fakeLogger();
    await t.run(log, 50);
    expect(ran).toEqual(['after']);
    expect(log.lines.warn).toEqual(['teardown step "hangs" failed: took longer than 50 ms']);
  });

  it('no steps: resolves', async () => {
    await expect(new Teardown().run(fakeLogger())).resolves.toBeUndefined();
  });
});
