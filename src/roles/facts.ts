import { compressHostlist } from '../slurm/hostlist.js';
import type { Logger } from '../platform/log.js';

/**
 * One line per fact per job: a condition several nodes report alike (a default limit the daemon
 * cannot raise, say) is said once by the coordinator, with the nodes it concerns. Facts noted before
 * `flush` wait for it (the workers' reports arrive during the start); later ones are said at once.
 */
export class FactLog {
  private readonly facts = new Map<string, { message: string; nodes: string[] }>();
  private flushed = false;

  constructor(
    private readonly log: Logger,
    /** A one-node job's lines need not say where. */
    private readonly manyNodes: boolean,
  ) {}

  note(key: string, message: string, node: string): void {
    const fact = this.facts.get(key);
    if (fact?.nodes.includes(node)) return;
    if (this.flushed) {
      this.log.warn(this.manyNodes ? `${message} (on ${node})` : message);
      return;
    }
    if (fact === undefined) this.facts.set(key, { message, nodes: [node] });
    else fact.nodes.push(node);
  }

  flush(): void {
    if (this.flushed) return;
    this.flushed = true;
    for (const { message, nodes } of this.facts.values()) this.log.warn(this.manyNodes ? `${message} (${onNodes(nodes)})` : message);
  }
}

export function onNodes(nodes: readonly string[]): string {
  return nodes.length === 1 ? `on ${nodes[0] ?? ''}` : `on ${nodes.length} nodes: ${compressHostlist(nodes)}`;
}
