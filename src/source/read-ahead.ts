import { ASKED, CLOSE, DONE, FAILED, MAX_RUNS, MAX_SLOTS, PENDING, QUEUE, QUEUE_LENGTH, READING_THREADS, SERVING, SLOT_STATE, STOP_WARMING, spawn, takeEarlyThreads, type Thread, type WarmUp } from './read-ahead-thread.js';
import type { ByteRun } from '../reader.js';

export type { WarmUp } from './read-ahead-thread.js';

/**
 * The scan reads the card in order, chunk after chunk, and works on each chunk in between:
 * done one after the other, reading and working add up. Worker threads read the next chunks
 * while the scan works on this one, so the card is read in the time the work takes (or the
 * work done in the time the reading takes). Two of them (READING_THREADS), taking the chunks
 * in turn: one thread's reads run at the speed of one core's copying, two go about as fast
 * again when the scan leaves a core free. The main thread waits for a chunk with
 * Atomics.wait: the scan stays synchronous.
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

/** Threads started for the next scan (warming up its slots), not yet taken by a ReadAhead. */
let started: Thread[] = [];

/**
 * Start the reading threads now, so that they boot (50-110 ms on the other core here)
 * while the rest of the tool loads and the file systems are read, and then touch the pages
 * of `warm` until the scan takes them over: each thread the slots it will read into
 * (`slotGroups`, the split the ReadAhead makes). The scan's ReadAhead tells them which file
 * to read; threads no scan wants are ended by `endUnusedReadAhead`. Nothing but the threads
 * may use `warm`'s memory until then.
 */
export function startReadAheadEarly(warm?: WarmUp): void {
  if (!started.length) started = adopt(READING_THREADS);
  if (warm && !started.some((t) => t.warming)) {
    const groups = slotGroups(warm.ranges, started.length);
    started.forEach((thread, i) => {
      thread.warming = true;
      if (groups[i].length) thread.worker.postMessage({ warm: { memory: warm.memory, ranges: groups[i] } });
    });
  }
}

/** The launcher's threads, and new ones up to `count`; which, for CARDRESCUE_TIMING (src/timing.ts) and the tests. */
function adopt(count: number): Thread[] {
  const threads = takeEarlyThreads();
  const by = threads.length ? 'started by the launcher' : 'started by the tool';
  while (threads.length < count) threads.push(spawn());
  (globalThis as Record<symbol, unknown>)[READING_THREAD] = `${threads.length}, ${by}`;
  return threads;
}

const READING_THREAD = Symbol.for('cardrescue.readingThread');

/** End the threads started for a scan that will not use them (the launcher's too, not yet taken over). */
export function endUnusedReadAhead(): void {
  if (!started.length) started = takeEarlyThreads();
  if (!started.length) return;
  (globalThis as Record<symbol, unknown>)[READING_THREAD] = 'ended unused';
  for (const thread of started) endThread(thread);
  started = [];
}

function endThread(thread: Thread): void {
  Atomics.store(thread.control, STOP_WARMING, 1);
  thread.worker.postMessage({ close: true });
}

/**
 * The slots each of `threads` threads reads into: consecutive ones, as even as they go. The
 * warm-up splits its ranges the same way, so that a thread only ever touches its own slots.
 */
export function slotGroups<T>(slots: readonly T[], threads: number): T[][] {
  const groups: T[][] = [];
  for (let i = 0, at = 0; i < threads; i++) {
    const n = Math.floor((slots.length - at) / (threads - i));
    groups.push(slots.slice(at, at + n));
    at += n;
  }
  return groups;
}

/** One reading thread of a ReadAhead, with the slots it reads into. */
interface Reader {
  thread: Thread;
  /** Its slots: views of the caller's memory. */
  slots: Buffer[];
  /** Requests it was given. */
  requests: number;
}

export class ReadAhead {
  /** The threads that have slots. */
  private readonly readers: Reader[];
  /**
   * Every slot, in the order requests use them: the threads' in turn, so that the chunks of a
   * scan alternate between the threads, and each slot is asked again only after all the others
   * (a caller that holds at most as many requests as there are slots never loses one).
   */
  private readonly order: { reader: Reader; slot: number }[] = [];
  private next = 0;
  /** What is asked under each key: the slot, the length, and its bytes once read. */
  private readonly asked = new Map<number, { reader: Reader; slot: number; length: number; bytes?: Buffer | null }>();
  private bootDeadline: number;
  /** Set once a thread has let a wait run out: from then on the caller reads for itself. */
  private gone = false;

  /**
   * `slots`: the buffers to read into, each a view of a SharedArrayBuffer (the scan's, in the
   * JPEG search's memory), or how many to make of `slotSize` bytes. They are shared out among
   * the threads started for the scan (startReadAheadEarly), or READING_THREADS new ones
   * (`threads`), as `slotGroups` says. `bootWaitMs`: how long a thread may take to start
   * serving before the caller reads for itself (BOOT_WAIT_MS).
   */
  constructor(path: string, slotSize: number, slots: number | Buffer[] = 2, options: { bootWaitMs?: number; threads?: number } = {}) {
    const views = typeof slots === 'number' ? Array.from({ length: slots }, () => Buffer.from(new SharedArrayBuffer(slotSize))) : slots;
    if (views.some((v) => !(v.buffer instanceof SharedArrayBuffer))) throw new Error('read-ahead slots must be views of a SharedArrayBuffer');
    // Threads warmed up for these slots are taken as they are: each warmed the group it now reads into.
    const threads = started.length ? started : adopt(options.threads ?? READING_THREADS);
    started = [];
    const groups = slotGroups(views, threads.length);
    if (groups.some((g) => g.length > MAX_SLOTS)) throw new Error(`at most ${MAX_SLOTS} read-ahead slots a thread`);
    this.bootDeadline = Date.now() + (options.bootWaitMs ?? BOOT_WAIT_MS);
    this.readers = [];
    threads.forEach((thread, i) => {
      // Stopped before it is given its slots: a thread still warming them up finishes that first.
      Atomics.store(thread.control, STOP_WARMING, 1);
      if (!groups[i].length) return endThread(thread);
      this.readers.push({ thread, slots: groups[i], requests: 0 });
      thread.worker.postMessage({ path, slots: groups[i].map((v) => ({ buffer: v.buffer, offset: v.byteOffset, length: v.length })) });
    });
    for (let slot = 0; this.order.length < views.length; slot++) {
      for (const reader of this.readers) if (slot < reader.slots.length) this.order.push({ reader, slot });
    }
  }

  /** How many threads read for it. */
  get threads(): number {
    return this.readers.length;
  }

  /** Ask for `runs` (absolute offsets, total ≤ the slot size), read into the next free slot; `key` names the request. */
  request(key: number, runs: readonly ByteRun[]): void {
    if (this.gone || !this.order.length) return;
    const { reader, slot } = this.order[this.next];
    this.next = (this.next + 1) % this.order.length;
    for (const [k, a] of this.asked) if (a.reader === reader && a.slot === slot) this.asked.delete(k);
    let length = 0;
    for (const r of runs) length += r.length;
    if (length > reader.slots[slot].length || runs.length > MAX_RUNS) return;
    this.asked.set(key, { reader, slot, length });
    const { control, runs: shared } = reader.thread;
    const base = slot * (1 + 2 * MAX_RUNS);
    shared[base] = runs.length;
    for (let i = 0; i < runs.length; i++) {
      shared[base + 1 + 2 * i] = runs[i].offset;
      shared[base + 2 + 2 * i] = runs[i].length;
    }
    Atomics.store(control, SLOT_STATE + 2 * slot, PENDING);
    Atomics.store(control, QUEUE + (reader.requests % QUEUE_LENGTH), slot);
    reader.requests++;
    Atomics.store(control, ASKED, reader.requests);
    Atomics.notify(control, ASKED);
  }

  /**
   * The bytes asked for under `key`, once a thread has read them; null when they were not
   * asked for or not read whole. The buffer is the slot itself: valid until the slot is asked again.
   */
  take(key: number): Buffer | null {
    const got = this.peek(key);
    this.asked.delete(key);
    return got;
  }

  /** The bytes asked for under `key` (waiting for them), without handing the slot back: `take` gives them again. */
  peek(key: number): Buffer | null {
    const asked = this.asked.get(key);
    return asked ? this.wait(asked) : null;
  }

  /** Stop the threads, once they have finished what they were asked: the slots may be someone else's next. */
  close(): void {
    for (const asked of this.asked.values()) this.wait(asked);
    this.asked.clear();
    for (const { thread } of this.readers) {
      Atomics.store(thread.control, CLOSE, 1);
      Atomics.notify(thread.control, ASKED);
    }
  }

  private wait(asked: { reader: Reader; slot: number; length: number; bytes?: Buffer | null }): Buffer | null {
    if (asked.bytes !== undefined) return asked.bytes;
    const { control } = asked.reader.thread;
    const at = SLOT_STATE + 2 * asked.slot;
    const giveUpAt = Date.now() + MAX_WAIT_MS;
    while (!this.gone && Atomics.load(control, at) === PENDING) {
      const now = Date.now();
      if (now >= giveUpAt || (now >= this.bootDeadline && Atomics.load(control, SERVING) === 0)) {
        this.gone = true;
        for (const { thread } of this.readers) Atomics.store(thread.control, CLOSE, 1);
      } else Atomics.wait(control, at, PENDING, 100);
    }
    const whole = Atomics.load(control, at) === DONE && Atomics.load(control, at + 1) === asked.length;
    asked.bytes = whole ? asked.reader.slots[asked.slot].subarray(0, asked.length) : null;
    return asked.bytes;
  }
}
