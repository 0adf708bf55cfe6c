/** Phase timings for --timings and the benchmarks: each phase's duration from the injected clock. */
export interface Clock {
  now(): number; // milliseconds
}

export const systemClock: Clock = { now: () => performance.now() };

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
