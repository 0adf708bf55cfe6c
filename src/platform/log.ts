/** srun-docker's own lines: stderr, prefixed with node and role, so srun's merged output stays readable. */
export interface Logger {
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
  verbose(message: string): void;
  /** A logger for the same sink with a new prefix (node and role are known only after allocation). */
  withPrefix(prefix: string): Logger;
}

export type LogLevel = 'quiet' | 'normal' | 'verbose';

export function createLogger(write: (line: string) => void, level: LogLevel, prefix = 'srun-docker'): Logger {
  const emit = (kind: string, message: string): void => write(`${prefix}${kind}: ${message}\n`);
  return {
    info: (m) => level !== 'quiet' && emit('', m),
    warn: (m) => emit(' warning', m),
    error: (m) => emit(' error', m),
    verbose: (m) => level === 'verbose' && emit('', m),
    withPrefix: (p) => createLogger(write, level, p),
  };
}

/** Warn about one thing only once per process (the limits fallback is checked per container). */
export function onceWarner(log: Logger): (key: string, message: string) => void {
  const seen = new Set<string>();
  return (key, message) => {
    if (seen.has(key)) return;
    seen.add(key);
    log.warn(message);
  };
}
