import { setTimeout as sleepFor } from 'node:timers/promises';
/** Phase timings for --timings and the benchmarks: each phase's duration from the injected clock. */
export interface Clock {
  now(): number; // milliseconds
}

export const systemClock: Clock = { now: () => performance.now() };

/**
 * Wall-clock time and waiting, as the roles see them (deadlines, pauses between attempts): passed
 * in, so a test can give a clock that moves only when told.
 */
export interface WallClock {
  now(): number; // ms since the epoch
  /** Resolves after `ms`; `ref: false` keeps no process alive for it; an aborted `signal` rejects. */
  sleep(ms: number, options?: { signal?: AbortSignal; ref?: boolean }): Promise<void>;
}

export const wallClock: WallClock = {
  now: () => Date.now(),
  sleep: (ms, options = {}) => sleepFor(ms, undefined, options),
};

export interface PhaseTiming {
  phase: string;
  ms: number;
}

export class Timings {
  private readonly phases: PhaseTiming[] = [];
  private readonly startedAt: number;

  constructor(private readonly clock: Clock) {
    this.startedAt = clock.now();
  }

  async measure<T>(phase: string, work: () => Promise<T>): Promise<T> {
    const start = this.clock.now();
    try {
      return await work();
    } finally {
      this.phases.push({ phase, ms: this.clock.now() - start });
    }
  }

  record(phase: string, ms: number): void {
    this.phases.push({ phase, ms });
  }

  list(): PhaseTiming[] {
    return [...this.phases, { phase: 'total', ms: this.clock.now() - this.startedAt }];
  }

  /** One line, stable and machine-readable: `timings: parse=3ms create=412ms ... total=2310ms`. */
  format(): string {
    return 'timings: ' + this.list().map((p) => `${p.phase}=${Math.round(p.ms)}ms`).join(' ');
  }
}
