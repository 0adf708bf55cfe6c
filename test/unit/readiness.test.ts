import { describe, expect, it } from 'vitest';
import { ReadinessTimeoutError } from '../../src/errors.js';
import { waitForNodes, type NodeReport, type ReadinessInput } from '../../src/readiness.js';
import { reportOf } from '../../src/roles/coordinator.js';

const FAST = { min: 5, max: 20, factor: 1.5 };

/** Each node reports itself up with its own name as the info the login needs. */
const up = (n: string): Promise<NodeReport<string>> => Promise.resolve({ state: 'up', info: `info-${n}` });

function input(overrides: Partial<ReadinessInput<string>>): ReadinessInput<string> {
  return {
    nodes: ['n2', 'n3', 'n4'],
    timeoutSeconds: 5,
    concurrency: 8,
    probe: () => Promise.resolve(),
    report: up,
    signal: new AbortController().signal,
    backoff: FAST,
    pollMs: 5,
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
          report: (n) => (n === 'n4' ? Promise.resolve({ state: 'pending' }) : up(n)),
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
    const reads = new Map<string, number>();
    const probed: string[] = [];
    await waitForNodes(
      input({
        report: (n) => {
          const k = (reads.get(n) ?? 0) + 1;
          reads.set(n, k);
          return k < (n === 'n3' ? 6 : 2) ? Promise.resolve({ state: 'pending' }) : up(n);
        },
        probe: (n) => {
          // the probe sees the node up: its report was read at least as often as it had to be
          expect(reads.get(n)).toBeGreaterThanOrEqual(n === 'n3' ? 6 : 2);
          probed.push(n);
          return Promise.resolve();
        },
      }),
    );
    expect(probed.sort()).toEqual(['n2', 'n3', 'n4']);
  });

  it('a node that never reports up is named at the deadline, and never probed', async () => {
    const probed: string[] = [];
    const error = await rejection(
      waitForNodes(
        input({
          timeoutSeconds: 1,
          report: (n) => (n === 'n4' ? Promise.resolve({ state: 'pending' }) : up(n)),
          probe: (n) => (probed.push(n), Promise.resolve()),
        }),
      ),
    );
    expect(probed.sort()).toEqual(['n2', 'n3']);
    expect((error as ReadinessTimeoutError).unready).toEqual([
      { node: 'n4', lastError: 'srun-docker there never reported its sshd up (is the home directory shared between the nodes?)' },
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
    const start = Date.now();
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
    expect(Date.now() - start).toBeGreaterThanOrEqual(900);
    expect(Date.now() - start).toBeLessThan(3000);
  });

  it('keeps only the last line of a multi-line probe error', async () => {
    const error = await rejection(
      waitForNodes(
        input({ nodes: ['n2'], timeoutSeconds: 1, probe: () => Promise.reject(new Error('warning: x\nPermission denied\n')) }),
      ),
    );
    expect((error as ReadinessTimeoutError).unready).toEqual([{ node: 'n2', lastError: 'Permission denied' }]);
  });

  it('a failure the node reported stops the wait for it at once, with that reason', async () => {
    const start = Date.now();
    const error = await rejection(
      waitForNodes(
        input({
          timeoutSeconds: 30,
          probe: (n) => (n === 'n3' ? Promise.reject(new Error('refused')) : Promise.resolve()),
          report: (n) => (n === 'n3' ? Promise.resolve({ state: 'failed', reason: 'container did not start: no such image' }) : up(n)),
        }),
      ),
    );
    expect(Date.now() - start).toBeLessThan(2000);
    expect((error as ReadinessTimeoutError).unready).toEqual([{ node: 'n3', lastError: 'container did not start: no such image' }]);
  });

  it('a failure reported after a few attempts also ends the wait early', async () => {
    let calls = 0;
    const start = Date.now();
    const error = await rejection(
      waitForNodes(
        input({
          nodes: ['n2'],
          timeoutSeconds: 30,
          probe: () => Promise.reject(new Error('refused')),
          report: (n) => (++calls >= 3 ? Promise.resolve({ state: 'failed', reason: 'sshd exited' }) : up(n)),
        }),
      ),
    );
    expect(Date.now() - start).toBeLessThan(2000);
    expect((error as ReadinessTimeoutError).unready).toEqual([{ node: 'n2', lastError: 'sshd exited' }]);
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

  it('rejects when the signal is aborted', async () => {
    const controller = new AbortController();
    const reason = new Error('SIGTERM');
    setTimeout(() => controller.abort(reason), 50);
    const start = Date.now();
    const error = await rejection(
      waitForNodes(input({ timeoutSeconds: 30, signal: controller.signal, probe: () => Promise.reject(new Error('refused')) })),
    );
    expect(error).toBe(reason);
    expect(Date.now() - start).toBeLessThan(2000);
  });

  it('rejects at once when the signal was aborted before', async () => {
    const controller = new AbortController();
    controller.abort(new Error('gone'));
    await expect(waitForNodes(input({ signal: controller.signal }))).rejects.toThrow('gone');
  });
});

describe('reportOf: a worker status file as the readiness wait reads it', () => {
  const started = { state: 'started', slots: 2, port: 12001, hostKey: 'ssh-ed25519 AAAA' } as const;
  it.each<[string, Parameters<typeof reportOf>[1], NodeReport<unknown>]>([
    ['no file yet', undefined, { state: 'pending' }],
    ['started on the same port', started, { state: 'up', info: started }],
    ['failed, with its reason', { state: 'failed', error: 'no such image' }, { state: 'failed', reason: 'n2 failed: no such image' }],
    ['left before answering', { state: 'gone' }, { state: 'failed', reason: 'n2 left before its sshd answered' }],
    [
      'started on another port',
      { ...started, port: 12002 },
      { state: 'failed', reason: 'n2 runs sshd on port 12002, the coordinator computed 12001: run every node with the same options' },
    ],
  ])('%s', (_name, status, report) => {
    expect(reportOf('n2', status, 12001)).toEqual(report);
  });
});
