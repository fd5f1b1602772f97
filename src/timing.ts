import { performance } from 'node:perf_hooks';

/**
 * Stage times for finding where a run spends its time (CARDRESCUE_TIMING=1 prints them to
 * stderr at exit), with the page faults of each stage (on a VM a first touch of memory can
 * cost several microseconds) and the resident memory after it. Off, a mark costs one property check.
 */
const enabled = (process.env.CARDRESCUE_TIMING ?? '') !== '' && process.env.CARDRESCUE_TIMING !== '0';
const marks: [string, number, number, number][] = [];

export function mark(label: string): void {
  if (!enabled) return;
  if (marks.length === 0) process.once('exit', report);
  marks.push([label, performance.now(), process.resourceUsage().minorPageFault, process.memoryUsage.rss()]);
}

function report(): void {
  let last = 0;
  let lastFaults = 0;
  const lines = marks.map(([label, t, faults, rss]) => {
    const line = `${label.padEnd(28)} at ${(t / 1000).toFixed(3)} s  (+${((t - last) / 1000).toFixed(3)})  page faults +${faults - lastFaults}  RSS ${Math.round(rss / 1e6)} MB`;
    last = t;
    lastFaults = faults;
    return line;
  });
  process.stderr.write(`timing (since process start):\n  ${lines.join('\n  ')}\n`);
}
