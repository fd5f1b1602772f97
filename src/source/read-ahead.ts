import { Worker } from 'node:worker_threads';
import type { ByteRun } from '../reader.js';

/**
 * The scan reads the card in order, chunk after chunk, and works on each chunk in between:
 * done one after the other, reading and working add up. A worker thread reads the next
 * chunk while the scan works on this one, so on two cores the card is read in the time the
 * work takes (or the work done in the time the reading takes). The main thread waits for a
 * chunk with Atomics.wait: the scan stays synchronous.
 *
 * The worker does plain reads on its own read-only descriptor, nothing else. Whatever goes
 * wrong there (a read error, a short read) makes `take` return null, and the caller reads
 * that chunk itself the careful way (src/source/source.ts: retries, unreadable sectors).
 */

const PENDING = 1;
const DONE = 2;
const FAILED = 3;
/** Longer than any read of a healthy card; a failing one is then read by the caller, the careful way. */
const MAX_WAIT_MS = 60_000;

const WORKER_CODE = `
const { parentPort, workerData } = require('node:worker_threads');
const fs = require('node:fs');
const state = new Int32Array(workerData.state);
let fd = -1;
try {
  fd = fs.openSync(workerData.path, fs.constants.O_RDONLY);
} catch {}
let slots = [];
parentPort.on('message', (m) => {
  if (m.close) {
    if (fd >= 0) fs.closeSync(fd);
    parentPort.close();
    return;
  }
  if (m.slots) {
    slots = m.slots.map((s) => Buffer.from(s.buffer, s.offset, s.length));
    return;
  }
  const buf = slots[m.slot];
  let filled = 0;
  let ok = fd >= 0;
  if (ok) try {
    for (const r of m.runs) {
      let done = 0;
      while (done < r.length) {
        const n = fs.readSync(fd, buf, filled + done, r.length - done, r.offset + done);
        if (n <= 0) break;
        done += n;
      }
      filled += done;
      if (done < r.length) { ok = false; break; }
    }
  } catch {
    ok = false;
  }
  Atomics.store(state, m.slot * 2 + 1, filled);
  Atomics.store(state, m.slot * 2, ok ? ${DONE} : ${FAILED});
  Atomics.notify(state, m.slot * 2);
});
`;

/** Slots a thread can be given at most (its state array is made before it knows). */
const MAX_SLOTS = 8;

/** A reading thread, booting or booted, not yet given its slots. */
interface Thread {
  path: string;
  worker: Worker;
  state: Int32Array;
}

function spawn(path: string): Thread {
  const stateBuffer = new SharedArrayBuffer(Int32Array.BYTES_PER_ELEMENT * 2 * MAX_SLOTS);
  const state = new Int32Array(stateBuffer);
  const worker = new Worker(WORKER_CODE, { eval: true, workerData: { path, state: stateBuffer } });
  worker.unref();
  // An error in the worker (it could not open the path) leaves its requests pending: `take` then falls back.
  worker.on('error', () => state.fill(FAILED));
  return { path, worker, state };
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
  private readonly worker: Worker;
  private readonly state: Int32Array;
  private readonly slots: Buffer[];
  /** What each slot was asked to hold: the first absolute offset and the length. */
  private readonly asked: ({ key: number; length: number } | null)[];
  private next = 0;

  /**
   * `slots`: the buffers to read into, each a view of a SharedArrayBuffer (the scan's, in the
   * JPEG search's memory), or how many to make of `slotSize` bytes.
   */
  constructor(path: string, slotSize: number, slots: number | Buffer[] = 2) {
    const views = typeof slots === 'number' ? Array.from({ length: slots }, () => Buffer.from(new SharedArrayBuffer(slotSize))) : slots;
    if (views.some((v) => !(v.buffer instanceof SharedArrayBuffer))) throw new Error('read-ahead slots must be views of a SharedArrayBuffer');
    if (views.length > MAX_SLOTS) throw new Error(`at most ${MAX_SLOTS} read-ahead slots`);
    const thread = started?.path === path ? started : spawn(path);
    if (thread === started) started = undefined;
    this.worker = thread.worker;
    this.state = thread.state;
    this.slots = views;
    this.asked = views.map(() => null);
    this.worker.postMessage({ slots: views.map((v) => ({ buffer: v.buffer, offset: v.byteOffset, length: v.length })) });
  }

  /** Ask for `runs` (absolute offsets, total ≤ the slot size), read into the next free slot; `key` names the request. */
  request(key: number, runs: readonly ByteRun[]): void {
    const slot = this.next;
    this.next = (this.next + 1) % this.slots.length;
    const length = runs.reduce((n, r) => n + r.length, 0);
    if (length > this.slots[slot].length) {
      this.asked[slot] = null;
      return;
    }
    this.asked[slot] = { key, length };
    Atomics.store(this.state, slot * 2, PENDING);
    this.worker.postMessage({ slot, runs: runs.map((r) => ({ offset: r.offset, length: r.length })) });
  }

  /**
   * The bytes asked for under `key`, once the worker has read them; null when they were not
   * asked for or not read whole. The buffer is the slot itself: valid until the slot is asked again.
   */
  take(key: number): Buffer | null {
    const got = this.peek(key);
    const slot = this.asked.findIndex((a) => a?.key === key);
    if (slot >= 0) this.asked[slot] = null;
    return got;
  }

  /** The bytes asked for under `key` (waiting for them), without handing the slot back: `take` gives them again. */
  peek(key: number): Buffer | null {
    const slot = this.asked.findIndex((a) => a?.key === key);
    if (slot < 0) return null;
    const asked = this.asked[slot]!;
    // A worker that died leaves its request pending (its 'error' event cannot come while we wait here).
    const giveUpAt = Date.now() + MAX_WAIT_MS;
    while (Atomics.load(this.state, slot * 2) === PENDING && Date.now() < giveUpAt) Atomics.wait(this.state, slot * 2, PENDING, 1000);
    if (Atomics.load(this.state, slot * 2) !== DONE || Atomics.load(this.state, slot * 2 + 1) !== asked.length) return null;
    return this.slots[slot].subarray(0, asked.length);
  }

  close(): void {
    this.worker.postMessage({ close: true });
  }
}
