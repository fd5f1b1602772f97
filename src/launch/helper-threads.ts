import fs from 'node:fs';
import os from 'node:os';

/**
 * Give V8's helper threads the lowest priority (nice 19), and leave the main thread and every
 * thread started after (the scan's reading thread, libuv's pool) as they are.
 *
 * Node starts those helpers before any JavaScript runs: four that compile hot functions with
 * TurboFan and help the garbage collector, a timer thread, one for signals. A `list` of the
 * 2 GiB bench card had them busy for ~250 ms of CPU, mostly TurboFan, while its two own
 * threads (the scan, and the reading thread feeding it) kept both cores busy. At equal
 * priority the scheduler gave them turns on those cores. At nice 19 they run when a core has
 * nothing else to do, which on this work is often enough. With the command file made CommonJS
 * (tools/bundle.mjs), `list` of the bench's JPEG card took 565-657 ms warm against 615-685 ms
 * before, its video card 926-1085 ms against 1034-1131 ms; cold, 780-834 ms and 1506-1594 ms
 * against 803-884 ms and 1540-1667 ms (docs/performance.md).
 *
 * Linux only: there each thread has its own nice value, and /proc/self/task lists the threads.
 * Returns how many threads it lowered (for CARDRESCUE_TIMING); failures only mean it did not.
 */
export function lowerHelperThreads(): number {
  if (process.platform !== 'linux') return 0;
  let lowered = 0;
  try {
    for (const task of fs.readdirSync('/proc/self/task')) {
      const tid = Number(task);
      if (!Number.isInteger(tid) || tid === process.pid) continue;
      try {
        os.setPriority(tid, LOWEST);
        lowered++;
      } catch {
        // Gone already, or not ours to change: it keeps its priority.
      }
    }
  } catch {
    // No /proc: nothing lowered.
  }
  return lowered;
}

const LOWEST = 19;
