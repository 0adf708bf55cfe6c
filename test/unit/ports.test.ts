import { createServer, type Server } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { assertPortFree, defaultSshdPort, masterPort, PortInUseError } from '../../src/ports.js';

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

describe('masterPort', () => {
  it.each(JOB_IDS)('job %s: in [20000, 29999], deterministic, apart from the sshd range', (jobId) => {
    const port = masterPort(jobId);
    expect(port).toBeGreaterThanOrEqual(20_000);
    expect(port).toBeLessThanOrEqual(29_999);
    expect(masterPort(jobId)).toBe(port);
  });

  it('differs for consecutive jobs', () => {
    expect(masterPort('100')).not.toBe(masterPort('101'));
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

  it('a free port resolves, and is free again afterwards', async () => {
    const port = await listenAnywhere();
    await new Promise<void>((resolve) => server?.close(() => resolve()));
    server = undefined;
    await expect(assertPortFree(port, 'n1')).resolves.toBeUndefined();
    await expect(assertPortFree(port, 'n1')).resolves.toBeUndefined();
  });
});
