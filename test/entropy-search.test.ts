import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { findEntropyMarker, findEntropyMarkerByIndexOf, leaseSearchMemory, lowRuns, lowRunsInJs, wasmSearchAvailable } from '../carvers/entropy-search.js';
import { nextMarkerAfterScan } from '../carvers/jpeg.js';
import { BufferReader, type Reader } from '../src/reader.js';
// @ts-expect-error a plain .mjs tool without types
import { assemble, render } from '../tools/build-wasm.mjs';
import { ROOT } from './support/fixtures.js';

/** The definition, one byte at a time: what every search must agree with. */
function referenceFind(buf: Uint8Array, from: number, to: number): number {
  for (let i = from; i < to; i++) {
    if (buf[i] !== 0xff) continue;
    if (i + 1 >= to) return i;
    const b = buf[i + 1];
    if (b === 0x00 || (b >= 0xd0 && b <= 0xd7)) i++;
    else if (b !== 0xff) return i;
  }
  return to;
}

/** Pseudo-random bytes with many FFs, stuffing, RSTn, fill runs and the odd marker. */
function entropyLike(length: number, seed: number, markers = true): Buffer {
  let x = seed >>> 0 || 1;
  const rnd = () => ((x ^= x << 13), (x ^= x >>> 17), (x ^= x << 5), (x >>> 0) / 2 ** 32);
  const out = Buffer.alloc(length);
  for (let i = 0; i < length; i++) {
    const r = rnd();
    if (r < 0.02) out[i] = 0xff;
    else if (r < 0.03 && i > 0 && out[i - 1] === 0xff) out[i] = 0xd0 + Math.floor(rnd() * 8);
    else out[i] = Math.floor(rnd() * 256);
    if (out[i] === 0xff && i + 1 < length) {
      const k = rnd();
      out[++i] = k < 0.8 ? 0x00 : k < 0.9 ? 0xff : markers && k < 0.902 ? 0xd9 : 0xd0 + (i % 8);
      if (out[i] === 0xff && i + 1 < length) out[++i] = 0x00; // a fill byte, then the stuffed FF
    }
  }
  return out;
}

/** The search as it was (Buffer.indexOf per FF, low runs measured between FFs): the oracle for the scan-level result. */
function referenceNextMarker(reader: Reader, from: number, limitEnd: number): { marker: number; longestLowRun: number } | { scannedTo: number } {
  const CHUNK = 1024 * 1024;
  let pos = from;
  let longestLow = 0;
  const lowRunIn = (chunk: Buffer, a: number, b: number) => {
    if (b - a >= 256) longestLow = Math.max(longestLow, referenceLowRun(chunk, a, b));
  };
  while (pos < limitEnd) {
    const chunk = reader.read(pos, Math.min(CHUNK, limitEnd - pos));
    if (chunk.length === 0) break;
    let last = 0;
    let i = chunk.indexOf(0xff);
    while (i >= 0 && i + 1 < chunk.length) {
      lowRunIn(chunk, last, i);
      const b = chunk[i + 1];
      if (b === 0x00 || (b >= 0xd0 && b <= 0xd7)) {
        last = i + 2;
        i = chunk.indexOf(0xff, i + 2);
      } else if (b === 0xff) last = ++i;
      else return { marker: pos + i, longestLowRun: longestLow };
    }
    const advance = i >= 0 ? i : chunk.length;
    if (advance === 0) return { scannedTo: pos + chunk.length };
    lowRunIn(chunk, last, advance);
    pos += advance;
  }
  return { scannedTo: Math.min(pos, limitEnd) };
}

/** Every low run in chunk[from, to), byte by byte; zeros or text (16+ distinct values) count, like looksForeign. */
function referenceLowRun(chunk: Buffer, from: number, to: number): number {
  let longest = 0;
  for (let s = from; s < to; ) {
    if (chunk[s] >= 0x80) {
      s++;
      continue;
    }
    let e = s;
    while (e < to && chunk[e] < 0x80) e++;
    if (e - s >= 256 && e - s > longest && foreign(chunk, s, e)) longest = e - s;
    s = e;
  }
  return longest;
}

function foreign(chunk: Buffer, from: number, to: number): boolean {
  const seen = new Set<number>();
  let zeros = 0;
  for (let j = from; j < to; j++) {
    if (chunk[j] === 0) zeros++;
    seen.add(chunk[j]);
    if (seen.size >= 16) return true;
  }
  return zeros >= to - from - 16;
}

/** Every run of 256+ low bytes in buf[from, to), byte by byte; a stuffed FF's 00 is not part of one. */
function allLowRuns(buf: Buffer, from: number, to: number): number[][] {
  const out: number[][] = [];
  let s = -1;
  for (let i = from; i <= to; i++) {
    const low = i < to && buf[i] < 0x80 && !(i - 1 >= from && buf[i - 1] === 0xff);
    if (low && s < 0) s = i;
    if (!low && s >= 0) {
      if (i - s >= 256) out.push([s, i]);
      s = -1;
    }
  }
  return out;
}

describe('the entropy-coded data search', () => {
  it('the committed WebAssembly is what carvers/entropy-search.wat assembles to', async () => {
    const committed = fs.readFileSync(path.join(ROOT, 'carvers/entropy-search-wasm.ts'), 'utf8');
    expect(render(await assemble())).toBe(committed);
  });

  it('runs in WebAssembly on this machine (Node 20 on x86-64 or arm64 has SIMD)', () => {
    expect(wasmSearchAvailable()).toBe(true);
  });

  it('agrees with the definition at every length and start, in its memory, copied in, and with indexOf', () => {
    const lease = leaseSearchMemory([4096]);
    expect(lease).toBeDefined();
    try {
      const inMemory = lease!.buffers[0];
      for (let seed = 1; seed <= 60; seed++) {
        const data = entropyLike(1 + ((seed * 37) % 300), seed);
        data.copy(inMemory);
        for (const from of [0, 1, 5, 17]) {
          if (from > data.length) continue;
          for (const to of [data.length, data.length - 1, Math.min(data.length, from + 16), Math.min(data.length, from + 33)]) {
            if (to < from) continue;
            const want = referenceFind(data, from, to);
            expect(findEntropyMarker(data, from, to)).toBe(want);
            expect(findEntropyMarker(inMemory.subarray(0, data.length), from, to)).toBe(want);
            expect(findEntropyMarker(inMemory, from, to)).toBe(want);
            expect(findEntropyMarkerByIndexOf(data, from, to)).toBe(want);
          }
        }
      }
    } finally {
      lease!.release();
    }
  });

  it('finds FF pairs and markers placed on either side of the 1 MiB pieces a foreign buffer is copied in', () => {
    const MiB = 1024 * 1024;
    for (const at of [MiB - 2, MiB - 1, MiB, 2 * MiB - 1]) {
      for (const tail of [[0xff, 0x00], [0xff, 0xff, 0x00], [0xff, 0xd9], [0xff, 0xff, 0xd9], [0xff]]) {
        const data = Buffer.alloc(2 * MiB + 100, 0x11);
        Buffer.from(tail).copy(data, at);
        for (const to of [data.length, at + 1, at + 2]) {
          const want = referenceFind(data, 0, to);
          expect(findEntropyMarker(data, 0, to)).toBe(want);
          expect(findEntropyMarkerByIndexOf(data, 0, to)).toBe(want);
        }
      }
    }
  });

  it('finds the same low runs in its memory as in JavaScript, and as a byte-by-byte count', () => {
    const lease = leaseSearchMemory([70_000]);
    expect(lease).toBeDefined();
    try {
      let runs = 0;
      for (let seed = 1; seed <= 40; seed++) {
        const data = entropyLike(60_000 + seed, seed * 31, false);
        // Low stretches of every length around the threshold, some right after a stuffed FF.
        for (let k = 0; k < 12; k++) {
          const at = 1000 + k * 4700 + seed;
          if (k % 3 === 0) data.set([0xff, 0x00], at - 2);
          data.fill(k % 2 ? 0x41 : 0x00, at, at + 250 + ((k * seed) % 12));
        }
        data.copy(lease!.buffers[0]);
        const inMemory = lease!.buffers[0].subarray(0, data.length);
        for (const from of [0, 999, 1003]) {
          const a: number[][] = [];
          const b: number[][] = [];
          lowRuns(inMemory, from, data.length, (s, e) => a.push([s, e]));
          lowRunsInJs(data, from, data.length, (s, e) => b.push([s, e]));
          expect(a).toEqual(b);
          expect(a).toEqual(allLowRuns(data, from, data.length));
          runs += a.length;
        }
      }
      expect(runs).toBeGreaterThan(100);
    } finally {
      lease!.release();
    }
  });

  it('notices every run of 256 low bytes while searching, wherever it lies against its 64-byte steps', () => {
    const lease = leaseSearchMemory([4096]);
    expect(lease).toBeDefined();
    try {
      const mem = lease!.buffers[0];
      let seen = 0;
      for (let length = 250; length <= 300; length += 2) {
        for (let shift = 0; shift < 72; shift += 3) {
          for (const where of ['end', 'middle', 'marker'] as const) {
            // High bytes with no FF, one low run, then nothing, a little, or a marker.
            const total = 600 + shift;
            for (let i = 0; i < total; i++) mem[i] = 0x80 + ((i * 7) % 0x7f);
            const runEnd = where === 'end' ? total : total - 37;
            mem.fill(0x20, runEnd - length, runEnd);
            if (where === 'marker') mem.set([0xff, 0xd9], runEnd);
            const found: number[][] = [];
            const q = findEntropyMarker(mem, shift, total, (a, b) => found.push([a, b]));
            expect(q).toBe(where === 'marker' ? runEnd : total);
            const want = length >= 256 ? [[runEnd - length, runEnd]] : [];
            expect(found).toEqual(want);
            seen += found.length;
          }
        }
      }
      expect(seen).toBeGreaterThan(1500);
    } finally {
      lease!.release();
    }
  });

  it('a lease is one at a time, its buffers lie apart, and it can be taken again once given back', () => {
    const a = leaseSearchMemory([1000, 5000]);
    expect(a).toBeDefined();
    expect(leaseSearchMemory([10])).toBeUndefined();
    const [x, y] = a!.buffers;
    expect(x.length).toBe(1000);
    expect(y.length).toBe(5000);
    expect(y.byteOffset).toBeGreaterThanOrEqual(x.byteOffset + x.length);
    expect(x.buffer).toBeInstanceOf(SharedArrayBuffer);
    a!.release();
    const b = leaseSearchMemory([64 * 1024 * 1024]);
    expect(b?.buffers[0].length).toBe(64 * 1024 * 1024);
    b!.release();
  });

  it('ends the scan data where the search by indexOf did, and measures the same gaps of zeros or text', () => {
    const MiB = 1024 * 1024;
    const gaps: [number, Buffer][] = [
      [300, Buffer.alloc(4096)], // zeros
      [5000, Buffer.from('The quick brown fox jumps over the lazy dog. '.repeat(20))], // text
      [MiB - 700, Buffer.alloc(1500)], // across the 1 MiB read boundary
      [9000, Buffer.concat([Buffer.from([0xff, 0x00]), Buffer.alloc(600)])], // right after a stuffed FF
      [20000, Buffer.alloc(255)], // one byte too short
      [30000, Buffer.from(Array.from({ length: 400 }, (_, i) => (i % 3) + 1))], // a flat area: few values, not a gap
    ];
    const lease = leaseSearchMemory([3 * MiB]);
    expect(lease).toBeDefined();
    const inMemory = lease!.buffers[0];
    let checked = 0;
    let withGap = 0;
    let unended = 0;
    for (let seed = 1; seed <= 24; seed++) {
      const size = seed % 3 === 0 ? 2 * MiB + 77 : 64 * 1024 + seed * 101;
      const data = entropyLike(size, seed * 7919, false);
      for (const [at, gap] of gaps) if (at + gap.length < data.length) gap.copy(data, at);
      if (seed % 4 !== 0) Buffer.from([0xff, 0xd9]).copy(data, data.length - 1000 - seed); // the EOI
      if (seed % 5 === 0) data[data.length - 1] = 0xff; // an FF as the very last byte
      const reader = new BufferReader(data);
      // The same bytes where the scan puts its chunks: searched there by WebAssembly, not copied.
      data.copy(inMemory);
      const inPlace = new BufferReader(inMemory.subarray(0, data.length));
      for (const from of [0, 3, 1000]) {
        const want = referenceNextMarker(reader, from, data.length);
        expect(nextMarkerAfterScan(reader, from, data.length)).toEqual(want);
        expect(nextMarkerAfterScan(inPlace, from, data.length)).toEqual(want);
        checked++;
        if ('longestLowRun' in want && want.longestLowRun > 0) withGap++;
        if ("scannedTo" in want) unended++;
      }
    }
    lease!.release();
    expect(checked).toBe(72);
    // The cases cover both outcomes, and gaps that were measured.
    expect(withGap).toBeGreaterThan(10);
    expect(unended).toBeGreaterThan(10);
  });
});
