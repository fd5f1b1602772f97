import { performance } from 'node:perf_hooks';

/**
 * Stage times for finding where a run spends its time (CARDRESCUE_TIMING=1 prints them to
 * stderr at exit). Off, a mark costs one property check.
 */
const enabled = (process.env.CARDRESCUE_TIMING ?? '') !== '' && process.env.CARDRESCUE_TIMING !== '0';
const marks: [string, number][] = [];

export function mark(label: string): void {
  if (!enabled) return;
  if (marks.length === 0) process.once('exit', report);
  marks.push([label, performance.now()]);
}

function report(): void {
  let last = 0;
  const lines = marks.map(([label, t]) => {
    const line = `${label.padEnd(28)} at ${(t / 1000).toFixed(3)} s  (+${((t - last) / 1000).toFixed(3)})`;
    last = t;
    return line;
  });
  process.stderr.write(`timing (since process start):\n  ${lines.join('\n  ')}\n`);
}
