import os from 'node:os';
import { Worker } from 'node:worker_threads';

/**
 * The reading threads of src/source/read-ahead.ts: the code they run, the shared words each is
 * asked through, and their start. Apart from the rest, so that the launcher (src/launch/load.ts)
 * can start them before the tool's code is even compiled: they boot (50-110 ms here) meanwhile,
 * and have their slots' pages touched by the time the scan asks for the first chunk.
 */

export const PENDING = 1;
export const DONE = 2;
export const FAILED = 3;

/** Slots a thread can be given at most (its shared state is made before it knows). */
export const MAX_SLOTS = 8;
/** Runs one request can name; a chunk of a badly fragmented pool with more is read by the caller. */
export const MAX_RUNS = 1024;

// Control words (Int32Array over the shared state): requests asked, a close flag, a flag that
// ends the warm-up, one set by the thread once it serves, then two words per slot (its state
// and how many bytes were read), then the queue of slot numbers.
export const ASKED = 0;
export const CLOSE = 1;
export const STOP_WARMING = 2;
export const SERVING = 3;
export const SLOT_STATE = 4;
export const QUEUE = SLOT_STATE + 2 * MAX_SLOTS;
export const QUEUE_LENGTH = MAX_SLOTS;
const CONTROL_WORDS = QUEUE + QUEUE_LENGTH;

/** The warm-up touches this much, then looks whether the scan wants the thread. */
const WARM_STEP = 256 * 1024;

const WORKER_CODE = `
const { parentPort, workerData } = require('node:worker_threads');
const fs = require('node:fs');
const ctl = new Int32Array(workerData.control);
const runs = new Float64Array(workerData.runs);
let fd = -1;
// The first touch of a fresh page costs 12-17 us on the VM this was measured on, and the first
// use of it from the other side (the kernel's read into it, or the program's look at it)
// another ~5 us: ~70 ms for four 4 MiB slots, paid during the scan by whichever thread gets
// there first. Started by the launcher, this thread has some of that time to spare before the
// scan asks for anything: a write to each page, then the kernel's (reading /dev/zero into it),
// until told to stop.
function warmUp({ memory, ranges }) {
  let zero = -1;
  try {
    zero = fs.openSync('/dev/zero', fs.constants.O_RDONLY);
  } catch {}
  try {
    for (const r of ranges) {
      for (let at = 0; at < r.length; at += ${WARM_STEP}) {
        if (Atomics.load(ctl, ${STOP_WARMING})) return;
        const b = Buffer.from(memory, r.offset + at, Math.min(${WARM_STEP}, r.length - at));
        for (let i = 0; i < b.length; i += 4096) b[i] = 0;
        if (zero >= 0) fs.readSync(zero, b, 0, b.length, null);
      }
    }
  } catch {
  } finally {
    if (zero >= 0) fs.closeSync(zero);
  }
}
function serve(slots) {
  let served = 0;
  for (;;) {
    if (Atomics.load(ctl, ${CLOSE})) break;
    if (served === Atomics.load(ctl, ${ASKED})) {
      // A timeout, so that a close is seen even if its notify is missed.
      Atomics.wait(ctl, ${ASKED}, served, 200);
      continue;
    }
    const slot = Atomics.load(ctl, ${QUEUE} + (served % ${QUEUE_LENGTH}));
    served++;
    const buf = slots[slot];
    const base = slot * (1 + 2 * ${MAX_RUNS});
    const count = runs[base];
    let filled = 0;
    let ok = fd >= 0;
    if (ok) try {
      for (let i = 0; i < count && ok; i++) {
        const offset = runs[base + 1 + 2 * i];
        const length = runs[base + 2 + 2 * i];
        let done = 0;
        while (done < length) {
          const n = fs.readSync(fd, buf, filled + done, length - done, offset + done);
          if (n <= 0) break;
          done += n;
        }
        filled += done;
        if (done < length) ok = false;
      }
    } catch {
      ok = false;
    }
    Atomics.store(ctl, ${SLOT_STATE} + slot * 2 + 1, filled);
    Atomics.store(ctl, ${SLOT_STATE} + slot * 2, ok ? ${DONE} : ${FAILED});
    Atomics.notify(ctl, ${SLOT_STATE} + slot * 2);
  }
  if (fd >= 0) fs.closeSync(fd);
  parentPort.close();
}
// Messages, in order: the memory to warm up (when the scan's is known), then the file and the
// slots (or a close). The warm-up runs until a request ends it; the next message comes after.
parentPort.on('message', (m) => {
  if (m.warm) {
    warmUp(m.warm);
    return;
  }
  if (m.close) {
    if (fd >= 0) fs.closeSync(fd);
    parentPort.close();
    return;
  }
  // The path comes with the slots, not at boot: the thread can start before the command line is read.
  try {
    fd = fs.openSync(m.path, fs.constants.O_RDONLY);
  } catch {}
  Atomics.store(ctl, ${SERVING}, 1);
  serve(m.slots.map((s) => Buffer.from(s.buffer, s.offset, s.length)));
});
`;

/** A reading thread, booting or booted, not yet given its file and slots. */
export interface Thread {
  worker: Worker;
  control: Int32Array;
  runs: Float64Array;
  /** Set once it was given memory to warm up. */
  warming?: boolean;
}

/** Memory the thread may touch before it serves: where its slots will lie (src/scan-memory.ts). */
export interface WarmUp {
  memory: SharedArrayBuffer;
  ranges: { offset: number; length: number }[];
}

export function spawn(): Thread {
  const control = new Int32Array(new SharedArrayBuffer(Int32Array.BYTES_PER_ELEMENT * CONTROL_WORDS));
  const runs = new Float64Array(new SharedArrayBuffer(Float64Array.BYTES_PER_ELEMENT * MAX_SLOTS * (1 + 2 * MAX_RUNS)));
  const worker = new Worker(WORKER_CODE, { eval: true, workerData: { control: control.buffer, runs: runs.buffer } });
  worker.unref();
  // An error in the worker (it could not start) fails what it was asked: `take` then falls back.
  worker.on('error', () => {
    for (let s = 0; s < MAX_SLOTS; s++) {
      Atomics.store(control, SLOT_STATE + 2 * s, FAILED);
      Atomics.notify(control, SLOT_STATE + 2 * s);
    }
  });
  return { worker, control, runs };
}

/**
 * Reading threads a scan uses. Two: a read is mostly the kernel copying pages (from its cache,
 * or filling it from the disk), and one thread doing that runs at the speed of one core. Two
 * threads reading alternate chunks read a 4 GiB image in memory in 0.36-0.40 s against
 * 0.64 s for one (and one plain read loop's 0.58 s), and cold from this VM's disk in 3.4-3.5 s
 * against 5.6-5.8 s (docs/performance.md). The reads still go in the card's order, two at a
 * time. One where the machine has one core.
 */
export const READING_THREADS = Math.min(2, os.availableParallelism());

/** Where the launcher leaves the threads it started for the tool to take (one bundle, two module copies). */
const EARLY = Symbol.for('cardrescue.readAheadThreads');

/** Start the scan's reading threads for the tool to take over (takeEarlyThreads); for the launcher. */
export function spawnEarly(count = READING_THREADS): void {
  const g = globalThis as Record<symbol, unknown>;
  g[EARLY] ??= Array.from({ length: count }, () => spawn());
}

/** The threads the launcher started, once: none when there are none (or they were taken). */
export function takeEarlyThreads(): Thread[] {
  const g = globalThis as Record<symbol, unknown>;
  const threads = (g[EARLY] as Thread[] | undefined) ?? [];
  g[EARLY] = undefined;
  return threads;
}
