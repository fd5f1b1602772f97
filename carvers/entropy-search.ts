import { ENTROPY_SEARCH_WASM } from './entropy-search-wasm.js';

/**
 * Where a JPEG's entropy-coded data ends: the first FF not followed by 00, D0–D7 or FF.
 * The search runs in WebAssembly (carvers/entropy-search.wat), 64 bytes a step. Buffers
 * that live in its memory are searched where they lie; the scan puts its chunks there
 * (`leaseSearchMemory`). Any other buffer is copied in, a piece at a time, which still costs
 * far less than the search did with one Buffer.indexOf call per FF. Where WebAssembly SIMD
 * is missing (an x86 CPU without SSE4.1), the indexOf search is used.
 */

const PAGE = 64 * 1024;
/** Buffers from elsewhere are copied into this much of the memory at a time. */
const SCRATCH = 1024 * 1024;
/** The memory's first bytes are the scratch area; leases follow. */
const LEASE_BASE = SCRATCH;
/** Shared memories are reserved at their maximum size up front: 256 MiB of address space, not of RAM. */
const MAX_PAGES = 4096;

interface Engine {
  memory: WebAssembly.Memory;
  findMarker: (p: number, end: number) => number;
  lowRun: (from: number, to: number, p: number) => number;
  runEnd: () => number;
  sawLow: () => number;
  /** Every SharedArrayBuffer object the memory has been seen through (a grow makes a new one). */
  views: Set<ArrayBufferLike>;
  leased: boolean;
}

let engine: Engine | null | undefined;

function start(): Engine | null {
  if (engine !== undefined) return engine;
  try {
    const memory = new WebAssembly.Memory({ initial: LEASE_BASE / PAGE, maximum: MAX_PAGES, shared: true });
    const module = new WebAssembly.Module(Buffer.from(ENTROPY_SEARCH_WASM, 'base64'));
    const instance = new WebAssembly.Instance(module, { env: { memory } });
    const x = instance.exports as unknown as Pick<Engine, 'findMarker' | 'lowRun' | 'runEnd' | 'sawLow'>;
    engine = { memory, findMarker: x.findMarker, lowRun: x.lowRun, runEnd: x.runEnd, sawLow: x.sawLow, views: new Set([memory.buffer]), leased: false };
  } catch {
    engine = null;
  }
  return engine;
}

/** True when the WebAssembly search is in use (false: the indexOf search). */
export function wasmSearchAvailable(): boolean {
  return start() !== null;
}

/** Called with [start, end) of each run of LOW_RUN_MIN or more low bytes on the way (see lowRuns). */
export type LowRunVisitor = (start: number, end: number) => void;

/**
 * In buf[from, to): the index of the first marker's FF; to - 1 when the last byte is an FF
 * whose next byte is not in hand; to when there is no marker. With `onLowRun`, also reports
 * the low runs in buf[from, that index).
 */
export function findEntropyMarker(buf: Uint8Array, from = 0, to = buf.length, onLowRun?: LowRunVisitor): number {
  const e = start();
  if (e && e.views.has(buf.buffer)) {
    const q = e.findMarker(buf.byteOffset + from, buf.byteOffset + to) - buf.byteOffset;
    // The search noticed whether a run could be there: most scan data is never probed.
    if (onLowRun && e.sawLow()) lowRuns(buf, from, q, onLowRun);
    return q;
  }
  const q = e ? findCopied(e, buf, from, to) : findEntropyMarkerByIndexOf(buf, from, to);
  if (onLowRun) lowRunsInJs(buf, from, q, onLowRun);
  return q;
}

/** The search of a buffer outside the memory: copied into it a piece at a time. */
function findCopied(e: Engine, buf: Uint8Array, from: number, to: number): number {
  const scratch = new Uint8Array(e.memory.buffer, 0, SCRATCH);
  let p = from;
  while (p < to) {
    const n = Math.min(SCRATCH, to - p);
    scratch.set(buf.subarray(p, p + n));
    const q = e.findMarker(0, n);
    // An FF at the end of a piece that is not the end of buf: look again from it, with what follows.
    if (q < n - 1 || (q === n - 1 && p + n === to)) return p + q;
    p += q; // q ≥ 1 here: a piece of one byte is the last

  }
  return to;
}

/** The same search with Buffer.indexOf: one call per FF. */
export function findEntropyMarkerByIndexOf(buf: Uint8Array, from = 0, to = buf.length): number {
  const b = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  let i = b.indexOf(0xff, from);
  while (i >= 0 && i < to) {
    if (i + 1 >= to) return i;
    const next = b[i + 1];
    if (next === 0x00 || (next >= 0xd0 && next <= 0xd7)) i = b.indexOf(0xff, i + 2);
    else if (next === 0xff) i++;
    else return i;
  }
  return to;
}

/** A run of this many bytes below 0x80 cannot be entropy-coded data. */
export const LOW_RUN_MIN = 256;

/**
 * Calls `visit(start, end)` for every run of LOW_RUN_MIN or more bytes below 0x80 in
 * buf[from, to), a stretch of scan data (bytes before `from` are not looked at). Huffman-
 * coded data has its high bit set about half the time, so such a run is zeros or text the
 * walk crossed (a gap in a fragmented file), or a flat area of the picture: the caller tells
 * which. The 00 after a stuffed FF is not scan data and ends a run. Only every
 * LOW_RUN_MIN-th byte is looked at until one is low, so the cost is a small part of a pass.
 */
export function lowRuns(buf: Uint8Array, from: number, to: number, visit: (start: number, end: number) => void): void {
  const e = start();
  if (e && e.views.has(buf.buffer)) {
    const base = buf.byteOffset;
    for (let p = from + LOW_RUN_MIN - 1; ; ) {
      const s = e.lowRun(base + from, base + to, base + p);
      if (s < 0) return;
      const end = e.runEnd() - base;
      visit(s - base, end);
      p = end + LOW_RUN_MIN;
    }
  }
  lowRunsInJs(buf, from, to, visit);
}

/** lowRuns for buffers outside the memory (and without WebAssembly). */
export function lowRunsInJs(buf: Uint8Array, from: number, to: number, visit: (start: number, end: number) => void): void {
  let p = from + LOW_RUN_MIN - 1;
  while (p < to) {
    if (buf[p] >= 0x80) {
      p += LOW_RUN_MIN;
      continue;
    }
    let s = p;
    if (buf[p - 1] === 0xff) s = p + 1; // p is a stuffed FF's 00
    else while (s > from && buf[s - 1] < 0x80 && !(s - 2 >= from && buf[s - 2] === 0xff)) s--;
    let e = s > p ? s : p + 1;
    while (e < to && buf[e] < 0x80) e++;
    if (e - s >= LOW_RUN_MIN) visit(s, e);
    p = e + LOW_RUN_MIN;
  }
}

export interface SearchMemoryLease {
  /** Buffers of the sizes asked for, in the search's memory: searched without a copy. */
  buffers: Buffer[];
  release(): void;
}

/**
 * Buffers in the search's memory, for the scan's chunks (one lease at a time: undefined
 * when it is taken, or without WebAssembly; the caller then uses ordinary buffers). Their
 * ArrayBuffer is a SharedArrayBuffer, so a worker thread can read into them.
 */
export function leaseSearchMemory(sizes: readonly number[]): SearchMemoryLease | undefined {
  const e = start();
  if (!e || e.leased) return undefined;
  const layout = layOut(e, sizes);
  if (!layout) return undefined;
  const buffers = layout.map((r) => Buffer.from(e.memory.buffer, r.offset, r.length));
  e.leased = true;
  return { buffers, release: () => void (e.leased = false) };
}

/**
 * Where a lease of these sizes will lie, made ready now (the memory grown to hold it): the
 * scan's reading thread is given this at its start and touches those pages while it would
 * otherwise sit idle (src/source/read-ahead.ts). Undefined without WebAssembly.
 */
export function reserveSearchMemory(sizes: readonly number[]): { memory: SharedArrayBuffer; ranges: { offset: number; length: number }[] } | undefined {
  const e = start();
  const layout = e ? layOut(e, sizes) : undefined;
  return e && layout ? { memory: e.memory.buffer as unknown as SharedArrayBuffer, ranges: layout } : undefined;
}

/** The lease's buffers, one after the other past the scratch area; the memory grown to hold them. */
function layOut(e: Engine, sizes: readonly number[]): { offset: number; length: number }[] | undefined {
  const aligned = sizes.map((s) => Math.ceil(s / 64) * 64);
  const need = LEASE_BASE + aligned.reduce((a, b) => a + b, 0);
  const pages = Math.ceil(need / PAGE);
  const have = e.memory.buffer.byteLength / PAGE;
  if (pages > MAX_PAGES) return undefined;
  if (pages > have) e.memory.grow(pages - have);
  e.views.add(e.memory.buffer);
  let at = LEASE_BASE;
  return sizes.map((length, i) => {
    const r = { offset: at, length };
    at += aligned[i];
    return r;
  });
}
