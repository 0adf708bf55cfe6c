import { describe, expect, it } from 'vitest';
import { NodeFailedError, ReadinessTimeoutError } from '../../../src/platform/errors.js';
import { waitForNodes, type ReadinessInput } from '../../../src/roles/readiness.js';

const FAST = { min: 5, max: 20, factor: 1.5 };

/** Each node says it is up at once, with its own name as the info the login needs. */
const up = (n: string): Promise<string> => Promise.resolve(`info-${n}`);
/** A node that never says anything. */
const silent = (): Promise<string> => new Promise<string>(() => undefined);

function input(overrides: Partial<ReadinessInput<string>>): ReadinessInput<string> {
  return {
    nodes: ['n2', 'n3', 'n4'],
    timeoutSeconds: 5,
    concurrency: 8,
    probe: () => Promise.resolve(),
    whenUp: up,
    lostReason: () => undefined,
    signal: new AbortController().signal,
    now: Date.now,
    backoff: FAST,
    ...overrides,
  };
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error('expected a rejection');
    },
    (error: unknown) => error,
  );
}

describe('waitForNodes', () => {
  it('resolves when every node answers at once, probing each once with what it reported', async () => {
    const probed: string[] = [];
    const infos = await waitForNodes(input({ probe: (n, info) => (probed.push(`${n}:${info}`), Promise.resolve()) }));
    expect(probed.sort()).toEqual(['n2:info-n2', 'n3:info-n3', 'n4:info-n4']);
    expect([...infos].sort()).toEqual([['n2', 'info-n2'], ['n3', 'info-n3'], ['n4', 'info-n4']]);
  });

  it('hands over every report once all nodes are up, while a login is still running', async () => {
    const calls: string[][] = [];
    let releaseN3 = (): void => undefined;
    const n3LoggedIn = new Promise<void>((resolve) => {
      releaseN3 = resolve;
    });
    const done = waitForNodes(
      input({
        probe: (n) => (n === 'n3' ? n3LoggedIn : Promise.resolve()),
        onAllReported: (infos) => {
          calls.push([...infos.values()].sort());
          releaseN3(); // the wait cannot end before this call: n3's login waits for it
        },
      }),
    );
    await done;
    expect(calls).toEqual([['info-n2', 'info-n3', 'info-n4']]);
  });

  it('does not hand over the reports while a node has not reported up', async () => {
    const calls: number[] = [];
    const error = await rejection(
      waitForNodes(
        input({
          timeoutSeconds: 0.2,
          whenUp: (n) => (n === 'n4' ? silent() : up(n)),
          onAllReported: (infos) => calls.push(infos.size),
        }),
      ),
    );
    expect(error).toBeInstanceOf(ReadinessTimeoutError);
    expect(calls).toEqual([]);
  });

  it('resolves at once for no workers', async () => {
    expect((await waitForNodes(input({ nodes: [] }))).size).toBe(0);
  });

  it('never logs in to a node before it reports up, and logs in once it does', async () => {
    const said = new Set<string>();
    const probed: string[] = [];
    let sayN3 = (): void => undefined;
    await waitForNodes(
      input({
        whenUp: (n) =>
          n === 'n3'
            ? new Promise((resolve) => {
                sayN3 = () => (said.add(n), resolve(`info-${n}`));
              })
            : (said.add(n), up(n)),
        probe: (n) => {
          expect(said.has(n)).toBe(true);
          probed.push(n);
          if (probed.length === 2) setTimeout(sayN3, 20);
          return Promise.resolve();
        },
      }),
    );
    expect(probed).toEqual(['n2', 'n4', 'n3']);
  });

  it('a node that never reports up is named at the deadline, and never probed', async () => {
    const probed: string[] = [];
    const error = await rejection(
      waitForNodes(
        input({
          timeoutSeconds: 1,
          whenUp: (n) => (n === 'n4' ? silent() : up(n)),
          probe: (n) => (probed.push(n), Promise.resolve()),
        }),
      ),
    );
    expect(probed.sort()).toEqual(['n2', 'n3']);
    expect((error as ReadinessTimeoutError).unready).toEqual([
      { node: 'n4', lastError: 'srun-docker there never reported its sshd up over the control channel (is srun-docker running on that node?)' },
    ]);
  });

  it.each<[number]>([[1], [3], [6]])('retries a node until it answers after %d failures', async (failures) => {
    const attempts = new Map<string, number>();
    await waitForNodes(
      input({
        probe: (n) => {
          const k = (attempts.get(n) ?? 0) + 1;
          attempts.set(n, k);
          return k <= failures ? Promise.reject(new Error(`refused ${k}`)) : Promise.resolve();
        },
      }),
    );
    expect([...attempts.values()]).toEqual([failures + 1, failures + 1, failures + 1]);
  });

  it('names exactly the nodes that never answered, with their last error', async () => {
    const attempts = new Map<string, number>();
    const error = await rejection(
      waitForNodes(
        input({
          timeoutSeconds: 1,
          probe: (n) => {
            const k = (attempts.get(n) ?? 0) + 1;
            attempts.set(n, k);
            if (n === 'n3') return Promise.resolve();
            return Promise.reject(new Error(`${n}: nothing listening (attempt ${k})`));
          },
        }),
      ),
    );
    expect(error).toBeInstanceOf(ReadinessTimeoutError);
    const timeout = error as ReadinessTimeoutError;
    expect(timeout.timeoutSeconds).toBe(1);
    expect(timeout.unready.map((u) => u.node)).toEqual(['n2', 'n4']);
    for (const u of timeout.unready) {
      expect(u.lastError).toBe(`${u.node}: nothing listening (attempt ${attempts.get(u.node)})`);
    }
    expect(timeout.message).toContain('n2 (n2: nothing listening');
    expect(timeout.message).not.toContain('n3');
  });

  it('keeps only the last line of a multi-line probe error', async () => {
    const error = await rejection(
      waitForNodes(
        input({ nodes: ['n2'], timeoutSeconds: 1, probe: () => Promise.reject(new Error('warning: x\nPermission denied\n')) }),
      ),
    );
    expect((error as ReadinessTimeoutError).unready).toEqual([{ node: 'n2', lastError: 'Permission denied' }]);
  });

  // a deadline of an hour: ending before it at all is the proof that the failure ended the wait
  it('a failure the node reported stops the wait for it at once, with that reason', async () => {
    const error = await rejection(
      waitForNodes(
        input({
          timeoutSeconds: 3600,
          probe: (n) => (n === 'n3' ? Promise.reject(new Error('refused')) : Promise.resolve()),
          whenUp: (n) => (n === 'n3' ? Promise.reject(new Error('container did not start: no such image')) : up(n)),
        }),
      ),
    );
    expect(error).toBeInstanceOf(NodeFailedError);
    expect((error as NodeFailedError).failed).toEqual(['n3']);
    expect((error as NodeFailedError).unready).toEqual([{ node: 'n3', lastError: 'container did not start: no such image' }]);
  });

  it('a failure reported after a few login attempts also ends the wait early', async () => {
    let calls = 0;
    const error = await rejection(
      waitForNodes(
        input({
          nodes: ['n2'],
          timeoutSeconds: 3600,
          probe: () => (++calls, Promise.reject(new Error('refused'))),
          lostReason: () => (calls >= 3 ? 'sshd exited' : undefined),
        }),
      ),
    );
    expect(calls).toBe(3);
    expect(error).toBeInstanceOf(NodeFailedError);
    expect((error as NodeFailedError).unready).toEqual([{ node: 'n2', lastError: 'sshd exited' }]);
  });

  it('a deadline is read from the clock passed in', async () => {
    let now = 0;
    const error = await rejection(
      waitForNodes(
        input({
          nodes: ['n2'],
          timeoutSeconds: 3600,
          now: () => now,
          probe: () => ((now += 1_000_000), Promise.reject(new Error('refused'))),
        }),
      ),
    );
    expect(error).toBeInstanceOf(ReadinessTimeoutError);
    expect(error).not.toBeInstanceOf(NodeFailedError);
    expect((error as ReadinessTimeoutError).unready).toEqual([{ node: 'n2', lastError: 'refused' }]);
    expect((error as ReadinessTimeoutError).elapsedMs).toBeGreaterThanOrEqual(1_000_000);
  });

  it.each<[number, number]>([[1, 6], [2, 6], [3, 10]])('never runs more than %d probes at once (%d nodes)', async (limit, count) => {
    let active = 0;
    let maxActive = 0;
    const attempts = new Map<string, number>();
    const nodes = Array.from({ length: count }, (_, i) => `n${i}`);
    await waitForNodes(
      input({
        nodes,
        concurrency: limit,
        probe: async (n) => {
          active += 1;
          maxActive = Math.max(maxActive, active);
          await new Promise((r) => setTimeout(r, 5));
          active -= 1;
          const k = (attempts.get(n) ?? 0) + 1;
          attempts.set(n, k);
          if (k < 2) throw new Error('not yet');
        },
      }),
    );
    expect(maxActive).toBe(limit);
    expect([...attempts.keys()].sort()).toEqual([...nodes].sort());
  });

  it('rejects when the signal is aborted, also for a node that never said anything', async () => {
    const controller = new AbortController();
    const reason = new Error('SIGTERM');
    setTimeout(() => controller.abort(reason), 50);
    const error = await rejection(
      waitForNodes(
        input({
          timeoutSeconds: 3600,
          signal: controller.signal,
          whenUp: (n) => (n === 'n2' ? silent() : up(n)),
          probe: () => Promise.reject(new Error('refused')),
        }),
      ),
    );
    expect(error).toBe(reason);
  });

  it('rejects at once when the signal was aborted before', async () => {
    const controller = new AbortController();
    controller.abort(new Error('gone'));
    await expect(waitForNodes(input({ signal: controller.signal }))).rejects.toThrow('gone');
  });
});
