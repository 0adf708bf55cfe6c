import type * as ssh2 from 'ssh2';

type Ssh2 = typeof ssh2;

/**
 * ssh2, loaded on first use: only the coordinator's logins and the nodes' key making need it, and
 * loading it costs every node start ~15 ms. It is CommonJS: Node's own loader hands it over as the
 * default export, bundlers as the namespace.
 */
export async function loadSsh2(): Promise<Ssh2> {
  const loaded = (await import('ssh2')) as Ssh2 & { default?: Ssh2 };
  return loaded.default ?? loaded;
}
