import { describe, expect, it } from 'vitest';
import { ResourceScope } from '../../../src/platform/scope.js';
import { fakeLogger } from '../fakes.js';

/** A promise with its resolve and reject in hand. */
function deferred<T>(): { promise: Promise<T>; resolve: (value: T) => void; reject: (error: Error) => void } {
  let resolve!: (value: T) => void;
  let reject!: (error: Error) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

describe('ResourceScope', () => {
  it('undoes what it holds last-made first, each with the resource it was given', async () => {
    const log = fakeLogger();
    const scope = new ResourceScope(log);
    const order: string[] = [];
    expect(scope.adopt('job dir', '/jobs/1.0', (dir) => void order.push(`rm ${dir}`))).toBe('/jobs/1.0');
    scope.defer('say the rest', () => void order.push('flush'));
    scope.adopt('container', { name: 'c1' }, (c) => void order.push(`remove ${c.name}`));
    await scope.close();
    expect(order).toEqual(['remove c1', 'flush', 'rm /jobs/1.0']);
  });

  it('undoes each part exactly once when closed twice at once, and both callers wait for all of it', async () => {
    const log = fakeLogger();
    const scope = new ResourceScope(log);
    const counts = { a: 0, b: 0 };
    let finished = false;
    scope.defer('a', async () => {
      counts.a += 1;
      await new Promise((r) => setTimeout(r, 10));
      finished = true;
    });
    scope.defer('b', async () => {
      counts.b += 1;
      await new Promise((r) => setTimeout(r, 10));
    });
    void scope.close();
    await scope.close();
    expect(finished).toBe(true);
    expect(counts).toEqual({ a: 1, b: 1 });
    await scope.close();
    expect(counts).toEqual({ a: 1, b: 1 });
  });

  it('a part being made: what was adopted before it waits until it settles, then its own undo runs', async () => {
    const log = fakeLogger();
    const scope = new ResourceScope(log);
    const order: string[] = [];
    scope.adopt('job dir', 'dir', () => void order.push('rm dir'));
    const write = deferred<string>();
    const written = scope.adoptPending('finish the write', write.promise, (file) => void order.push(`undo ${file}`));
    const closing = scope.close();
    await new Promise((r) => setTimeout(r, 5));
    expect(order).toEqual([]); // the directory stays while the write goes on
    write.resolve('job.env');
    await closing;
    expect(order).toEqual(['undo job.env', 'rm dir']);
    await expect(written).resolves.toBe('job.env');
  });

  it('a part whose making failed is not undone, and its failure is the maker\'s (the scope logs nothing)', async () => {
    const log = fakeLogger();
    const scope = new ResourceScope(log);
    const undone: string[] = [];
    const making = deferred<string>();
    const made = scope.adoptPending('fifo', making.promise, (f) => void undone.push(f));
    making.reject(new Error('mkfifo failed'));
    await expect(made).rejects.toThrow('mkfifo failed');
    await scope.close();
    expect(undone).toEqual([]);
    expect(log.lines.warn).toEqual([]);
  });

  it('what is adopted after the scope closed (made after an interrupt) is undone at once', async () => {
    const log = fakeLogger();
    const scope = new ResourceScope(log);
    const undone: string[] = [];
    scope.defer('early', () => void undone.push('early'));
    await scope.close();
    scope.adopt('late container', 'c2', (c) => void undone.push(c));
    await scope.close();
    expect(undone).toEqual(['early', 'c2']);
  });

  it('what is adopted while it closes is undone before the close resolves', async () => {
    const log = fakeLogger();
    const scope = new ResourceScope(log);
    const undone: string[] = [];
    const gate = deferred<undefined>();
    scope.defer('slow', async () => {
      await gate.promise;
      undone.push('slow');
    });
    const closing = scope.close();
    scope.adopt('made meanwhile', 'm', (m) => void undone.push(m));
    gate.resolve(undefined);
    await closing;
    await scope.close();
    expect(undone.sort()).toEqual(['m', 'slow']);
  });

  it('logs a failing undo and still runs the earlier ones', async () => {
    const log = fakeLogger();
    const scope = new ResourceScope(log);
    const ran: string[] = [];
    scope.defer('first', () => void ran.push('first'));
    scope.defer('broken', () => Promise.reject(new Error('daemon gone')));
    scope.defer('sync throw', () => {
      throw new Error('oops');
    });
    scope.defer('last added', () => void ran.push('last added'));
    await expect(scope.close()).resolves.toBeUndefined();
    expect(ran).toEqual(['last added', 'first']);
    expect(log.lines.warn).toHaveLength(2);
    expect(log.lines.warn[0]).toContain('"sync throw"');
    expect(log.lines.warn[0]).toContain('oops');
    expect(log.lines.warn[1]).toContain('"broken"');
    expect(log.lines.warn[1]).toContain('daemon gone');
  });

  it('gives up on a hanging undo after its timeout and goes on', async () => {
    const log = fakeLogger();
    const scope = new ResourceScope(log, 50);
    const ran: string[] = [];
    scope.defer('after', () => void ran.push('after'));
    scope.defer('hangs', () => new Promise<void>(() => undefined));
    await scope.close();
    expect(ran).toEqual(['after']);
    expect(log.lines.warn).toEqual(['teardown step "hangs" failed: took longer than 50 ms']);
  });

  it('nothing held: closes at once', async () => {
    await expect(new ResourceScope(fakeLogger()).close()).resolves.toBeUndefined();
  });
});
