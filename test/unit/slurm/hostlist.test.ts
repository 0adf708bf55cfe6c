import { describe, expect, it } from 'vitest';
import { UsageError } from '../../../src/platform/errors.js';
import { expandHostlist } from '../../../src/slurm/hostlist.js';

describe('expandHostlist', () => {
  it.each<[string, string[]]>([
    ['node1', ['node1']],
    ['node1,node2', ['node1', 'node2']],
    ['  node1 , node2  ', ['node1', 'node2']],
    ['dgx[01-04,07]', ['dgx01', 'dgx02', 'dgx03', 'dgx04', 'dgx07']],
    ['n[8-11]', ['n8', 'n9', 'n10', 'n11']],
    ['n[008-010]', ['n008', 'n009', 'n010']],
    ['n[09-11]', ['n09', 'n10', 'n11']],
    ['n[98-101]', ['n98', 'n99', 'n100', 'n101']],
    ['n[0-2]', ['n0', 'n1', 'n2']],
    ['x[5]', ['x5']],
    ['x[05]', ['x05']],
    ['a[1-2]b', ['a1b', 'a2b']],
    ['r[1-2]-n[01-02]', ['r1-n01', 'r1-n02', 'r2-n01', 'r2-n02']],
    ['a[1-2]b[3-4]c', ['a1b3c', 'a1b4c', 'a2b3c', 'a2b4c']],
    ['[1-2]', ['1', '2']],
    ['n[1, 3]', ['n1', 'n3']],
    ['dgx[01-02,07],cpu-a[9-11]', ['dgx01', 'dgx02', 'dgx07', 'cpu-a9', 'cpu-a10', 'cpu-a11']],
    ['n1.cluster.local,n[2-3].cluster.local', ['n1.cluster.local', 'n2.cluster.local', 'n3.cluster.local']],
    ['n[1-2],n1', ['n1', 'n2', 'n1']],
    ['n[3,1]', ['n3', 'n1']],
    ['n[1-1]', ['n1']],
  ])('expands %j', (list, hosts) => {
    expect(expandHostlist(list)).toEqual(hosts);
  });

  it('expands a large but allowed range', () => {
    const hosts = expandHostlist('n[1-100000]');
    expect(hosts).toHaveLength(100_000);
    expect(hosts.at(-1)).toBe('n100000');
  });

  it.each<[string, RegExp]>([
    ['', /the list is empty/],
    ['   ', /the list is empty/],
    ['a,,b', /empty entry at position 2/],
    ['a,', /empty entry at position 2/],
    [',a', /empty entry at position 0/],
    ['a, ,b', /empty entry/],
    ['dgx[01-', /missing "\]" at position 7/],
    ['dgx01]', /"\]" without "\[" at position 5/],
    ['a[1-2]]', /"\]" without "\["/],
    ['a[1[2]]', /nested "\[" at position 3/],
    ['a[]', /empty range part at position 2/],
    ['a[1,]', /empty range part at position 4/],
    ['a[,1]', /empty range part at position 2/],
    ['a[1-]', /"1-" at position 2 is not a number or a range N-M/],
    ['a[-3]', /is not a number or a range/],
    ['a[x-y]', /"x-y" .* is not a number/],
    ['a[1-2-3]', /is not a number or a range/],
    ['a[1.5]', /is not a number or a range/],
    ['a[5-3]', /descending range "5-3"/],
    ['a[1-100001]', /more than 100000 hosts/],
    ['a[1-60000],b[1-60000]', /expands to 120000 hosts/],
    ['a[1-1000]b[1-1000]', /expands to 1000000 hosts/],
    ['a[1-99999999999999999999]', /number too large/],
    ['a b', /whitespace inside a host name at position 1/],
    ['a[1-2] b', /whitespace inside a host name at position 6/],
  ])('rejects %j', (list, message) => {
    expect(() => expandHostlist(list)).toThrow(UsageError);
    expect(() => expandHostlist(list)).toThrow(message);
  });

  it('names the list and the fix on one line', () => {
    expect(() => expandHostlist('dgx[01-')).toThrow(
      'malformed host list "dgx[01-": missing "]" at position 7 — use the SLURM form dgx[01-04,07]',
    );
  });
});
