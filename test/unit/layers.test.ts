import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

/** The folders of src/, top to bottom: each may import only the folders below it (type imports too). */
const LAYERS = ['cli', 'roles', 'container', 'ssh', 'channel', 'plan', 'docker', 'slurm', 'platform'];
const SRC = fileURLToPath(new URL('../../src/', import.meta.url));

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : []));
}

/** Every import of a module in another folder of src/, as `file: from → to`. */
function crossFolderImports(): { file: string; from: string; to: string }[] {
  return sources(SRC).flatMap((file) => {
    const from = relative(SRC, dirname(file));
    const specs = [...readFileSync(file, 'utf8').matchAll(/(?:from|import\()\s*['"](\.{1,2}\/[^'"]+)['"]/g)].map((m) => m[1] ?? '');
    return specs.map((spec) => ({ file: relative(SRC, file), from, to: relative(SRC, dirname(normalize(join(dirname(file), spec)))) })).filter((i) => i.to !== i.from);
  });
}

describe('the layout of src/', () => {
  it('every file lives in one of the layers', () => {
    expect([...new Set(sources(SRC).map((f) => relative(SRC, dirname(f))))].filter((f) => !LAYERS.includes(f))).toEqual([]);
  });

  it('imports run one way, downwards: no folder imports one above it or beside it', () => {
    const upwards = crossFolderImports().filter((i) => LAYERS.indexOf(i.to) <= LAYERS.indexOf(i.from));
    expect(upwards.map((i) => `${i.file}: ${i.from} → ${i.to}`)).toEqual([]);
    // the check sees the imports at all (a regex that matched nothing would pass the line above)
    expect(crossFolderImports().length).toBeGreaterThan(50);
  });
});
