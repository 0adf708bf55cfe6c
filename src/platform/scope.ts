import type { Logger } from './log.js';

interface Undo {
  name: string;
  run: () => Promise<void>;
}

/** What one undo may take before the scope gives up on it and goes on with the rest. */
export const UNDO_TIMEOUT_MS = 20_000;

/**
 * What a run has made, undone last-made first when the run ends, however it ends: an
 * `AsyncDisposableStack` in all but name (Node 20 has neither it nor `await using`). Each part is
 * adopted as it is made, with what undoes it, so the teardown is exactly the list of what exists.
 * An undo that fails or hangs is logged and the others still run; closing twice runs each undo once,
 * and both callers wait for the whole of it (a signal may close the scope while the run still
 * works). What is adopted while or after the scope closes is undone at once.
 */
export class ResourceScope {
  private readonly undos: Undo[] = [];
  private closing: Promise<void> | undefined;

  constructor(
    /** Where each undo is said (verbose), and a failed one warned about. */
    private readonly log: Logger,
    private readonly undoTimeoutMs = UNDO_TIMEOUT_MS,
  ) {}

  /** Returns `resource`, to be undone by `dispose` when the scope closes. */
  adopt<T>(name: string, resource: T, dispose: (resource: T) => Promise<void> | void): T {
    this.push({ name, run: async () => dispose(resource) });
    return resource;
  }

  /**
   * A part still being made (a write under way): the scope waits for it to settle before it undoes
   * what was adopted earlier (a directory is not removed while a file is written into it), and
   * disposes what it made, if `dispose` is given. A failure to make it is the maker's to report.
   */
  adoptPending<T>(name: string, making: Promise<T>, dispose?: (resource: T) => Promise<void> | void): Promise<T> {
    making.catch(() => undefined); // the caller awaits it; the scope only waits for it to settle
    this.push({
      name,
      run: async () => {
        const made = await making.then(
          (value) => ({ value }),
          () => undefined,
        );
        if (made !== undefined && dispose !== undefined) await dispose(made.value);
      },
    });
    return making;
  }

  /** Something to do at the end that undoes no single part (restore a state, say a last word). */
  defer(name: string, run: () => Promise<void> | void): void {
    this.push({ name, run: async () => run() });
  }

  /** Undoes everything adopted, last first; resolves when all of it has run. */
  close(): Promise<void> {
    this.closing ??= this.drain();
    return this.closing;
  }

  private push(undo: Undo): void {
    this.undos.push(undo);
    // closed already: this part is undone at once (the run made it after an interrupt)
    if (this.closing !== undefined) this.closing = this.closing.then(() => this.drain());
  }

  private async drain(): Promise<void> {
    for (let undo = this.undos.pop(); undo !== undefined; undo = this.undos.pop()) {
      let timer: NodeJS.Timeout | undefined;
      try {
        await Promise.race([
          undo.run(),
          new Promise((_, reject) => {
            timer = setTimeout(() => reject(new UndoTimeoutError(this.undoTimeoutMs)), this.undoTimeoutMs);
          }),
        ]);
        this.log.verbose(`teardown: ${undo.name}`);
      } catch (error) {
        this.log.warn(`teardown step "${undo.name}" failed: ${error instanceof Error ? error.message : String(error)}`);
      } finally {
        clearTimeout(timer);
      }
    }
  }
}

class UndoTimeoutError extends Error {
  override readonly name = 'UndoTimeoutError';
  constructor(ms: number) {
    super(`took longer than ${ms} ms`);
  }
}
