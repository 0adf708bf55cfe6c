import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { WATCHDOG_SCRIPT } from '../../src/container-command.js';

/**
 * The container's watchdog, run for real by /bin/sh: sshd is replaced by a long sleep, and `sleep`
 * by a function that counts rounds (no real 5 s waits) and can change the heartbeat ($hb) between
 * rounds.
 */
function fastWatchdog(onRound: string): string {
  const sshd = '/usr/sbin/sshd -D -e -f "$1" -p "$2"';
  expect(WATCHDOG_SCRIPT).toContain(sshd);
  return [
    'rounds=0; hb=$3',
    `sleep() { command sleep 0.01; rounds=$((rounds + 1)); ${onRound} }`,
    'trap \'echo "rounds=$rounds" >>"$5"\' EXIT',
    WATCHDOG_SCRIPT.replace(sshd, 'command sleep 30'),
  ].join('\n');
}

describe('the container watchdog', () => {
  let dir = '';
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'srun-docker-watchdog-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function run(onRound: string): Promise<string> {
    const heartbeat = join(dir, 'heartbeat');
    const log = join(dir, 'sshd.log');
    await writeFile(heartbeat, '1\n');
    // stale after 15 "seconds": three rounds of 5 without a new beat
    const result = await execa('/bin/sh', ['-c', fastWatchdog(onRound), 'srun-docker-watchdog', 'cfg', '1', heartbeat, '15', log], { timeout: 20_000, reject: false });
    expect(result.exitCode, result.all).toBe(0);
    return readFile(log, 'utf8');
  }

  it('ends after three rounds without a new beat once the heartbeat stops', async () => {
    const log = await run('');
    expect(log).toContain('no heartbeat from the coordinator for 15 s; ending');
    expect(log).toContain('rounds=4'); // round 1 sees the beat, rounds 2-4 see it frozen
  });

  it('counts a heartbeat file that disappears (job directory removed) as stopped, not as a new beat', async () => {
    const log = await run('[ "$rounds" = 2 ] && rm -f "$hb";');
    expect(log).toContain('no heartbeat from the coordinator for 15 s; ending');
    expect(log).toContain('rounds=4');
  });

  it('keeps running while the heartbeat moves', async () => {
    // a new beat every round for 10 rounds, then it stops: ends 3 rounds later
    const log = await run('[ "$rounds" -le 10 ] && echo "$rounds" >"$hb";');
    expect(log).toContain('rounds=13');
  });
});
