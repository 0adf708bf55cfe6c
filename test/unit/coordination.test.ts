import { describe, expect, it } from 'vitest';
import { waitForReadyInfo, waitForWorkersGone, watchUntilDone, type WatchInput } from '../../src/coordination.js';
import { LaunchError } from '../../src/errors.js';
import { jobDirFor, nodeStatusPath, type ReadyInfo } from '../../src/jobdir.js';
import { fakeClock, MemoryFs } from './fakes.js';

const DIR = jobDirFor('/home/alice', '77', '0');
const never = new AbortController().signal;

/** A job dir as the coordinator leaves it once the job runs. */
function jobFs(): MemoryFs {
  const fs = new MemoryFs();
  void fs.mkdir(DIR.root);
  fs.put(DIR.heartbeat, '1\n');
  return fs;
}

/** Each round the watcher takes, the fake clock moves 1 s and `onRound` may change the world. */
function watch(fs: MemoryFs, overrides: Partial<WatchInput> & { onRound?: (round: number) => void } = {}) {
  let round = 0;
  const { onRound, ...rest } = overrides;
  const clock = fakeClock(0);
  return watchUntilDone({
    fs,
    dir: DIR,
    signal: never,
    containerRunning: () => {
      round += 1;
      clock.advance(1000);
      onRound?.(round);
      return Promise.resolve(true);
    },
    now: clock.now,
    staleMs: 15_000,
    intervalMs: 0,
    ...rest,
  });
}

describe('watchUntilDone', () => {
  it("'done' when the done file appears", async () => {
    const fs = jobFs();
    const heartbeat = { n: 1 };
    const end = await watch(fs, {
      onRound: (r) => {
        fs.put(DIR.heartbeat, `${++heartbeat.n}\n`);
        if (r === 3) fs.put(DIR.done, '{"reason":"finished"}');
      },
    });
    expect(end).toBe('done');
  });

  it("'done' wins when the done file is there from the start", async () => {
    const fs = jobFs();
    fs.put(DIR.done, '{}');
    expect(await watch(fs)).toBe('done');
  });

  it("'job-dir-removed' when the job directory disappears", async () => {
    const fs = jobFs();
    expect(await watch(fs, { onRound: (r) => r === 2 && void fs.remove(DIR.root) })).toBe('job-dir-removed');
  });

  it("'coordinator-gone' when the heartbeat stays frozen past staleMs", async () => {
    const fs = jobFs();
    let rounds = 0;
    const end = await watch(fs, { onRound: () => void (rounds += 1) });
    expect(end).toBe('coordinator-gone');
    // one fake second per round: gone once more than 15 s passed without a change, not before
    expect(rounds).toBeGreaterThanOrEqual(15);
    expect(rounds).toBeLessThanOrEqual(17);
  });

  it('not gone while the heartbeat keeps changing, however long it runs', async () => {
    const fs = jobFs();
    let beat = 1;
    const end = await watch(fs, {
      onRound: (r) => {
        fs.put(DIR.heartbeat, `${++beat}\n`);
        if (r === 100) fs.put(DIR.done, '{}');
      },
    });
    // 100 rounds = 100 s of fake time, far past staleMs
    expect(end).toBe('done');
  });

  it('a heartbeat that changes and then freezes is gone staleMs after its last change', async () => {
    const fs = jobFs();
    let beat = 1;
    let rounds = 0;
    const end = await watch(fs, {
      onRound: (r) => {
        rounds = r;
        if (r <= 20) fs.put(DIR.heartbeat, `${++beat}\n`);
      },
    });
    expect(end).toBe('coordinator-gone');
    expect(rounds).toBeGreaterThanOrEqual(20 + 15);
    expect(rounds).toBeLessThanOrEqual(20 + 17);
  });

  it("'container-exited' when this node's container stops", async () => {
    const fs = jobFs();
    let calls = 0;
    const end = await watch(fs, { containerRunning: () => Promise.resolve(++calls < 3) });
    expect(end).toBe('container-exited');
    expect(calls).toBe(3);
  });

  it('an aborted signal rejects with its reason', async () => {
    const controller = new AbortController();
    const reason = new Error('SIGTERM');
    controller.abort(reason);
    await expect(watch(jobFs(), { signal: controller.signal })).rejects.toBe(reason);
  });
});

describe('waitForReadyInfo', () => {
  const READY: ReadyInfo = { port: 12001, sshdConfig: DIR.sshdConfig, nodes: ['n1', 'n2'] };

  it('returns the parsed ready file', async () => {
    const fs = jobFs();
    fs.put(DIR.ready, JSON.stringify(READY) + '\n');
    expect(await waitForReadyInfo({ fs, dir: DIR, signal: never, timeoutSeconds: 10, now: fakeClock().now, intervalMs: 0 })).toEqual(READY);
  });

  it('waits for the file to appear, and reads past a half-written one', async () => {
    const fs = jobFs();
    let reads = 0;
    const clock = fakeClock(0, 100);
    const read = fs.readFile.bind(fs);
    fs.readFile = (path: string) => {
      reads += 1;
      if (reads === 3) fs.put(DIR.ready, '{"port": 120');
      if (reads === 5) fs.put(DIR.ready, JSON.stringify(READY));
      return read(path);
    };
    expect(await waitForReadyInfo({ fs, dir: DIR, signal: never, timeoutSeconds: 10, now: clock.now, intervalMs: 0 })).toEqual(READY);
    expect(reads).toBeGreaterThanOrEqual(5);
  });

  it('throws a LaunchError when the coordinator ended the job first', async () => {
    const fs = jobFs();
    fs.put(DIR.done, '{"reason":"failed"}');
    const error: unknown = await waitForReadyInfo({ fs, dir: DIR, signal: never, timeoutSeconds: 10, now: fakeClock().now, intervalMs: 0 }).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(LaunchError);
    expect((error as Error).message).toMatch(/coordinator ended the job/);
  });

  it('throws a LaunchError naming the timeout and the file when nothing comes', async () => {
    const fs = jobFs();
    const clock = fakeClock(0, 500);
    const error: unknown = await waitForReadyInfo({ fs, dir: DIR, signal: never, timeoutSeconds: 7, now: clock.now, intervalMs: 0 }).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(LaunchError);
    expect((error as Error).message).toContain('7 s');
    expect((error as Error).message).toContain(DIR.ready);
    expect(clock.now()).toBeGreaterThanOrEqual(7000);
  });

  it('an aborted signal rejects with its reason', async () => {
    const controller = new AbortController();
    controller.abort(new Error('stop'));
    await expect(
      waitForReadyInfo({ fs: jobFs(), dir: DIR, signal: controller.signal, timeoutSeconds: 10, now: fakeClock().now }),
    ).rejects.toThrow('stop');
  });
});

describe('waitForWorkersGone', () => {
  it.each<[string, Record<string, string>, string[]]>([
    ['all gone', { n2: '{"state":"gone"}', n3: '{"state":"gone"}' }, []],
    ['failed counts as gone', { n2: '{"state":"failed","error":"x"}', n3: '{"state":"gone"}' }, []],
    ['started is still there', { n2: '{"state":"started","slots":2}', n3: '{"state":"gone"}' }, ['n2']],
    ['no status yet is still there', { n3: '{"state":"gone"}' }, ['n2']],
    ['none answered', {}, ['n2', 'n3']],
  ])('%s', async (_name, statuses, left) => {
    const fs = jobFs();
    for (const [node, json] of Object.entries(statuses)) fs.put(nodeStatusPath(DIR, node), json);
    const clock = fakeClock(0, 1000);
    expect(await waitForWorkersGone(fs, DIR, ['n2', 'n3'], 1500, clock.now)).toEqual(left);
  });

  it('no workers: nothing to wait for', async () => {
    expect(await waitForWorkersGone(jobFs(), DIR, [], 1000, fakeClock().now)).toEqual([]);
  });

  it('sees a worker that leaves while it waits', async () => {
    const fs = jobFs();
    fs.put(nodeStatusPath(DIR, 'n2'), '{"state":"started","slots":1}');
    setTimeout(() => fs.put(nodeStatusPath(DIR, 'n2'), '{"state":"gone"}'), 50);
    const start = Date.now();
    expect(await waitForWorkersGone(fs, DIR, ['n2'], 5000, () => Date.now())).toEqual([]);
    expect(Date.now() - start).toBeLessThan(2000);
  });
});
