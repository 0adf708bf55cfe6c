import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { InternalError } from '../platform/errors.js';

export type TemplateName = 'sshd_config' | 'ssh_config' | 'ssh_config_block' | 'ssh_wrapper' | 'scp_wrapper' | 'ssh_wrapper_builtin' | 'scp_wrapper_builtin';

/** The directory shipped with the package (../../sshconfig-templates from dist/ssh/). */
export const TEMPLATE_DIR = fileURLToPath(new URL('../../sshconfig-templates/', import.meta.url));

/** The single-file bundle carries the templates inside it (scripts/bundle.mjs defines this). */
declare const SRUN_DOCKER_TEMPLATES: Record<string, string> | undefined;

export async function loadTemplate(name: TemplateName, dir = TEMPLATE_DIR): Promise<string> {
  const bundled = typeof SRUN_DOCKER_TEMPLATES === 'undefined' ? undefined : SRUN_DOCKER_TEMPLATES[name];
  return bundled ?? readFile(join(dir, `${name}.template`), 'utf8');
}

/**
 * Fills {{NAME}} fields. Every field must be given and every given value used once at least,
 * so a template and its caller cannot drift apart silently.
 */
export function renderTemplate(template: string, values: Record<string, string>): string {
  const used = new Set<string>();
  const out = template.replace(/\{\{([A-Z_]+)\}\}/g, (_m, key: string) => {
    const value = values[key];
    if (value === undefined) throw new InternalError(`template field {{${key}}} has no value`);
    used.add(key);
    return value;
  });
  const unused = Object.keys(values).filter((k) => !used.has(k));
  if (unused.length > 0) throw new InternalError(`template has no field for ${unused.join(', ')}`);
  return out;
}
