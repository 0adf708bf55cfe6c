import { lstatSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { Module } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Script } from 'node:vm';

/**
 * srun starts srun-docker on every node of every job, and V8 compiling the single-file build is a
 * large part of a start (bench/README.md has what the cache saves). Node 20
 * has no compile cache of its own (module.enableCompileCache is Node 22), so the launcher keeps V8's
 * code cache of the build: made at the end of a node's first run (so it holds every function that
 * run compiled; made before the run it held less and saved less) and used by every later run there.
 */

/** The line `npm run build` puts under the shebang: the build's content hash, which names its cache. */
const BUILD_ID_PATTERN = /^\/\/ srun-docker-build: ([0-9a-f]{8,64})$/m;

/** The build id of a bundle's source (on its first lines), if it has one. */
export function buildIdOf(source: string): string | undefined {
  return BUILD_ID_PATTERN.exec(source.slice(0, 300))?.[1];
}

export interface CodeCacheEnv {
  /** `off` disables the cache; a path puts it there instead of the node-local default. */
  SRUN_DOCKER_CODE_CACHE?: string;
}

/**
 * Where this user's cache lives: node-local (the temp directory) rather than the shared home, so that
 * the first job on 1,000 nodes does not write 1,000 copies to one NFS directory.
 */
export function cacheDirFor(env: CodeCacheEnv, uid: number, tmp: string = tmpdir()): string | undefined {
  const setting = env.SRUN_DOCKER_CODE_CACHE;
  if (setting === 'off') return undefined;
  if (setting !== undefined && setting !== '') return setting;
  return join(tmp, `srun-docker-code-cache-${uid}`);
}

/**
 * A cache is code this process will run: only from a real directory of our own that nobody else can
 * write to (a shared temp directory lets anyone create a directory of that name first).
 */
export function trustedDir(dir: string, uid: number): boolean {
  try {
    const info = lstatSync(dir);
    return info.isDirectory() && info.uid === uid && (info.mode & 0o022) === 0;
  } catch {
    return false;
  }
}

/** One file per build, Node version and architecture: V8 rejects a cache made by another V8 anyway. */
export function cacheFileName(buildId: string, nodeVersion: string, arch: string): string {
  return `${buildId}-${nodeVersion}-${arch}.v8cache`;
}

export interface BundleRun {
  /** What happened to the cache (for tests). */
  cache: 'used' | 'made' | 'rejected-remade' | 'off' | 'untrusted' | 'no-build-id';
}

/** The process's own, passed in so that a test can run a bundle and then play its exit. */
export interface RunEffects {
  uid: number;
  atExit: (write: () => void) => void;
}

const processEffects: RunEffects = {
  uid: process.getuid?.() ?? -1, // no uid (Windows): never trusted, no cache
  atExit: (write) => process.once('exit', write),
};

/**
 * Runs a CommonJS bundle as the main program, compiled with V8's code cache when one is there (and
 * making one at exit when not). Any failure around the cache falls back to a plain compile: the cache
 * only ever saves time.
 */
export function runBundle(bundle: string, env: CodeCacheEnv, effects: RunEffects = processEffects): BundleRun {
  const { uid } = effects;
  // the build is ASCII (scripts/bundle.mjs checks): Latin-1 is a plain copy, UTF-8 a decode (~5 ms a start)
  const source = readFileSync(bundle, 'latin1');
  const buildId = buildIdOf(source);
  const dir = cacheDirFor(env, uid);
  const cacheFile = dir !== undefined && buildId !== undefined ? join(dir, cacheFileName(buildId, process.version, process.arch)) : undefined;
  // only a bundle that can have a cache makes its directory
  const dirUsable = dir !== undefined && cacheFile !== undefined && (trustedDir(dir, uid) || makeOwnDir(dir, uid));
  const cachedData = cacheFile !== undefined && dirUsable ? readIfThere(cacheFile) : undefined;
  // the shebang is only valid on a script's first line, and the wrapper comes before it
  const body = source.startsWith('#!') ? `//${source.slice(2)}` : source;
  const script = new Script(Module.wrap(body), { filename: bundle, cachedData });
  const run: BundleRun = {
    cache:
      dir === undefined ? 'off'
      : buildId === undefined ? 'no-build-id'
      : !dirUsable ? 'untrusted'
      : cachedData === undefined ? 'made'
      : script.cachedDataRejected === true ? 'rejected-remade'
      : 'used',
  };
  if (cacheFile !== undefined && dirUsable && (cachedData === undefined || script.cachedDataRejected === true)) {
    // at exit: the cache then also holds the functions this run compiled lazily
    effects.atExit(() => writeCache(cacheFile, script));
  }
  const main = new Module(bundle);
  main.filename = bundle;
  // run as Node runs a CommonJS main module: its own module object, require and file names
  const compiled = script.runInThisContext() as (exports: unknown, require: NodeJS.Require, module: Module, filename: string, dirname: string) => void;
  compiled.call(main.exports, main.exports, Module.createRequire(bundle), main, bundle, dirname(bundle));
  return run;
}

/** Made 0700 (with its parents, for a path of the user's own); one that was there already stays untrusted. */
export function makeOwnDir(dir: string, uid: number): boolean {
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  } catch {
    return false; // cannot be made: no cache
  }
  return trustedDir(dir, uid);
}

function readIfThere(file: string): Buffer | undefined {
  try {
    return readFileSync(file);
  } catch {
    return undefined;
  }
}

/** Written whole and renamed into place: a concurrent run reads the old cache or the new, never half. */
function writeCache(file: string, script: Script): void {
  const tmp = `${file}.${process.pid}.tmp`;
  try {
    writeFileSync(tmp, script.createCachedData(), { mode: 0o600 });
    renameSync(tmp, file);
    // earlier builds' caches: one build is in use at a time, and each is ~1 MB
    const dir = dirname(file);
    for (const name of readdirSync(dir)) {
      if (name.endsWith('.v8cache') && join(dir, name) !== file) rmSync(join(dir, name), { force: true });
    }
  } catch {
    rmSync(tmp, { force: true });
  }
}
