import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { WATCHDOG_SCRIPT } from '../../src/container-command.js';

/**
 * The container's watchdog, run for real by /bin/sh: sshd is replaced by a sleep (30 s, or `sshdLives`),
 * and `sleep` by a function that counts rounds — a round is one second of the real script, the
 * heartbeat is read every 5th — with no real waits, and can change the heartbeat ($hb) between rounds.
 */
function fastWatchdog(onRound: string, sshdLives = '30'): string {
  const sshd = '/usr/sbin/sshd -D -e -f "$1" -p "$2"';
  expect(WATCHDOG_SCRIPT).toContain(sshd);
  return [
    'rounds=0; hb=$3',
    `sleep() { command sleep 0.01; rounds=$((rounds + 1)); ${onRound} }`,
    'trap \'echo "rounds=$rounds" >>"$5"\' EXIT',
    WATCHDOG_SCRIPT.replace(sshd, `command sleep ${sshdLives}`),
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

  async function run(onRound: string, sshdLives?: string): Promise<string> {
    const heartbeat = join(dir, 'heartbeat');
    const log = join(dir, 'sshd.log');
    await writeFile(heartbeat, '1\n');
    // stale after 15 "seconds": three rounds of 5 without a new beat
    const result = await execa('/bin/sh', ['-c', fastWatchdog(onRound, sshdLives), 'srun-docker-watchdog', 'cfg', '1', heartbeat, '15', log], { timeout: 20_000, reject: false });
    expect(result.exitCode, result.all).toBe(0);
    return readFile(log, 'utf8');
  }

  it('ends after three looks without a new beat once the heartbeat stops', async () => {
    const log = await run('');
    expect(log).toContain('no heartbeat from the coordinator for 15 s; ending');
    expect(log).toContain('rounds=20'); // the look at 5 s sees the beat, those at 10, 15, 20 see it frozen
  });

  it('counts a heartbeat file that disappears (job directory removed) as stopped, not as a new beat', async () => {
    const log = await run('[ "$rounds" = 2 ] && rm -f "$hb";');
    expect(log).toContain('no heartbeat from the coordinator for 15 s; ending');
    expect(log).toContain('rounds=15');
  });

  it('keeps running while the heartbeat moves', async () => {
    // a new beat every second for 10 s, then it stops: the looks at 15, 20, 25 s see it frozen
    const log = await run('[ "$rounds" -le 10 ] && echo "$rounds" >"$hb";');
    expect(log).toContain('rounds=25');
  });

  it('an sshd that dies at once (it could not start) ends the container within a second, not five', async () => {
    const log = await run('', '0');
    expect(log).not.toContain('no heartbeat');
    expect(log).toMatch(/^rounds=[01]$/m);
  });
});
