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
  listenForExit();
  marks.push([label, performance.now(), process.resourceUsage().minorPageFault, process.memoryUsage.rss()]);
}

/**
 * The carving scan's own time and bytes, summed over its regions: its throughput set against a
 * raw read's, each by its own clock (bench/speed.mjs reads the line this prints), without the
 * process start, the file systems or the placing of old folders' files that a run also pays.
 */
const scan = { seconds: 0, bytes: 0, inHoles: 0, regions: 0 };

export function tallyScan(seconds: number, bytes: number, inHoles = 0): void {
  if (!enabled) return;
  listenForExit();
  scan.seconds += seconds;
  scan.bytes += bytes;
  scan.inHoles += inHoles;
  scan.regions++;
}

let listening = false;
function listenForExit(): void {
  if (listening) return;
  listening = true;
  process.once('exit', report);
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
  if (scan.regions > 0) {
    const holes = scan.inHoles > 0 ? `, ${scan.inHoles} of the bytes in holes of the image, not read` : '';
    lines.push(`scan: ${scan.bytes} bytes in ${scan.seconds.toFixed(3)} s (${(scan.bytes / 1e6 / scan.seconds).toFixed(0)} MB/s, ${scan.regions} region(s)${holes})`);
  }
  // Set by the launcher (src/launch/load.ts); absent when the modules run unbundled.
  const codeCache = (globalThis as Record<symbol, unknown>)[Symbol.for('cardrescue.codeCache')];
  if (codeCache !== undefined) lines.push(`code cache: ${String(codeCache)}`);
  // Set by the launcher: how many of V8's helper threads it gave the lowest priority.
  const helpers = (globalThis as Record<symbol, unknown>)[Symbol.for('cardrescue.helperThreads')];
  if (helpers !== undefined) lines.push(`helper threads at nice 19: ${String(helpers)}`);
  // Set by src/source/read-ahead.ts: how many reading threads the scan had and who started them, if any.
  const threads = (globalThis as Record<symbol, unknown>)[Symbol.for('cardrescue.readingThread')];
  if (threads !== undefined) lines.push(`reading threads: ${String(threads)}`);
  process.stderr.write(`timing (since process start):\n  ${lines.join('\n  ')}\n`);
}
