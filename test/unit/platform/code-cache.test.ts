import { buildSync } from 'esbuild';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { buildIdOf, cacheDirFor, cacheFileName, runBundle, trustedDir, type RunEffects } from '../../../src/platform/code-cache.js';

const uid = process.getuid?.() ?? 0;
let dir = '';
let cache = '';
let exits: Array<() => void> = [];
const effects: RunEffects = { uid, atExit: (write) => exits.push(write) };

interface Seen {
  runs: number;
  filename: string;
  dirname: string;
  joined: string;
  thisIsExports: boolean;
  sum: number;
}
const seen = (): Seen => (globalThis as unknown as { __codeCacheSeen: Seen }).__codeCacheSeen;

/** A CommonJS bundle as the build writes one: shebang, build id, code that uses the module wrapper's names. */
function writeBundle(name: string, buildId: string | undefined, extra = ''): string {
  const path = join(dir, name);
  writeFileSync(
    path,
    [
      '#!/usr/bin/env node',
      ...(buildId === undefined ? [] : [`// srun-docker-build: ${buildId}`]),
      'function sum(n) { let s = 0; for (let i = 1; i <= n; i += 1) s += i; return s; }',
      'const prior = globalThis.__codeCacheSeen;',
      "globalThis.__codeCacheSeen = { runs: (prior ? prior.runs : 0) + 1, filename: __filename, dirname: __dirname, joined: require('node:path').join('a', 'b'), thisIsExports: this === module.exports, sum: sum(10) };",
      extra,
    ].join('\n'),
  );
  return path;
}

let launcherDir = '';
let launcher = '';

/**
 * One run of the launcher in a process of its own, as bin/srun-docker runs it: V8 also keeps every
 * script a process compiled, so only a new process shows whether the cache on disk was taken.
 */
function runInProcess(bundle: string, cacheSetting: string): { cache: string; seen: Seen } {
  const script = [
    `const run = require(${JSON.stringify(launcher)}).runBundle(${JSON.stringify(bundle)}, { SRUN_DOCKER_CODE_CACHE: ${JSON.stringify(cacheSetting)} });`,
    'process.stdout.write(JSON.stringify({ cache: run.cache, seen: globalThis.__codeCacheSeen }));',
  ].join('\n');
  const child = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 30_000 });
  if (child.status !== 0) throw new Error(`launcher run failed (${child.status}): ${child.stderr}`);
  return JSON.parse(child.stdout) as { cache: string; seen: Seen };
}

beforeAll(() => {
  // the launcher as the build makes it (dist/launch.cjs), from this source
  launcherDir = mkdtempSync(join(tmpdir(), 'srun-docker-launch-test-'));
  launcher = join(launcherDir, 'launch.cjs');
  buildSync({ entryPoints: [fileURLToPath(new URL('../../../src/platform/code-cache.ts', import.meta.url))], bundle: true, platform: 'node', target: 'node20', format: 'cjs', outfile: launcher, logLevel: 'warning' });
});

afterAll(() => {
  rmSync(launcherDir, { recursive: true, force: true });
});

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'srun-docker-code-cache-test-'));
  cache = join(dir, 'cache');
  exits = [];
  delete (globalThis as { __codeCacheSeen?: unknown }).__codeCacheSeen;
});

afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('the code cache of the single-file build', () => {
  it('runs the bundle as a CommonJS main module, makes the cache as the process exits, and a later process uses it', () => {
    const bundle = writeBundle('srun-docker.cjs', 'abcdef0123456789');
    const file = join(cache, cacheFileName('abcdef0123456789', process.version, process.arch));
    expect(runBundle(bundle, { SRUN_DOCKER_CODE_CACHE: cache }, effects).cache).toBe('made');
    expect(seen()).toEqual({ runs: 1, filename: bundle, dirname: dir, joined: join('a', 'b'), thisIsExports: true, sum: 55 });
    expect(exits).toHaveLength(1);
    expect(existsSync(file)).toBe(false); // not before the exit

    const first = runInProcess(bundle, cache);
    expect(first.cache).toBe('made');
    expect(first.seen).toEqual({ runs: 1, filename: bundle, dirname: dir, joined: join('a', 'b'), thisIsExports: true, sum: 55 });
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(statSync(cache).mode & 0o777).toBe(0o700);
    expect(statSync(file).size).toBeGreaterThan(0);
    const second = runInProcess(bundle, cache);
    expect(second).toEqual({ cache: 'used', seen: first.seen });
  });

  it('a cache V8 refuses (damaged, made by another V8) is made again', () => {
    const bundle = writeBundle('srun-docker.cjs', 'abcdef0123456789');
    runInProcess(bundle, cache);
    const file = join(cache, cacheFileName('abcdef0123456789', process.version, process.arch));
    writeFileSync(file, Buffer.alloc(4096, 7));
    const damaged = runInProcess(bundle, cache);
    expect(damaged.cache).toBe('rejected-remade');
    expect(damaged.seen.sum).toBe(55);
    expect(runInProcess(bundle, cache).cache).toBe('used');
  });

  it("a new build's cache replaces the old build's", () => {
    runInProcess(writeBundle('old.cjs', '1111111111111111'), cache);
    expect(readdirSync(cache)).toEqual([cacheFileName('1111111111111111', process.version, process.arch)]);
    runInProcess(writeBundle('new.cjs', '2222222222222222', '// another build'), cache);
    expect(readdirSync(cache)).toEqual([cacheFileName('2222222222222222', process.version, process.arch)]);
  });

  it('never reads or writes a cache in a directory others can write to, or one reached through a symlink', () => {
    const bundle = writeBundle('srun-docker.cjs', 'abcdef0123456789');
    mkdirSync(cache);
    chmodSync(cache, 0o777);
    expect(runBundle(bundle, { SRUN_DOCKER_CODE_CACHE: cache }, effects).cache).toBe('untrusted');
    expect(exits).toEqual([]);
    expect(seen().runs).toBe(1); // it still runs, compiled without a cache
    const real = join(dir, 'real');
    mkdirSync(real, { mode: 0o700 });
    symlinkSync(real, join(dir, 'link'));
    expect(runBundle(bundle, { SRUN_DOCKER_CODE_CACHE: join(dir, 'link') }, effects).cache).toBe('untrusted');
    expect(runBundle(bundle, { SRUN_DOCKER_CODE_CACHE: cache }, { ...effects, uid: uid + 1 }).cache).toBe('untrusted');
    expect(readdirSync(cache)).toEqual([]);
  });

  it('runs without a cache when it is off, or the bundle carries no build id', () => {
    const bundle = writeBundle('srun-docker.cjs', 'abcdef0123456789');
    expect(runBundle(bundle, { SRUN_DOCKER_CODE_CACHE: 'off' }, effects).cache).toBe('off');
    expect(runBundle(writeBundle('plain.cjs', undefined), { SRUN_DOCKER_CODE_CACHE: cache }, effects).cache).toBe('no-build-id');
    expect(exits).toEqual([]);
    expect(seen().runs).toBe(2);
  });

  it('keeps the cache node-local and per user by default', () => {
    expect(cacheDirFor({}, 1234, '/tmp')).toBe('/tmp/srun-docker-code-cache-1234');
    expect(cacheDirFor({ SRUN_DOCKER_CODE_CACHE: '' }, 1234, '/tmp')).toBe('/tmp/srun-docker-code-cache-1234');
    expect(cacheDirFor({ SRUN_DOCKER_CODE_CACHE: '/scratch/me/cc' }, 1234, '/tmp')).toBe('/scratch/me/cc');
    expect(cacheDirFor({ SRUN_DOCKER_CODE_CACHE: 'off' }, 1234, '/tmp')).toBeUndefined();
    expect(trustedDir(join(dir, 'missing'), uid)).toBe(false);
  });

  it('reads the build id the build writes under the shebang', () => {
    expect(buildIdOf('#!/usr/bin/env node\n// srun-docker-build: 0123456789abcdef\nvar x;')).toBe('0123456789abcdef');
    expect(buildIdOf('#!/usr/bin/env node\n// srun-docker-build: not-hex\n')).toBeUndefined();
  });
});
