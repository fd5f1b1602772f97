import { ASKED, CLOSE, DONE, FAILED, MAX_RUNS, MAX_SLOTS, PENDING, QUEUE, QUEUE_LENGTH, SERVING, SLOT_STATE, STOP_WARMING, spawn, takeEarlyThread, type Thread, type WarmUp } from './read-ahead-thread.js';
import type { ByteRun } from '../reader.js';

export type { WarmUp } from './read-ahead-thread.js';

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

/** Longer than any read of a healthy card; a failing one is then read by the caller, the careful way. */
const MAX_WAIT_MS = 60_000;

/** A thread that has not started serving by then is taken for dead: the caller reads for itself. */
const BOOT_WAIT_MS = 10_000;

let started: Thread | undefined;

/**
 * Start a reading thread now, so that it boots (50-110 ms on the other core here)
 * while the rest of the tool loads and the file systems are read, and then touches the pages
 * of `warm` until the scan takes it over. The scan's ReadAhead tells it which file to read;
 * one that no scan wants is ended by `endUnusedReadAhead`. Nothing but the thread may use
 * `warm`'s memory until then.
 */
export function startReadAheadEarly(warm?: WarmUp): void {
  started ??= adopt();
  if (warm && !started.warming) {
    started.warming = true;
    started.worker.postMessage({ warm });
  }
}

/** The launcher's thread, or a new one; which, for CARDRESCUE_TIMING (src/timing.ts) and the tests. */
function adopt(): Thread {
  const early = takeEarlyThread();
  (globalThis as Record<symbol, unknown>)[READING_THREAD] = early ? 'started by the launcher' : 'started by the tool';
  return early ?? spawn();
}

const READING_THREAD = Symbol.for('cardrescue.readingThread');

/** End the thread started for a scan that will not use it (the launcher's too, not yet taken over). */
export function endUnusedReadAhead(): void {
  started ??= takeEarlyThread();
  if (!started) return;
  (globalThis as Record<symbol, unknown>)[READING_THREAD] = 'ended unused';
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
    this.thread = started ?? adopt();
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
