/**
 * --dockopts: a docker-run flag string turned into Docker Engine API create
 * options, because containers are created through the API, never the CLI.
 */
import type Docker from 'dockerode';
import { parse } from 'shell-quote';
import { UsageError } from '../platform/errors.js';
import * as v from './dockopts-values.js';

export interface DockOptions {
  /** 'K=V'. */
  env: string[];
  labels: Record<string, string>;
  /** Only the fields set by the flags. */
  hostConfig: Docker.HostConfig;
  /** Ulimits the user set explicitly: they win over defaults and must never be dropped. */
  ulimitNames: string[];
}

interface Acc {
  env: string[];
  labels: Record<string, string>;
  host: Docker.HostConfig;
  ulimits: Map<string, Docker.Ulimit>;
  sourceEnv: Record<string, string | undefined>;
}

interface FlagSpec {
  names: readonly string[];
  /** Boolean flags never take the next word as their value (docker's pflag rule). */
  boolean?: true;
  apply(acc: Acc, value: string, flag: string): void;
}

const FLAGS: readonly FlagSpec[] = [
  { names: ['-e', '--env'], apply: addEnv },
  { names: ['-v', '--volume'], apply: (a, val, f) => { a.host.Binds = [...(a.host.Binds ?? []), v.parseBind(f, val)]; } },
  { names: ['--ipc'], apply: (a, val, f) => { a.host.IpcMode = v.parseMode(f, val, ['host', 'private', 'shareable', 'none']); } },
  { names: ['--shm-size'], apply: (a, val, f) => { a.host.ShmSize = v.parseBytes(f, val); } },
  { names: ['--ulimit'], apply: (a, val, f) => { const u = v.parseUlimit(f, val); a.ulimits.set(u.Name, u); } },
  { names: ['--cap-add'], apply: (a, val) => { a.host.CapAdd = append(a.host.CapAdd, val); } },
  { names: ['--cap-drop'], apply: (a, val) => { a.host.CapDrop = append(a.host.CapDrop, val); } },
  { names: ['--device'], apply: (a, val, f) => { a.host.Devices = append(a.host.Devices, v.parseDevice(f, val)); } },
  { names: ['--gpus'], apply: (a, val, f) => { a.host.DeviceRequests = [...(a.host.DeviceRequests ?? []), v.parseGpus(f, val)]; } },
  { names: ['--security-opt'], apply: (a, val) => { a.host.SecurityOpt = append(a.host.SecurityOpt, val); } },
  { names: ['--runtime'], apply: (a, val) => { a.host.Runtime = val; } },
  { names: ['--group-add'], apply: (a, val) => { a.host.GroupAdd = [...(a.host.GroupAdd ?? []), val]; } },
  { names: ['-l', '--label'], apply: (a, val, f) => { const [k, x] = v.parseKeyValue(f, val, true); a.labels[k] = x; } },
  { names: ['--pid'], apply: (a, val, f) => { a.host.PidMode = v.parseMode(f, val, ['host']); } },
  { names: ['--tmpfs'], apply: (a, val, f) => { const [p, o] = v.parseTmpfs(f, val); a.host.Tmpfs = { ...a.host.Tmpfs, [p]: o }; } },
  { names: ['--privileged'], boolean: true, apply: (a, val, f) => { a.host.Privileged = v.parseBool(f, val); } },
  { names: ['--network', '--net'], apply: hostNetworkOnly },
  { names: ['--add-host'], apply: (a, val, f) => { a.host.ExtraHosts = append(a.host.ExtraHosts, v.parseAddHost(f, val)); } },
  { names: ['--dns'], apply: (a, val) => { a.host.Dns = append(a.host.Dns, val); } },
  { names: ['-m', '--memory'], apply: (a, val, f) => { a.host.Memory = v.parseBytes(f, val); } },
  { names: ['--cpus'], apply: (a, val, f) => { a.host.NanoCpus = v.parseCpus(f, val); } },
  { names: ['--cpuset-cpus'], apply: (a, val, f) => { a.host.CpusetCpus = v.parseCpuset(f, val); } },
  { names: ['--init'], boolean: true, apply: (a, val, f) => { a.host.Init = v.parseBool(f, val); } },
  { names: ['--sysctl'], apply: (a, val, f) => { const [k, x] = v.parseKeyValue(f, val, false); a.host.Sysctls = { ...a.host.Sysctls, [k]: x }; } },
];

export const SUPPORTED_DOCKOPTS: readonly string[] = FLAGS.map((f) => f.names.join('/'));

/** Flags that would fight what srun-docker itself sets up; each says what to do instead. */
const CONTROLLED: Readonly<Record<string, string>> = {
  '--workdir': 'srun-docker sets the working directory to the directory you run it from — cd there first',
  '--user': 'srun-docker runs the container as your own uid:gid',
  '--name': 'use --dockname to name the container',
  '--hostname': 'containers use the host network and the node name',
  '--entrypoint': 'srun-docker starts sshd in the container and runs --script itself',
  '--rm': 'srun-docker always removes its containers at the end',
  '--detach': 'srun-docker manages the containers itself; drop it',
  '--interactive': 'the job script runs non-interactively and its output streams through; drop it',
  '--tty': 'the job script runs non-interactively and its output streams through; drop it',
  '--publish': 'containers use the host network, so ports need no publishing',
};
const CONTROLLED_SHORT: Readonly<Record<string, string>> = {
  '-w': '--workdir', '-u': '--user', '-d': '--detach', '-i': '--interactive', '-t': '--tty', '-p': '--publish',
};

export function parseDockopts(input: string, env: Record<string, string | undefined>): DockOptions {
  const acc: Acc = { env: [], labels: {}, host: {}, ulimits: new Map(), sourceEnv: env };
  const words = tokenize(input, env);
  for (let i = 0; i < words.length; i++) {
    const word = words[i] ?? '';
    const { name, inline } = splitFlag(word);
    const spec = FLAGS.find((f) => f.names.includes(name));
    if (spec === undefined) throw rejected(word, name);
    let value = inline;
    if (spec.boolean) {
      value ??= 'true';
    } else if (value === undefined) {
      const next = words[i + 1];
      if (next === undefined || /^-./.test(next)) {
        throw new UsageError(`--dockopts flag "${name}" is missing its value — write ${name} VALUE or ${name}=VALUE`);
      }
      value = next;
      i++;
    }
    if (value === '') throw new UsageError(`--dockopts flag "${name}" has an empty value — give it a value or drop it`);
    spec.apply(acc, value, name);
  }
  const hostConfig = { ...acc.host };
  if (acc.ulimits.size > 0) hostConfig.Ulimits = [...acc.ulimits.values()];
  return { env: acc.env, labels: acc.labels, hostConfig, ulimitNames: [...acc.ulimits.keys()] };
}

const LIST_KEYS = [
  'Binds', 'CapAdd', 'CapDrop', 'Devices', 'DeviceRequests', 'SecurityOpt', 'GroupAdd', 'ExtraHosts', 'Dns',
] as const;

/** Lists add up, keyed maps and Ulimits (by Name) merge, scalars of `extra` win. */
export function mergeHostConfig(base: Docker.HostConfig, extra: Docker.HostConfig): Docker.HostConfig {
  const defined = Object.fromEntries(Object.entries(extra).filter(([, val]) => val !== undefined));
  const merged: Docker.HostConfig = { ...base, ...defined };
  for (const key of LIST_KEYS) {
    if (base[key] !== undefined && extra[key] !== undefined) {
      merged[key] = [...(base[key] as unknown[]), ...(extra[key] as unknown[])];
    }
  }
  if (base.Tmpfs && extra.Tmpfs) merged.Tmpfs = { ...base.Tmpfs, ...extra.Tmpfs };
  if (base.Sysctls && extra.Sysctls) merged.Sysctls = { ...base.Sysctls, ...extra.Sysctls };
  if (base.Ulimits && extra.Ulimits) {
    const byName = new Map([...base.Ulimits, ...extra.Ulimits].map((u) => [u.Name, u]));
    merged.Ulimits = [...byName.values()];
  }
  return merged;
}

/** Unquoted `$VAR` expands from the given env like a shell would; an unset one is an error, not "". */
function tokenize(input: string, env: Record<string, string | undefined>): string[] {
  const lookup = (key: string): string => {
    if (key === '') return '$';
    const value = env[key];
    if (value === undefined) {
      throw new UsageError(`--dockopts uses $${key}, which is not set — set it, or put the word in single quotes to keep the $ literally`);
    }
    return value;
  };
  return parse(input, lookup).map((entry) => {
    if (typeof entry === 'string') return entry;
    const text = 'op' in entry ? (entry.op === 'glob' ? entry.pattern : entry.op) : `#${entry.comment}`;
    throw new UsageError(`--dockopts contains the shell syntax "${text}", which is not a docker flag — quote it if it is part of a value`);
  });
}

/** `--flag=value`, `--flag`, `-e VALUE`, `-eVALUE`, `-e=VALUE` (docker's pflag forms). */
function splitFlag(word: string): { name: string; inline: string | undefined } {
  if (word.startsWith('--')) {
    const eq = word.indexOf('=');
    return eq < 0 ? { name: word, inline: undefined } : { name: word.slice(0, eq), inline: word.slice(eq + 1) };
  }
  if (/^-[A-Za-z]/.test(word)) {
    const rest = word.slice(2);
    return { name: word.slice(0, 2), inline: rest === '' ? undefined : rest.replace(/^=/, '') };
  }
  return { name: word, inline: undefined };
}

function rejected(word: string, name: string): UsageError {
  if (!word.startsWith('-') || word === '-' || word === '--') {
    return new UsageError(`unexpected word "${word}" in --dockopts — every value must follow its flag, e.g. -e FOO=bar`);
  }
  const reason = CONTROLLED[CONTROLLED_SHORT[name] ?? name];
  if (reason !== undefined) return new UsageError(`--dockopts flag "${word.split('=')[0]}" is not allowed: ${reason}`);
  return new UsageError(`unsupported --dockopts flag "${word.split('=')[0]}"; supported: ${SUPPORTED_DOCKOPTS.join(', ')}`);
}

function addEnv(acc: Acc, value: string, flag: string): void {
  const eq = value.indexOf('=');
  if (eq === 0) throw new UsageError(`--dockopts ${flag} "${value}": expected NAME=value or NAME`);
  if (eq > 0) {
    acc.env.push(value);
    return;
  }
  // docker's `-e NAME` passes the caller's value through, and nothing when it is unset.
  const fromCaller = acc.sourceEnv[value];
  if (fromCaller !== undefined) acc.env.push(`${value}=${fromCaller}`);
}

function hostNetworkOnly(acc: Acc, value: string, flag: string): void {
  if (value !== 'host') {
    throw new UsageError(`--dockopts ${flag}=${value} is not possible: srun-docker always uses the host network (MPI and sshd need it) — drop the flag`);
  }
  acc.host.NetworkMode = 'host';
}

/** For HostConfig fields that @types/dockerode types as `any`. */
function append<T>(list: unknown, item: T): T[] {
  return [...((list as T[] | undefined) ?? []), item];
}
