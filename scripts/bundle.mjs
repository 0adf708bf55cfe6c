// Builds dist/srun-docker.mjs: one file a user copies into ~/bin on a cluster that has only Node.
// The sshd/ssh templates and the version are compiled in, since no package directory comes along.
import { build } from 'esbuild';
import { readFileSync, readdirSync, chmodSync } from 'node:fs';

const templates = Object.fromEntries(
  readdirSync('sshconfig-templates')
    .filter((f) => f.endsWith('.template'))
    .map((f) => [f.replace(/\.template$/, ''), readFileSync(`sshconfig-templates/${f}`, 'utf8')]),
);
const { version } = JSON.parse(readFileSync('package.json', 'utf8'));
const outfile = 'dist/srun-docker.mjs';

await build({
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
  logLevel: 'warning',
});
chmodSync(outfile, 0o755);
console.log(`bundled ${outfile}`);
