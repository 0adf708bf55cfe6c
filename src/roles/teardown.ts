import type { Logger } from '../platform/log.js';

interface Step {
  name: string;
  undo: () => Promise<void>;
}

/**
 * Undo steps registered before the thing they undo is created, run last-in first-out exactly once,
 * whatever ended the run. A failing step is logged and the others still run.
 */
export class Teardown {
  private readonly steps: Step[] = [];
  private running: Promise<void> | undefined;

  add(name: string, undo: () => Promise<void>): void {
    this.steps.push({ name, undo });
  }

  run(log: Logger, stepTimeoutMs = 20_000): Promise<void> {
    this.running ??= this.runSteps(log, stepTimeoutMs);
    return this.running;
  }

  private async runSteps(log: Logger, stepTimeoutMs: number): Promise<void> {
    for (const step of this.steps.reverse()) {
      let timer: NodeJS.Timeout | undefined;
      try {
        await Promise.race([
          step.undo(),
          new Promise((_, reject) => {
            timer = setTimeout(() => reject(new Error(`took longer than ${stepTimeoutMs} ms`)), stepTimeoutMs);
          }),
        ]);
        log.verbose(`teardown: ${step.name}`);
      } catch (error) {
        log.warn(`teardown step "${step.name}" failed: ${error instanceof Error ? error.message : String(error)}`);
      } finally {
        clearTimeout(timer);
      }
    }
  }
}
