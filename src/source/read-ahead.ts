import { Worker } from 'node:worker_threads';
import type { ByteRun } from '../reader.js';

/**
 * The scan reads the card in order, chunk after chunk, and works on each chunk in between:
 * done one after the other, reading and working add up. A worker thread reads the next
 * chunk while the scan works on this one, so on two cores the card is read in the time the
 * work takes (or the work done in the time the reading takes). The main thread waits for a
 * chunk with Atomics.wait: the scan stays synchronous.
 *
 * Requests go through shared memory, not messages: a message per chunk cost the scan about
 * 0.1 ms each (50 ms on a 2 GiB card), a store and a notify cost nothing. The worker does
 * plain reads on its own read-only descriptor, nothing else. Whatever goes wrong there (a
 * read error, a short read) makes `take` return null, and the caller reads that chunk itself
 * the careful way (src/source/source.ts: retries, unreadable sectors).
 */

const PENDING = 1;
const DONE = 2;
const FAILED = 3;
/** Longer than any read of a healthy card; a failing one is then read by the caller, the careful way. */
const MAX_WAIT_MS = 60_000;

/** Slots a thread can be given at most (its shared state is made before it knows). */
const MAX_SLOTS = 8;
/** Runs one request can name; a chunk of a badly fragmented pool with more is read by the caller. */
const MAX_RUNS = 1024;

/** A thread that has not started serving by then is taken for dead: the caller reads for itself. */
const BOOT_WAIT_MS = 10_000;

// Control words (Int32Array over the shared state): requests asked, a close flag, a flag that
// ends the warm-up, one set by the thread once it serves, then two words per slot (its state
// and how many bytes were read), then the queue of slot numbers.
const ASKED = 0;
const CLOSE = 1;
const STOP_WARMING = 2;
const SERVING = 3;
const SLOT_STATE = 4;
const QUEUE = SLOT_STATE + 2 * MAX_SLOTS;
const QUEUE_LENGTH = MAX_SLOTS;
const CONTROL_WORDS = QUEUE + QUEUE_LENGTH;

/** The warm-up touches this much, then looks whether the scan wants the thread. */
const WARM_STEP = 256 * 1024;

const WORKER_CODE = `
const { parentPort, workerData } = require('node:worker_threads');
const fs = require('node:fs');
const ctl = new Int32Array(workerData.control);
const runs = new Float64Array(workerData.runs);
let fd = -1;
if (workerData.warm) warmUp(workerData.warm);
// The first touch of a fresh page costs ~11 us on the VM this was measured on, and the first
// use of it from the other side (the kernel's read into it, or the program's look at it)
// another ~5 us: ~80 ms for four 4 MiB slots, paid during the scan by whichever thread gets
// there first. Booted early, this thread has that time to spare before the scan asks for
// anything: a write to each page, then the kernel's (reading /dev/zero into it), until told to stop.
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
parentPort.once('message', (m) => {
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
interface Thread {
  worker: Worker;
  control: Int32Array;
  runs: Float64Array;
}

/** Memory the thread may touch before it serves: where its slots will lie (src/scan-memory.ts). */
export interface WarmUp {
  memory: SharedArrayBuffer;
  ranges: { offset: number; length: number }[];
}

function spawn(warm?: WarmUp): Thread {
  const control = new Int32Array(new SharedArrayBuffer(Int32Array.BYTES_PER_ELEMENT * CONTROL_WORDS));
  const runs = new Float64Array(new SharedArrayBuffer(Float64Array.BYTES_PER_ELEMENT * MAX_SLOTS * (1 + 2 * MAX_RUNS)));
  const worker = new Worker(WORKER_CODE, { eval: true, workerData: { control: control.buffer, runs: runs.buffer, warm } });
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

let started: Thread | undefined;

/**
 * Start a reading thread now, so that it boots (50-110 ms on the other core here)
 * while the rest of the tool loads and the file systems are read, and then touches the pages
 * of `warm` until the scan takes it over. The scan's ReadAhead tells it which file to read;
 * one that no scan wants is ended by `endUnusedReadAhead`. Nothing but the thread may use
 * `warm`'s memory until then.
 */
export function startReadAheadEarly(warm?: WarmUp): void {
  if (started) return;
  started = spawn(warm);
}

export function endUnusedReadAhead(): void {
  if (!started) return;
  Atomics.store(started.control, STOP_WARMING, 1);
  started.worker.postMessage({ close: true });
  started = undefined;
}

export class ReadAhead {
  private readonly thread: Thread;
  private readonly slots: Buffer[];
  /** What each slot was asked to hold: the key, the length, and its bytes once read. */
  private readonly asked: ({ key: number; length: number; bytes?: Buffer | null } | null)[];
  private next = 0;
  private requests = 0;
  private bootDeadline: number;
  /** Set once the thread has let a wait run out: from then on the caller reads for itself. */
  private gone = false;

  /**
   * `slots`: the buffers to read into, each a view of a SharedArrayBuffer (the scan's, in the
   * JPEG search's memory), or how many to make of `slotSize` bytes. `bootWaitMs`: how long a
   * thread may take to start serving before the caller reads for itself (BOOT_WAIT_MS).
   */
  constructor(path: string, slotSize: number, slots: number | Buffer[] = 2, options: { bootWaitMs?: number } = {}) {
    const views = typeof slots === 'number' ? Array.from({ length: slots }, () => Buffer.from(new SharedArrayBuffer(slotSize))) : slots;
    if (views.some((v) => !(v.buffer instanceof SharedArrayBuffer))) throw new Error('read-ahead slots must be views of a SharedArrayBuffer');
    if (views.length > MAX_SLOTS) throw new Error(`at most ${MAX_SLOTS} read-ahead slots`);
    this.thread = started ?? spawn();
    started = undefined;
    // The warm-up ends here: the slots are about to be read into.
    Atomics.store(this.thread.control, STOP_WARMING, 1);
    this.bootDeadline = Date.now() + (options.bootWaitMs ?? BOOT_WAIT_MS);
    this.slots = views;
    this.asked = views.map(() => null);
    this.thread.worker.postMessage({ path, slots: views.map((v) => ({ buffer: v.buffer, offset: v.byteOffset, length: v.length })) });
  }

  /** Ask for `runs` (absolute offsets, total ≤ the slot size), read into the next free slot; `key` names the request. */
  request(key: number, runs: readonly ByteRun[]): void {
    if (this.gone) return;
    const slot = this.next;
    this.next = (this.next + 1) % this.slots.length;
    let length = 0;
    for (const r of runs) length += r.length;
    if (length > this.slots[slot].length || runs.length > MAX_RUNS) {
      this.asked[slot] = null;
      return;
    }
    this.asked[slot] = { key, length };
    const { control, runs: shared } = this.thread;
    const base = slot * (1 + 2 * MAX_RUNS);
    shared[base] = runs.length;
    for (let i = 0; i < runs.length; i++) {
      shared[base + 1 + 2 * i] = runs[i].offset;
      shared[base + 2 + 2 * i] = runs[i].length;
    }
    Atomics.store(control, SLOT_STATE + 2 * slot, PENDING);
    Atomics.store(control, QUEUE + (this.requests % QUEUE_LENGTH), slot);
    this.requests++;
    Atomics.store(control, ASKED, this.requests);
    Atomics.notify(control, ASKED);
  }

  /**
   * The bytes asked for under `key`, once the worker has read them; null when they were not
   * asked for or not read whole. The buffer is the slot itself: valid until the slot is asked again.
   */
  take(key: number): Buffer | null {
    const slot = this.slotOf(key);
    if (slot < 0) return null;
    const got = this.wait(slot);
    this.asked[slot] = null;
    return got;
  }

  /** The bytes asked for under `key` (waiting for them), without handing the slot back: `take` gives them again. */
  peek(key: number): Buffer | null {
    const slot = this.slotOf(key);
    return slot < 0 ? null : this.wait(slot);
  }

  /** Stop the thread, once it has finished what it was asked: the slots may be someone else's next. */
  close(): void {
    for (let s = 0; s < this.asked.length; s++) if (this.asked[s]) this.wait(s);
    Atomics.store(this.thread.control, CLOSE, 1);
    Atomics.notify(this.thread.control, ASKED);
  }

  private slotOf(key: number): number {
    for (let s = 0; s < this.asked.length; s++) if (this.asked[s]?.key === key) return s;
    return -1;
  }

  private wait(slot: number): Buffer | null {
    const asked = this.asked[slot]!;
    if (asked.bytes !== undefined) return asked.bytes;
    const { control } = this.thread;
    const at = SLOT_STATE + 2 * slot;
    // A worker that died leaves its request pending (its 'error' event cannot come while we
    // wait here): one that never started serving is given up sooner than a slow read.
    const giveUpAt = Date.now() + MAX_WAIT_MS;
    while (!this.gone && Atomics.load(control, at) === PENDING) {
      const now = Date.now();
      if (now >= giveUpAt || (now >= this.bootDeadline && Atomics.load(control, SERVING) === 0)) {
        this.gone = true;
        Atomics.store(control, CLOSE, 1);
      } else Atomics.wait(control, at, PENDING, 100);
    }
    const whole = Atomics.load(control, at) === DONE && Atomics.load(control, at + 1) === asked.length;
    asked.bytes = whole ? this.slots[slot].subarray(0, asked.length) : null;
    return asked.bytes;
  }
}
