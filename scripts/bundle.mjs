// Builds dist/srun-docker.cjs: one file a user copies into ~/bin on a cluster that has only Node.
// The sshd/ssh templates and the version are compiled in, since no package directory comes along.
// CommonJS, not ES modules: bin/srun-docker compiles it with V8's code cache (src/platform/code-cache.ts),
// which Node 20 offers for scripts only; dist/launch.cjs is that launcher's part.
import { build } from 'esbuild';
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync, chmodSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

const templates = Object.fromEntries(
  readdirSync('sshconfig-templates')
    .filter((f) => f.endsWith('.template'))
    .map((f) => [f.replace(/\.template$/, ''), readFileSync(`sshconfig-templates/${f}`, 'utf8')]),
);
// the containers' main processes (src/container/*.sh), as text
const containerScripts = Object.fromEntries(
  readdirSync('src/container')
    .filter((f) => f.endsWith('.sh'))
    .map((f) => [f.replace(/\.sh$/, ''), readFileSync(`src/container/${f}`, 'utf8')]),
);
const { version } = JSON.parse(readFileSync('package.json', 'utf8'));
const outfile = 'dist/srun-docker.cjs';

// Every node loads the bundle before it does anything, so its load time is on the critical path of
// every job. Two parts of our dependencies are never reached from srun-docker and cost a third of it:
// dockerode's BuildKit support (gRPC + protobuf, for buildImage) and docker-modem's ssh:// transport
// (we connect over the unix socket or tcp:// only). They are replaced by modules that say so if reached.
const unreachable = {
  name: 'unreachable-dependency-parts',
  setup(b) {
    b.onResolve({ filter: /^\.\/(session|buildkit)$/ }, (args) =>
      args.importer.includes('/dockerode/lib/') ? { path: `dockerode-${args.path.slice(2)}`, namespace: 'unreachable' } : undefined,
    );
    b.onResolve({ filter: /^\.\/ssh$/ }, (args) =>
      args.importer.includes('/docker-modem/lib/') ? { path: 'docker-modem-ssh', namespace: 'unreachable' } : undefined,
    );
    b.onLoad({ filter: /.*/, namespace: 'unreachable' }, (args) => ({
      contents: `module.exports = function () { throw new Error('srun-docker is built without ${args.path} (image builds and ssh:// Docker hosts are not used)'); };`,
      loader: 'js',
    }));
  },
};

// yargs measures text width for --help with string-width, whose module top level compiles a Unicode
// emoji RegExp and an Intl.Segmenter: ~30 ms of every node's start, for a help text a job never
// prints. It is loaded on the first call instead (only its default export, a function, is used).
const lazyStringWidth = {
  name: 'lazy-string-width',
  setup(b) {
    b.onResolve({ filter: /^string-width$/ }, async (args) => {
      if (args.pluginData?.lazyStringWidth) return undefined; // our own resolve call, below
      const real = await b.resolve(args.path, { resolveDir: args.resolveDir, kind: args.kind, importer: args.importer, pluginData: { lazyStringWidth: true } });
      if (real.errors.length > 0) return { errors: real.errors };
      return { path: real.path, namespace: 'lazy-string-width' };
    });
    b.onLoad({ filter: /.*/, namespace: 'lazy-string-width' }, (args) => ({
      contents: [
        'let real;',
        'export default function stringWidth(...args) {',
        `  real ??= require(${JSON.stringify(args.path)});`,
        '  return (real.default ?? real)(...args);',
        '}',
      ].join('\n'),
      resolveDir: dirname(args.path),
      loader: 'js',
    }));
  },
};

// Node modules that dependencies require as they load, for parts srun-docker never reaches: docker-modem's
// https:// transport (srun-docker speaks to the daemon over its unix socket or tcp://) and dockerode's
// gzipped build contexts. Loading them cost ~5 ms of CPU at every node's start (https brings in tls);
// each now loads on the first call of one of its functions. (yargs' assert is called at every start.)
const LAZY_BUILTINS = { https: '/docker-modem/lib/', zlib: '/dockerode/lib/' };
const lazyBuiltins = {
  name: 'lazy-builtins',
  setup(b) {
    b.onResolve({ filter: new RegExp(`^(node:)?(${Object.keys(LAZY_BUILTINS).join('|')})$`) }, (args) => {
      const name = args.path.replace(/^node:/, '');
      return args.importer.includes(LAZY_BUILTINS[name]) ? { path: name, namespace: 'lazy-builtin' } : undefined;
    });
    b.onLoad({ filter: /.*/, namespace: 'lazy-builtin' }, async (args) => {
      const real = await import(`node:${args.path}`);
      const functions = Object.keys(real).filter((key) => key !== 'default' && typeof real[key] === 'function');
      return {
        contents: [
          'let real;',
          `const load = () => (real ??= require('node:${args.path}'));`,
          // constructors too (https.Agent): called with new, they construct the real class
          ...functions.map((key) => `export function ${key}(...args) { return new.target ? new (load().${key})(...args) : load().${key}.apply(this, args); }`),
        ].join('\n'),
        loader: 'js',
      };
    });
  },
};

// V8 reads every byte of a script before it runs any of it: each node parsed ssh2 and execa (half the
// build), which only the coordinator's logins and the rare child process use. They are bundled on
// their own and kept in the build as strings — a string is only scanned — and compiled on first use
// (measured: `--version` 8 ms less CPU).
const DEFERRED = ['ssh2', 'execa'];
const deferredCompile = {
  name: 'deferred-compile',
  setup(b) {
    b.onResolve({ filter: new RegExp(`^(${DEFERRED.join('|')})$`) }, (args) => ({ path: args.path, namespace: 'deferred' }));
    b.onLoad({ filter: /.*/, namespace: 'deferred' }, async (args) => {
      const inner = await build({
        entryPoints: [args.path],
        bundle: true,
        platform: 'node',
        target: 'node20',
        format: 'cjs',
        write: false,
        external: ['cpu-features', '*.node'],
        logLevel: 'warning',
        metafile: true,
        // every node reads these strings at its start, only the coordinator compiles one; names are
        // kept (identifiers are not minified), so stack traces through ssh2 still say where
        minifyWhitespace: true,
        minifySyntax: true,
      });
      deferredInputs[args.path] = inner.metafile;
      const source = `${inner.outputFiles[0].text}\n//# sourceURL=srun-docker-${args.path}.cjs`;
      return {
        contents: [
          `const compiled = new Function('module', 'exports', 'require', '__filename', '__dirname', ${JSON.stringify(source)});`,
          'compiled(module, module.exports, require, __filename, __dirname);',
        ].join('\n'),
        loader: 'js',
      };
    });
  },
};
const deferredInputs = {};
// replaced by the build's content hash, which names its code cache (src/platform/code-cache.ts)
const BUILD_ID_LINE = '// srun-docker-build: 0000000000000000';

const result = await build({
  stdin: {
    // main sets process.exitCode; the process ends when nothing is left to do (or endWhenStuck ends it)
    contents: "import { endWhenStuck, main } from './src/cli/cli.ts';\nvoid main(process.argv.slice(2), process.env).then((code) => endWhenStuck(code));\n",
    resolveDir: '.',
    loader: 'ts',
  },
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  outfile,
  // dockerode's ssh transport loads optional native helpers in try/catch; a bundle runs without them
  external: ['cpu-features', '*.node'],
  banner: {
    js: [
      '#!/usr/bin/env node',
      BUILD_ID_LINE,
      // the modules' own import.meta.url (unused once the templates and version are compiled in)
      "var __srunDockerImportMetaUrl = require('node:url').pathToFileURL(__filename).href;",
    ].join('\n'),
  },
  define: {
    'import.meta.url': '__srunDockerImportMetaUrl',
    SRUN_DOCKER_TEMPLATES: JSON.stringify(templates),
    SRUN_DOCKER_SCRIPTS: JSON.stringify(containerScripts),
    SRUN_DOCKER_VERSION: JSON.stringify(version),
    SRUN_DOCKER_BUNDLED: 'true',
  },
  plugins: [unreachable, lazyStringWidth, lazyBuiltins, deferredCompile],
  metafile: true,
  logLevel: 'warning',
});
const built = readFileSync(outfile, 'utf8');
// bin/srun-docker reads the build as Latin-1 (a copy into V8's heap; UTF-8 is decoded, ~5 ms more per
// start): esbuild escapes every non-ASCII character, and this keeps it that way
const nonAscii = built.search(/[\u0080-\uffff]/);
if (nonAscii !== -1) throw new Error(`${outfile} has a non-ASCII character at ${nonAscii}; bin/srun-docker reads it as Latin-1`);
writeFileSync(outfile, built.replace(BUILD_ID_LINE, `// srun-docker-build: ${createHash('sha256').update(built).digest('hex').slice(0, 16)}`));
chmodSync(outfile, 0o755);
await build({
  entryPoints: ['src/platform/code-cache.ts'],
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  outfile: 'dist/launch.cjs',
  logLevel: 'warning',
});
if (process.env.BUNDLE_SIZES) {
  const sizes = {};
  const count = (inputs, deferred) => {
    for (const [path, input] of Object.entries(inputs)) {
      const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(path)?.[1] ?? 'srun-docker';
      const key = `${pkg}${deferred ? ' (deferred)' : ''}`;
      if (!path.startsWith('deferred:')) sizes[key] = (sizes[key] ?? 0) + input.bytesInOutput;
    }
  };
  count(result.metafile.outputs[outfile].inputs, false);
  for (const meta of Object.values(deferredInputs)) count(Object.values(meta.outputs)[0].inputs, true);
  for (const [pkg, bytes] of Object.entries(sizes).sort((a, b) => b[1] - a[1]).slice(0, 25)) console.log(String(bytes).padStart(9), pkg);
}
console.log(`bundled ${outfile}`);
