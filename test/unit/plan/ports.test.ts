import { createServer, type Server } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { assertPortFree, AVOIDED_PORTS, defaultMasterPort, defaultSshdPort, firstFreePort, masterPortCandidates, PortInUseError, sshdPortCandidates } from '../../../src/plan/ports.js';

const JOB_IDS = ['1', '2', '42', '43', '999999', '1000000', '4294967295', 'local-1234', 'local-1235'];

describe('defaultSshdPort', () => {
  it.each(JOB_IDS)('job %s: in [10000, 19999] and deterministic', (jobId) => {
    for (const step of ['0', '1', '7', 'batch', 'extern']) {
      const port = defaultSshdPort(jobId, step);
      expect(port).toBeGreaterThanOrEqual(10_000);
      expect(port).toBeLessThanOrEqual(19_999);
      expect(Number.isInteger(port)).toBe(true);
      expect(defaultSshdPort(jobId, step)).toBe(port);
    }
  });

  it.each<[string, string]>([
    ['100', '101'],
    ['123456', '123457'],
    ['9999999', '10000000'],
    ['613566756', '613566757'],
    ['local-1', 'local-2'],
  ])('differs for consecutive jobs %s and %s', (a, b) => {
    expect(defaultSshdPort(a, '0')).not.toBe(defaultSshdPort(b, '0'));
  });

  it('differs for consecutive steps of one job', () => {
    const ports = ['0', '1', '2', '3'].map((s) => defaultSshdPort('4242', s));
    expect(new Set(ports).size).toBe(4);
  });

  it('differs between steps of 100 consecutive jobs on one node', () => {
    const ports = Array.from({ length: 100 }, (_, i) => defaultSshdPort(String(5000 + i), '0'));
    expect(new Set(ports).size).toBe(100);
  });
});

describe('port candidates per job step', () => {
  it.each(JOB_IDS)('job %s: MASTER_PORT in [20000, 29999], deterministic, apart from the sshd range', (jobId) => {
    for (const step of ['0', '1', 'batch']) {
      const port = defaultMasterPort(jobId, step);
      expect(port).toBeGreaterThanOrEqual(20_000);
      expect(port).toBeLessThanOrEqual(29_999);
      expect(defaultMasterPort(jobId, step)).toBe(port);
    }
  });

  it('MASTER_PORT is per job step, not per job', () => {
    const ports = ['0', '1', '2', '3'].map((s) => defaultMasterPort('4242', s));
    expect(new Set(ports).size).toBe(4);
  });

  it.each<[string, string]>([
    ['100', '10100'],
    ['5', '20005'],
    ['123456', '133456'],
  ])('jobs 10,000 apart no longer share step 0\'s ports (%s, %s)', (a, b) => {
    expect(defaultSshdPort(a, '0')).not.toBe(defaultSshdPort(b, '0'));
    expect(defaultMasterPort(a, '0')).not.toBe(defaultMasterPort(b, '0'));
  });

  it('step 0 of 5,000 consecutive jobs: all sshd ports differ, all MASTER_PORTs differ', () => {
    const jobs = Array.from({ length: 5000 }, (_, i) => String(700_000 + i));
    expect(new Set(jobs.map((j) => defaultSshdPort(j, '0'))).size).toBe(5000);
    expect(new Set(jobs.map((j) => defaultMasterPort(j, '0'))).size).toBe(5000);
  });

  it('steps 0-3 of 200 consecutive jobs never share a first sshd port', () => {
    const all = Array.from({ length: 200 }, (_, i) => String(9000 + i)).flatMap((j) => ['0', '1', '2', '3'].map((s) => defaultSshdPort(j, s)));
    expect(new Set(all).size).toBe(all.length);
  });

  it('an ordered list of distinct candidates that every node computes alike, never an avoided port', () => {
    for (const jobId of JOB_IDS) {
      const sshd = sshdPortCandidates(jobId, '0');
      const master = masterPortCandidates(jobId, '0');
      expect(sshd.length).toBeGreaterThanOrEqual(4);
      expect(new Set(sshd).size).toBe(sshd.length);
      expect(sshdPortCandidates(jobId, '0')).toEqual(sshd);
      expect(sshd[0]).toBe(defaultSshdPort(jobId, '0'));
      expect([...sshd, ...master].filter((p) => AVOIDED_PORTS.has(p))).toEqual([]);
      expect(sshd.filter((p) => master.includes(p))).toEqual([]);
    }
  });

  it('avoids the ports of services common on clusters, in every job', () => {
    for (const port of [6817, 6818, 6819, 8080, 8888, 11211, 2375, 2376, 12345, 29500, 29400]) expect(AVOIDED_PORTS.has(port)).toBe(true);
    const firsts = Array.from({ length: 20_000 }, (_, i) => [defaultSshdPort(String(i), '0'), defaultMasterPort(String(i), '0')]).flat();
    expect(firsts.filter((p) => AVOIDED_PORTS.has(p))).toEqual([]);
  });
});

describe('assertPortFree', () => {
  let server: Server | undefined;
  afterEach(async () => {
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
    server = undefined;
  });

  async function listenAnywhere(): Promise<number> {
    const s = createServer();
    server = s;
    await new Promise<void>((resolve) => s.listen({ port: 0, host: '0.0.0.0' }, resolve));
    const address = s.address();
    if (address === null || typeof address === 'string') throw new Error('no port');
    return address.port;
  }

  it('a port someone listens on is a PortInUseError naming the port and node', async () => {
    const port = await listenAnywhere();
    const error: unknown = await assertPortFree(port, 'n1').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PortInUseError);
    expect((error as PortInUseError).port).toBe(port);
    expect((error as PortInUseError).node).toBe('n1');
    expect((error as PortInUseError).exitCode).toBe(1);
    expect((error as Error).message).toContain(`port ${port} is already in use on n1`);
    expect((error as Error).message).toContain('--sshdport');
  });

  it('firstFreePort skips a candidate someone listens on', async () => {
    const taken = await listenAnywhere();
    const free = await (async () => {
      const s = createServer();
      await new Promise<void>((resolve) => s.listen({ port: 0, host: '0.0.0.0' }, resolve));
      const a = s.address();
      await new Promise<void>((resolve) => s.close(() => resolve()));
      return typeof a === 'object' && a !== null ? a.port : 0;
    })();
    await expect(firstFreePort([taken, free])).resolves.toBe(free);
  });

  it('a free port resolves, and is free again afterwards', async () => {
    const port = await listenAnywhere();
    await new Promise<void>((resolve) => server?.close(() => resolve()));
    server = undefined;
    await expect(assertPortFree(port, 'n1')).resolves.toBeUndefined();
    await expect(assertPortFree(port, 'n1')).resolves.toBeUndefined();
  });
});
