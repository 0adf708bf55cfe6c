import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { UsageError } from '../platform/errors.js';
import { OPTION_NAMES } from './options.js';

/** `$XDG_CONFIG_HOME/srun-docker/config.json`, else `~/.config/srun-docker/config.json`. */
export function configPath(env: Record<string, string | undefined>, home: string): string {
  const base = env.XDG_CONFIG_HOME !== undefined && env.XDG_CONFIG_HOME !== '' ? env.XDG_CONFIG_HOME : join(home, '.config');
  return join(base, 'srun-docker', 'config.json');
}

/**
 * Option defaults from the user's config file (same names as the command line options). A missing
 * file is no config; a broken one is an error naming it, not something silently ignored.
 */
export async function readConfigFile(path: string): Promise<Record<string, unknown>> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw new UsageError(`cannot read ${path}: ${(error as Error).message}`);
  }
  return parseConfig(text, path);
}

export function parseConfig(text: string, path: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new UsageError(`${path} is not valid JSON (${(error as Error).message}) — fix it or remove it`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new UsageError(`${path} must hold a JSON object like {"container": "IMG", "sshdport": 12345}`);
  }
  const known = new Set<string>(OPTION_NAMES);
  for (const [key, v] of Object.entries(value)) {
    if (!known.has(key)) throw new UsageError(`${path}: unknown option "${key}"; known: ${OPTION_NAMES.join(', ')}`);
    if (!['string', 'number', 'boolean'].includes(typeof v)) throw new UsageError(`${path}: "${key}" must be a string, number or boolean`);
  }
  return value as Record<string, unknown>;
}
