import { describe, expect, it } from 'vitest';
import { CHANNEL_PORT_CANDIDATES, channelPorts } from '../../../src/channel/ports.js';

describe('channelPorts', () => {
  it('every node computes the same list; the candidates are distinct, below the ephemeral range, apart from sshd and MASTER_PORT', () => {
    const ports = channelPorts('4242', '0');
    expect(channelPorts('4242', '0')).toEqual(ports);
    expect(ports).toHaveLength(CHANNEL_PORT_CANDIDATES);
    expect(new Set(ports).size).toBe(ports.length);
    for (const port of ports) {
      expect(port).toBeGreaterThanOrEqual(30_000);
      expect(port).toBeLessThan(32_768);
    }
  });

  it('job steps of one job, and consecutive jobs, start at different ports', () => {
    const firsts = new Set<number>();
    for (let job = 1000; job < 1100; job += 1) for (const step of ['0', '1', 'batch']) firsts.add(channelPorts(String(job), step)[0] ?? 0);
    // 300 job steps over 2,700 ports: a few may share a first port (the fallback handles that), most do not
    expect(firsts.size).toBeGreaterThan(270);
  });
});
