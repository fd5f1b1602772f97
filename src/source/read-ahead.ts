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

// Control words (Int32Array over the shared state): requests asked, a close flag, then two
// words per slot (its state and how many bytes were read), then the queue of slot numbers.
const ASKED = 0;
const CLOSE = 1;
const SLOT_STATE = 2;
const QUEUE = SLOT_STATE + 2 * MAX_SLOTS;
const QUEUE_LENGTH = MAX_SLOTS;
const CONTROL_WORDS = QUEUE + QUEUE_LENGTH;

const WORKER_CODE = `
const { parentPort, workerData } = require('node:worker_threads');
const fs = require('node:fs');
const ctl = new Int32Array(workerData.control);
const runs = new Float64Array(workerData.runs);
let fd = -1;
try {
  fd = fs.openSync(workerData.path, fs.constants.O_RDONLY);
} catch {}
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
  serve(m.slots.map((s) => Buffer.from(s.buffer, s.offset, s.length)));
});
`;

/** A reading thread, booting or booted, not yet given its slots. */
interface Thread {
  path: string;
  worker: Worker;
  control: Int32Array;
  runs: Float64Array;
}

function spawn(path: string): Thread {
  const control = new Int32Array(new SharedArrayBuffer(Int32Array.BYTES_PER_ELEMENT * CONTROL_WORDS));
  const runs = new Float64Array(new SharedArrayBuffer(Float64Array.BYTES_PER_ELEMENT * MAX_SLOTS * (1 + 2 * MAX_RUNS)));
  const worker = new Worker(WORKER_CODE, { eval: true, workerData: { path, control: control.buffer, runs: runs.buffer } });
  worker.unref();
  // An error in the worker (it could not start) fails what it was asked: `take` then falls back.
  worker.on('error', () => {
    for (let s = 0; s < MAX_SLOTS; s++) {
      Atomics.store(control, SLOT_STATE + 2 * s, FAILED);
      Atomics.notify(control, SLOT_STATE + 2 * s);
    }
  });
  return { path, worker, control, runs };
}

let started: Thread | undefined;

/**
 * Start the thread that will read `path` now, so that it boots (tens of milliseconds) while
 * the rest of the tool loads and the file systems are read. The scan's ReadAhead takes it
 * over; one that no scan wants is ended by `endUnusedReadAhead`.
 */
export function startReadAheadEarly(path: string): void {
  endUnusedReadAhead();
  started = spawn(path);
}

export function endUnusedReadAhead(): void {
  started?.worker.postMessage({ close: true });
  started = undefined;
}

export class ReadAhead {
  private readonly thread: Thread;
  private readonly slots: Buffer[];
  /** What each slot was asked to hold: the key, the length, and its bytes once read. */
  private readonly asked: ({ key: number; length: number; bytes?: Buffer | null } | null)[];
  private next = 0;
  private requests = 0;

  /**
   * `slots`: the buffers to read into, each a view of a SharedArrayBuffer (the scan's, in the
   * JPEG search's memory), or how many to make of `slotSize` bytes.
   */
  constructor(path: string, slotSize: number, slots: number | Buffer[] = 2) {
    const views = typeof slots === 'number' ? Array.from({ length: slots }, () => Buffer.from(new SharedArrayBuffer(slotSize))) : slots;
    if (views.some((v) => !(v.buffer instanceof SharedArrayBuffer))) throw new Error('read-ahead slots must be views of a SharedArrayBuffer');
    if (views.length > MAX_SLOTS) throw new Error(`at most ${MAX_SLOTS} read-ahead slots`);
    this.thread = started?.path === path ? started : spawn(path);
    if (this.thread === started) started = undefined;
    this.slots = views;
    this.asked = views.map(() => null);
    this.thread.worker.postMessage({ slots: views.map((v) => ({ buffer: v.buffer, offset: v.byteOffset, length: v.length })) });
  }

  /** Ask for `runs` (absolute offsets, total ≤ the slot size), read into the next free slot; `key` names the request. */
  request(key: number, runs: readonly ByteRun[]): void {
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
    // A worker that died leaves its request pending (its 'error' event cannot come while we wait here).
    const giveUpAt = Date.now() + MAX_WAIT_MS;
    while (Atomics.load(control, at) === PENDING && Date.now() < giveUpAt) Atomics.wait(control, at, PENDING, 1000);
    const whole = Atomics.load(control, at) === DONE && Atomics.load(control, at + 1) === asked.length;
    asked.bytes = whole ? this.slots[slot].subarray(0, asked.length) : null;
    return asked.bytes;
  }
}
