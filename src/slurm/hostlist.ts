/**
 * SLURM compressed host lists (`dgx[01-04,07],cpu-a[9-11]`), expanded natively
 * so that no node needs `scontrol` on its PATH.
 */
import { UsageError } from '../platform/errors.js';

/** Expansion beyond this is a typo (`n[1-1000000]`), not a cluster. */
export const MAX_HOSTS = 100_000;

/** One name template: literal text and bracket groups, in order. */
type Segment = string | string[];

/**
 * Expand a SLURM host list into host names, in order, duplicates kept.
 * Several bracket groups in one name vary like an odometer: leftmost slowest.
 */
export function expandHostlist(list: string): string[] {
  const entries = splitTopLevel(list);
  const templates = entries.map((e) => parseEntry(list, e.text, e.start));
  const total = templates.reduce((sum, t) => sum + countNames(t), 0);
  if (total > MAX_HOSTS) {
    throw malformed(list, `expands to ${total} hosts, more than the limit of ${MAX_HOSTS}`);
  }
  return templates.flatMap(expandTemplate);
}

interface Entry {
  text: string;
  start: number;
}

/** Commas inside brackets belong to the bracket; only depth-0 commas separate entries. */
function splitTopLevel(list: string): Entry[] {
  if (list.trim() === '') throw malformed(list, 'the list is empty');
  const entries: Entry[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i <= list.length; i++) {
    const ch = list[i];
    if (ch === '[') {
      if (depth > 0) throw malformed(list, `nested "[" at position ${i}`);
      depth = 1;
    } else if (ch === ']') {
      if (depth === 0) throw malformed(list, `"]" without "[" at position ${i}`);
      depth = 0;
    } else if (ch === undefined || (ch === ',' && depth === 0)) {
      if (ch === undefined && depth > 0) throw malformed(list, `missing "]" at position ${i}`);
      entries.push(trimmedEntry(list, start, i));
      start = i + 1;
    }
  }
  return entries;
}

function trimmedEntry(list: string, start: number, end: number): Entry {
  const raw = list.slice(start, end);
  const text = raw.trim();
  if (text === '') throw malformed(list, `empty entry at position ${start}`);
  return { text, start: start + raw.indexOf(text) };
}

/** Brackets are already known to be balanced and flat here. */
function parseEntry(list: string, text: string, offset: number): Segment[] {
  const segments: Segment[] = [];
  const literal = (from: number, to: number): void => {
    if (to <= from) return;
    const piece = text.slice(from, to);
    const ws = /\s/.exec(piece);
    if (ws) throw malformed(list, `whitespace inside a host name at position ${offset + from + ws.index}`);
    segments.push(piece);
  };
  const bracket = /\[([^\]]*)\]/g;
  let last = 0;
  for (let m = bracket.exec(text); m !== null; m = bracket.exec(text)) {
    literal(last, m.index);
    segments.push(parseRanges(list, m[1] ?? '', offset + m.index + 1));
    last = m.index + m[0].length;
  }
  literal(last, text.length);
  return segments;
}

/** `01-04,07` → ['01','02','03','04','07']; the lower bound's width sets the zero padding. */
function parseRanges(list: string, body: string, offset: number): string[] {
  const values: string[] = [];
  let pos = offset;
  for (const part of body.split(',')) {
    const p = part.trim();
    if (p === '') throw malformed(list, `empty range part at position ${pos}`);
    const m = /^(\d+)(?:-(\d+))?$/.exec(p);
    if (!m) throw malformed(list, `"${p}" at position ${pos} is not a number or a range N-M`);
    const lowText = m[1] ?? '';
    const low = Number(lowText);
    const high = m[2] === undefined ? low : Number(m[2]);
    if (!Number.isSafeInteger(low) || !Number.isSafeInteger(high)) {
      throw malformed(list, `number too large in "${p}" at position ${pos}`);
    }
    if (high < low) throw malformed(list, `descending range "${p}" at position ${pos}`);
    if (values.length + (high - low + 1) > MAX_HOSTS) {
      throw malformed(list, `"[${body}]" expands to more than ${MAX_HOSTS} hosts`);
    }
    for (let n = low; n <= high; n++) values.push(String(n).padStart(lowText.length, '0'));
    pos += part.length + 1;
  }
  return values;
}

function countNames(template: Segment[]): number {
  return template.reduce((n, s) => (typeof s === 'string' ? n : n * s.length), 1);
}

function expandTemplate(template: Segment[]): string[] {
  let names = [''];
  for (const seg of template) {
    const choices = typeof seg === 'string' ? [seg] : seg;
    names = names.flatMap((prefix) => choices.map((c) => prefix + c));
  }
  return names;
}

function malformed(list: string, what: string): UsageError {
  return new UsageError(
    `malformed host list "${list}": ${what} — use the SLURM form dgx[01-04,07]`,
  );
}

/**
 * Pure: the SLURM-style compressed form of a list of names (`node[1-3,7],login1`), for lines that
 * name many nodes at once. Names with the same prefix and a numeric suffix of the same width share
 * brackets; order of first appearance is kept.
 */
export function compressHostlist(names: readonly string[]): string {
  const groups = new Map<string, { prefix: string; numbers: number[]; width: number }>();
  const order: (string | { key: string })[] = [];
  for (const name of new Set(names)) {
    const match = /^(.*?)(\d+)$/.exec(name);
    if (match === null) {
      order.push(name);
      continue;
    }
    const [, prefix = '', digits = ''] = match;
    const width = digits.startsWith('0') ? digits.length : 0;
    const key = `${prefix}\u0000${width}`;
    const group = groups.get(key);
    if (group === undefined) {
      groups.set(key, { prefix, numbers: [Number(digits)], width });
      order.push({ key });
    } else group.numbers.push(Number(digits));
  }
  return order
    .map((item) => {
      if (typeof item === 'string') return item;
      const group = groups.get(item.key);
      if (group === undefined) return '';
      const pad = (n: number): string => String(n).padStart(group.width, '0');
      if (group.numbers.length === 1) return `${group.prefix}${pad(group.numbers[0] ?? 0)}`;
      return `${group.prefix}[${ranges([...group.numbers].sort((a, b) => a - b)).map(([a, b]) => (a === b ? pad(a) : `${pad(a)}-${pad(b)}`)).join(',')}]`;
    })
    .join(',');
}

function ranges(sorted: readonly number[]): [number, number][] {
  const out: [number, number][] = [];
  for (const n of sorted) {
    const last = out[out.length - 1];
    if (last !== undefined && n === last[1] + 1) last[1] = n;
    else if (last === undefined || n !== last[1]) out.push([n, n]);
  }
  return out;
}
