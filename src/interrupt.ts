import { ExitCode } from './errors.js';

export type StopSignal = 'SIGINT' | 'SIGTERM';

export interface InterruptWatch {
  /** The first signal received, or null. */
  readonly signal: StopSignal | null;
  dispose(): void;
}

/**
 * Ctrl-C / SIGTERM while files are being written: note it, so the write loop stops after the
 * current chunk, removes the unfinished file and writes report.json (complete: false).
 * A second signal stops at once (exit 130, the unfinished file may stay behind).
 * Signals are only handled between awaits: the loop must yield to the event loop.
 */
export function watchInterrupts(onFirst?: (signal: StopSignal) => void): InterruptWatch {
  let received: StopSignal | null = null;
  const handler = (signal: StopSignal) => {
    if (received) process.exit(ExitCode.interrupted);
    received = signal;
    onFirst?.(signal);
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
  return {
    get signal() {
      return received;
    },
    dispose() {
      process.off('SIGINT', handler);
      process.off('SIGTERM', handler);
    },
  };
}
