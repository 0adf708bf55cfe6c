import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ensureJobDir, startHeartbeat, STATUS_READS_AT_ONCE, statusPollMs, waitForWorkersGone, watchIntervalMs, watchUntilDone, type WatchInput } from '../../src/coordination.js';
import { nodeFileSystem } from '../../src/fs.js';
import { jobDirFor, nodeStatusPath } from '../../src/jobdir.js';
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

describe('watchIntervalMs', () => {
  it.each<[number, number]>([
    [1, 20],
    [3, 20],
    [200, 20],
    [256, 26],
    [1000, 100],
    [2500, 250],
    [10_000, 250],
  ])('%d nodes → every %d ms', (nodes, ms) => {
    expect(watchIntervalMs(nodes)).toBe(ms);
  });

  it('keeps the whole job under about 10,000 reads a second up to 2,500 nodes', () => {
    for (const nodes of [10, 100, 500, 1000, 2500]) expect(nodes * (1000 / watchIntervalMs(nodes))).toBeLessThanOrEqual(10_000);
  });
});
describe('statusPollMs (the coordinator\'s short waits)', () => {
  it.each<[number, number]>([
    [2, 5],
    [50, 5],
    [256, 26],
    [1000, 100],
    [10_000, 250],
  ])('%d nodes → every %d ms', (nodes, ms) => {
    expect(statusPollMs(nodes)).toBe(ms);
  });

  it('keeps the whole job under ~10,000 status reads a second at any size', () => {
    for (const nodes of [2, 10, 50, 100, 500, 1000, 2500]) expect(nodes * (1000 / statusPollMs(nodes))).toBeLessThanOrEqual(10_000);
  });
});


describe('ensureJobDir on the real file system', () => {
  let home: string;
  beforeEach(async () => {
    home = await mkdtemp(join(tmpdir(), 'srun-docker-jobdir-'));
  });
  afterEach(async () => {
    await rm(home, { recursive: true, force: true });
  });

  it('makes the jobs dir, the job dir and its nodes dir, each 0700, whatever the umask', async () => {
    const dir = jobDirFor(home, '77', '0');
    const old = process.umask(0o002);
    try {
      await ensureJobDir(nodeFileSystem, dir);
    } finally {
      process.umask(old);
    }
    for (const path of [join(home, '.srun-docker', 'jobs'), dir.root, dir.nodesDir]) expect((await stat(path)).mode & 0o777, path).toBe(0o700);
  });

  it('two nodes making it at once both succeed, and a second call keeps what is there', async () => {
    const dir = jobDirFor(home, '77', '0');
    await Promise.all([ensureJobDir(nodeFileSystem, dir), ensureJobDir(nodeFileSystem, dir)]);
    await nodeFileSystem.writeFile(join(dir.nodesDir, 'n2.json'), '{}', 0o600);
    await ensureJobDir(nodeFileSystem, dir);
    expect(await nodeFileSystem.readFile(join(dir.nodesDir, 'n2.json'))).toBe('{}');
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

  it(`1,000 workers: never more than STATUS_READS_AT_ONCE (${STATUS_READS_AT_ONCE}) status files read at once`, async () => {
    const fs = jobFs();
    const workers = Array.from({ length: 1000 }, (_, i) => `n${i}`);
    for (const node of workers) fs.put(nodeStatusPath(DIR, node), '{"state":"gone"}');
    let open = 0;
    let most = 0;
    const read = fs.readFile.bind(fs);
    fs.readFile = async (path: string) => {
      open += 1;
      most = Math.max(most, open);
      await new Promise((r) => setTimeout(r, 1));
      open -= 1;
      return read(path);
    };
    expect(await waitForWorkersGone(fs, DIR, workers, 10_000, () => Date.now())).toEqual([]);
    expect(most).toBe(STATUS_READS_AT_ONCE);
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

describe('startHeartbeat', () => {
  it('its stop waits for the write under way (the job directory is removed right after)', async () => {
    const fs = jobFs();
    let finish: () => void = () => undefined;
    const realWrite = fs.writeFile.bind(fs);
    fs.writeFile = (path: string, text: string) =>
      new Promise<void>((resolve) => {
        finish = () => void realWrite(path, text).then(resolve);
      });
    const stop = startHeartbeat(fs, DIR);
    let stopped = false;
    const stopping = stop().then(() => (stopped = true));
    await new Promise((r) => setTimeout(r, 10));
    expect(stopped).toBe(false);
    finish();
    await stopping;
    expect(await fs.readFile(DIR.heartbeat)).toBe('1\n');
  });
});
