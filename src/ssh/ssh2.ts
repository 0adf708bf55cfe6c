import type * as ssh2 from 'ssh2';

type Ssh2 = typeof ssh2;

/**
 * ssh2, loaded on first use: only the coordinator's readiness logins need it (keys are written by
 * keys.ts), and loading it costs ~25 ms of CPU. The single-file build also compiles it only then
 * (scripts/bundle.mjs). It is CommonJS: Node's own loader hands it over as the default export,
 * bundlers as the namespace.
 */
export async function loadSsh2(): Promise<Ssh2> {
  const loaded = (await import('ssh2')) as Ssh2 & { default?: Ssh2 };
  return loaded.default ?? loaded;
}
