import { describe, expect, it } from 'vitest';
import { FactLog, onNodes } from '../../../src/roles/facts.js';
import { compressHostlist, expandHostlist } from '../../../src/slurm/hostlist.js';
import { fakeLogger } from '../fakes.js';

describe('compressHostlist', () => {
  it.each<[string[], string]>([
    [['node1'], 'node1'],
    [['node1', 'node2', 'node3'], 'node[1-3]'],
    [['node3', 'node1', 'node2', 'node7'], 'node[1-3,7]'],
    [['dgx01', 'dgx02', 'dgx04'], 'dgx[01-02,04]'],
    [['dgx01', 'cpu-a9', 'dgx02', 'cpu-a10', 'cpu-a11'], 'dgx[01-02],cpu-a[9-11]'],
    [['login', 'node1', 'node1'], 'login,node1'],
  ])('%j → %s', (names, compressed) => {
    expect(compressHostlist(names)).toBe(compressed);
  });

  it('expands back to the same names (as a set)', () => {
    const names = Array.from({ length: 1000 }, (_, i) => `n${String(i + 1).padStart(4, '0')}`).filter((_, i) => i % 7 !== 3);
    expect(new Set(expandHostlist(compressHostlist(names)))).toEqual(new Set(names));
  });
});

describe('FactLog: one line per fact per job', () => {
  it('says a fact several nodes reported once, at the flush, with the nodes it concerns', () => {
    const log = fakeLogger();
    const facts = new FactLog(log, true);
    for (const node of ['node2', 'node1', 'node3']) facts.note('ulimit-memlock', 'cannot raise memlock', node);
    facts.note('pull', 'pulled IMG', 'node2');
    expect(log.lines.warn).toEqual([]);
    facts.flush();
    expect(log.lines.warn).toEqual(['cannot raise memlock (on 3 nodes: node[1-3])', 'pulled IMG (on node2)']);
    facts.flush();
    expect(log.lines.warn).toHaveLength(2);
  });

  it('after the flush a new fact is said at once; a one-node job says no node at all', () => {
    const log = fakeLogger();
    const many = new FactLog(log, true);
    many.flush();
    many.note('k', 'late', 'node4');
    const one = new FactLog(log, false);
    one.flush();
    one.note('k', 'alone', 'vm');
    expect(log.lines.warn).toEqual(['late (on node4)', 'alone']);
  });

  it('onNodes', () => {
    expect(onNodes(['a1'])).toBe('on a1');
    expect(onNodes(['a1', 'a2'])).toBe('on 2 nodes: a[1-2]');
  });
});
