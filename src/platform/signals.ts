import { constants } from 'node:os';

/** The signals that end an srun-docker process: Ctrl-C, scancel (SIGTERM), a terminal that hangs up. */
export const ENDING_SIGNALS: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

/** A shell's exit code for a process a signal ended: 128 + the signal's number. */
export function signalExitCode(signal: NodeJS.Signals): number {
  return 128 + (constants.signals[signal] ?? 1);
}

/**
 * The first of these signals this process gets. While it listens, the signals no longer end the
 * process by Node's default (which skips every `exit` handler, so a terminal would stay raw);
 * `stop` gives the default back.
 */
export function firstSignal(signals: readonly NodeJS.Signals[] = ENDING_SIGNALS): { received: Promise<NodeJS.Signals>; stop: () => void } {
  let settle: (signal: NodeJS.Signals) => void = () => undefined;
  const received = new Promise<NodeJS.Signals>((resolve) => (settle = resolve));
  const stop = (): void => signals.forEach((signal) => process.off(signal, settle));
  signals.forEach((signal) => process.on(signal, settle));
  return { received, stop };
}
