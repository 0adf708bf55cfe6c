// Builds dist/srun-docker.mjs: one file a user copies into ~/bin on a cluster that has only Node.
// The sshd/ssh templates and the version are compiled in, since no package directory comes along.
import { build } from 'esbuild';
import { readFileSync, readdirSync, chmodSync } from 'node:fs';
import { dirname } from 'node:path';

const templates = Object.fromEntries(
  readdirSync('sshconfig-templates')
    .filter((f) => f.endsWith('.template'))
    .map((f) => [f.replace(/\.template$/, ''), readFileSync(`sshconfig-templates/${f}`, 'utf8')]),
);
const { version } = JSON.parse(readFileSync('package.json', 'utf8'));
const outfile = 'dist/srun-docker.mjs';

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

const result = await build({
  stdin: {
    contents: "import { main } from './src/cli.ts';\nawait main(process.argv.slice(2), process.env);\n",
    resolveDir: '.',
    loader: 'ts',
  },
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'esm',
  outfile,
  // dockerode's ssh transport loads optional native helpers in try/catch; a bundle runs without them
  external: ['cpu-features', '*.node'],
  banner: {
    js: [
      '#!/usr/bin/env node',
      "import { createRequire as __srunDockerRequire } from 'node:module';",
      "import { fileURLToPath as __srunDockerPath } from 'node:url';",
      'const require = __srunDockerRequire(import.meta.url);',
      'const __filename = __srunDockerPath(import.meta.url);',
      "const __dirname = __filename.slice(0, __filename.lastIndexOf('/'));",
    ].join('\n'),
  },
  define: {
    SRUN_DOCKER_TEMPLATES: JSON.stringify(templates),
    SRUN_DOCKER_VERSION: JSON.stringify(version),
  },
  plugins: [unreachable, lazyStringWidth],
  metafile: true,
  logLevel: 'warning',
});
chmodSync(outfile, 0o755);
if (process.env.BUNDLE_SIZES) {
  const sizes = {};
  for (const [path, input] of Object.entries(result.metafile.outputs[outfile].inputs)) {
    const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(path)?.[1] ?? 'srun-docker';
    sizes[pkg] = (sizes[pkg] ?? 0) + input.bytesInOutput;
  }
  for (const [pkg, bytes] of Object.entries(sizes).sort((a, b) => b[1] - a[1]).slice(0, 25)) console.log(String(bytes).padStart(9), pkg);
}
console.log(`bundled ${outfile}`);
