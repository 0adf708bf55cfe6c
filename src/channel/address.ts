import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { LaunchError } from '../platform/errors.js';
import type { CommandRunner } from '../platform/runner.js';

/**
 * The address of a SLURM node, as this host reaches it: its name as a host name first; where that
 * does not resolve (a NodeName that is not a host name), SLURM's own NodeAddr (`scontrol show node`).
 */
export async function resolveNodeAddress(node: string, runner: CommandRunner): Promise<string> {
  if (isIP(node) !== 0) return node;
  const byName = await lookup(node, { family: 4 }).then(
    (found) => found.address,
    () => undefined,
  );
  if (byName !== undefined) return byName;
  const result = await runner.run('scontrol', ['show', 'node', '-o', node], { timeoutMs: 10_000 });
  const nodeAddr = nodeAddrOf(result.stdout);
  if (result.exitCode === 0 && nodeAddr !== undefined && nodeAddr !== node) {
    return isIP(nodeAddr) !== 0 ? nodeAddr : (await lookup(nodeAddr, { family: 4 }).catch(() => ({ address: nodeAddr }))).address;
  }
  throw new LaunchError(
    `cannot find the address of the coordinator node ${node}: it is not a host name here and \`scontrol show node ${node}\` gave no NodeAddr (${result.stderr.trim() || `exit ${result.exitCode}`})`,
  );
}

/** Pure: NodeAddr= from one line of `scontrol show node -o`. */
export function nodeAddrOf(line: string): string | undefined {
  return /(?:^|\s)NodeAddr=(\S+)/.exec(line)?.[1];
}
