/**
 * Value parsers for --dockopts flags, following docker run's own syntax so a
 * flag string that works with `docker run` means the same thing here.
 */
import type Docker from 'dockerode';
import { UsageError } from '../platform/errors.js';

/** Docker's RAMInBytes: binary multiples, optional "i"/"b" (8g, 8gb, 8GiB, 512m, 1.5g, 100). */
export function parseBytes(flag: string, value: string): number {
  const m = /^(\d+(?:\.\d+)?) ?([kmgtp])?i?b?$/i.exec(value);
  const power = m?.[2] === undefined ? 0 : 'kmgtp'.indexOf(m[2].toLowerCase()) + 1;
  const bytes = m ? Math.floor(Number(m[1]) * 1024 ** power) : NaN;
  if (!Number.isSafeInteger(bytes) || bytes <= 0) {
    throw bad(flag, value, 'a positive size with an optional unit b, k, m or g, e.g. 8g or 512m');
  }
  return bytes;
}

const ULIMIT_NAMES = [
  'core', 'cpu', 'data', 'fsize', 'locks', 'memlock', 'msgqueue', 'nice',
  'nofile', 'nproc', 'rss', 'rtprio', 'rttime', 'sigpending', 'stack',
] as const;

/** `name=soft[:hard]`; -1 and "unlimited" both mean unlimited and stay -1 for the API. */
export function parseUlimit(flag: string, value: string): Docker.Ulimit & { Name: string } {
  const expected = `name=soft[:hard] with name one of ${ULIMIT_NAMES.join(', ')} and numbers, -1 or unlimited, e.g. memlock=-1:-1`;
  const [name = '', limits = '', ...rest] = value.split('=');
  const [softText = '', hardText = softText, ...extra] = limits.split(':');
  if (rest.length > 0 || extra.length > 0 || !(ULIMIT_NAMES as readonly string[]).includes(name)) {
    throw bad(flag, value, expected);
  }
  const soft = limit(softText);
  const hard = limit(hardText);
  if (soft === undefined || hard === undefined) throw bad(flag, value, expected);
  if (hard !== -1 && (soft === -1 || soft > hard)) {
    throw bad(flag, value, 'a soft limit no higher than the hard limit');
  }
  return { Name: name, Soft: soft, Hard: hard };
}

function limit(text: string): number | undefined {
  if (text === '-1' || text === 'unlimited') return -1;
  return /^\d+$/.test(text) && Number.isSafeInteger(Number(text)) ? Number(text) : undefined;
}

const BIND_OPTIONS = new Set([
  'ro', 'rw', 'z', 'Z', 'shared', 'slave', 'private', 'rshared', 'rslave', 'rprivate',
  'nocopy', 'consistent', 'cached', 'delegated',
]);

/** `src:dst[:opts]`; a relative src is a docker volume name, so it must look like one. */
export function parseBind(flag: string, value: string): string {
  const [src = '', dst = '', opts, ...rest] = value.split(':');
  const srcOk = src.startsWith('/') || /^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(src);
  const optsOk = opts === undefined || (opts !== '' && opts.split(',').every((o) => BIND_OPTIONS.has(o)));
  if (rest.length > 0 || !srcOk || !dst.startsWith('/') || !optsOk) {
    throw bad(flag, value, 'src:dst[:opts] with an absolute host path or volume name, an absolute container path and options like ro, e.g. /datasets:/data:ro');
  }
  return value;
}

/** `host[:container[:perms]]`, or `host:perms` as docker also accepts. */
export function parseDevice(flag: string, value: string): Docker.DeviceMapping {
  const parts = value.split(':');
  const [host = '', second, third, ...rest] = parts;
  const secondIsPerms = parts.length === 2 && second !== undefined && /^[rwm]+$/.test(second);
  const container = secondIsPerms ? host : (second ?? host);
  const perms = secondIsPerms ? (second ?? '') : (third ?? 'rwm');
  if (rest.length > 0 || !host.startsWith('/') || !container.startsWith('/') || !/^[rwm]{1,3}$/.test(perms)) {
    throw bad(flag, value, 'host[:container[:perms]] with absolute paths and perms from rwm, e.g. /dev/infiniband/uverbs0');
  }
  return { PathOnHost: host, PathInContainer: container, CgroupPermissions: perms };
}

/** `all`, `N`, `count=N|all` or `device=0,1` (docker wants the latter quoted, so quotes are stripped). */
export function parseGpus(flag: string, value: string): Docker.DeviceRequest {
  const v = value.replace(/^"(.*)"$/, '$1');
  const base = { Driver: 'nvidia', Capabilities: [['gpu']] };
  const count = v.startsWith('count=') ? v.slice('count='.length) : v;
  if (count === 'all') return { ...base, Count: -1 };
  if (/^\d+$/.test(count) && Number(count) > 0) return { ...base, Count: Number(count) };
  const ids = v.startsWith('device=') ? v.slice('device='.length).split(',') : [];
  if (ids.length === 0 || ids.some((id) => !/^[\w-]+$/.test(id))) {
    throw bad(flag, value, 'all, a GPU count, or device=ID[,ID...], e.g. --gpus all or --gpus device=0,1');
  }
  return { ...base, DeviceIDs: ids };
}

/** `key=value`; a bare `key` is allowed only where docker allows it (labels). */
export function parseKeyValue(flag: string, value: string, bareAllowed: boolean): [string, string] {
  const eq = value.indexOf('=');
  const key = eq < 0 ? value : value.slice(0, eq);
  if (key === '' || /\s/.test(key) || (eq < 0 && !bareAllowed)) {
    throw bad(flag, value, bareAllowed ? 'key or key=value' : 'key=value');
  }
  return [key, eq < 0 ? '' : value.slice(eq + 1)];
}

/** `--tmpfs /path[:options]` → [path, options]. */
export function parseTmpfs(flag: string, value: string): [string, string] {
  const colon = value.indexOf(':');
  const path = colon < 0 ? value : value.slice(0, colon);
  if (!path.startsWith('/')) throw bad(flag, value, 'an absolute path with optional mount options, e.g. /scratch:size=4g');
  return [path, colon < 0 ? '' : value.slice(colon + 1)];
}

/** `name:ip`, or `name=ip` as newer docker accepts; the API wants `name:ip`. */
export function parseAddHost(flag: string, value: string): string {
  const m = /^([^:=\s]+)[:=](\S+)$/.exec(value);
  if (!m) throw bad(flag, value, 'host:ip, e.g. storage01:10.0.0.5');
  return `${m[1]}:${m[2]}`;
}

export function parseCpus(flag: string, value: string): number {
  const nano = /^\d+(?:\.\d+)?$/.test(value) ? Math.round(Number(value) * 1e9) : 0;
  if (nano <= 0 || !Number.isSafeInteger(nano)) throw bad(flag, value, 'a positive number of CPUs, e.g. 8 or 1.5');
  return nano;
}

export function parseCpuset(flag: string, value: string): string {
  if (!/^\d+(-\d+)?(,\d+(-\d+)?)*$/.test(value)) throw bad(flag, value, 'a CPU list like 0-3,8');
  return value;
}

/** Namespace modes: a fixed set plus `container:<name>`. */
export function parseMode(flag: string, value: string, modes: readonly string[]): string {
  if (modes.includes(value) || /^container:\S+$/.test(value)) return value;
  throw bad(flag, value, `one of ${modes.join(', ')} or container:<name>`);
}

export function parseBool(flag: string, value: string): boolean {
  if (value === 'true' || value === '1') return true;
  if (value === 'false' || value === '0') return false;
  throw bad(flag, value, 'true or false (or no value)');
}

function bad(flag: string, value: string, expected: string): UsageError {
  return new UsageError(`--dockopts ${flag} "${value}": expected ${expected}`);
}
