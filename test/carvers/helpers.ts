import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { BufferReader } from '../../src/reader.js';
import type { Carver, WalkLimits, WalkResult } from '../../carvers/types.js';

/** The real camera files (never copied into the repository); tests using them skip without. */
export const SAMPLES = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../shared/samples');
export const HAVE_SAMPLES = fs.existsSync(SAMPLES);

/** Sample files under `folder` whose names match `pattern`, as paths relative to SAMPLES, sorted. */
export function samples(folder: string, pattern: RegExp): string[] {
  const root = path.join(SAMPLES, folder);
  if (!fs.existsSync(root)) return [];
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const ent of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, ent.name);
      if (ent.isDirectory()) walk(p);
      else if (pattern.test(ent.name)) out.push(path.relative(SAMPLES, p));
    }
  };
  walk(root);
  return out.sort();
}

export function readSample(rel: string): Buffer {
  return fs.readFileSync(path.join(SAMPLES, rel));
}

/** Deterministic pseudo-random bytes (xorshift32), so a failure can be reproduced. */
export function randomBytes(length: number, seed = 1): Buffer {
  const out = Buffer.alloc(length);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}

/** Walk `buf` from `start` with the whole buffer as the limit unless told otherwise. */
export function walkBuffer(carver: Carver, buf: Buffer, limits: Partial<WalkLimits> = {}, start = 0): WalkResult {
  return carver.walk(new BufferReader(buf), start, { maxLength: buf.length - start, ...limits });
}

export function ok(result: WalkResult): Extract<WalkResult, { ok: true }> {
  if (!result.ok) throw new Error(`walk failed: ${result.reason} (validUpTo ${result.validUpTo})`);
  return result;
}

/** Flip one bit at each of `count` positions chosen by `seed` within the first `span` bytes. */
export function bitFlipped(buf: Buffer, count: number, seed: number, span = buf.length): Buffer {
  const out = Buffer.from(buf);
  const r = randomBytes(count * 4, seed);
  for (let i = 0; i < count; i++) {
    const pos = r.readUInt32LE(i * 4) % Math.max(1, Math.min(span, out.length));
    out[pos] ^= 1 << (r[i * 4] & 7);
  }
  return out;
}

export const u16be = (n: number) => Buffer.from([(n >> 8) & 0xff, n & 0xff]);
export const u32be = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b;
};
export const u32le = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n >>> 0);
  return b;
};

// ---- TIFF building blocks for synthetic files ---------------------------------------------

export interface TagSpec {
  tag: number;
  /** TIFF field type: 2 ASCII, 3 SHORT, 4 LONG, 7 UNDEFINED, 13 IFD. */
  type: number;
  /** Numbers for SHORT/LONG/IFD, a string for ASCII (NUL added), bytes for UNDEFINED. */
  value: number[] | string | Buffer;
}

function tagData(le: boolean, t: TagSpec): { count: number; data: Buffer } {
  if (typeof t.value === 'string') {
    const data = Buffer.from(t.value + '\0', 'latin1');
    return { count: data.length, data };
  }
  if (Buffer.isBuffer(t.value)) return { count: t.value.length, data: t.value };
  const unit = t.type === 3 ? 2 : 4;
  const data = Buffer.alloc(unit * t.value.length);
  t.value.forEach((v, i) => {
    if (unit === 2) le ? data.writeUInt16LE(v, i * 2) : data.writeUInt16BE(v, i * 2);
    else le ? data.writeUInt32LE(v >>> 0, i * 4) : data.writeUInt32BE(v >>> 0, i * 4);
  });
  return { count: t.value.length, data };
}

/** Bytes an IFD built by tiffIfd() takes, its out-of-line values included. */
export function tiffIfdSize(le: boolean, tags: TagSpec[]): number {
  let n = 2 + 12 * tags.length + 4;
  for (const t of tags) {
    const { data } = tagData(le, t);
    if (data.length > 4) n += data.length + (data.length & 1);
  }
  return n;
}

/** An IFD placed at offset `at` (from the TIFF header), its long values right after it. */
export function tiffIfd(le: boolean, at: number, tags: TagSpec[], next = 0): Buffer {
  const sorted = [...tags].sort((a, b) => a.tag - b.tag);
  const head = Buffer.alloc(2 + 12 * sorted.length + 4);
  const extra: Buffer[] = [];
  let dataAt = at + head.length;
  const w16 = (v: number, p: number) => (le ? head.writeUInt16LE(v, p) : head.writeUInt16BE(v, p));
  const w32 = (v: number, p: number) => (le ? head.writeUInt32LE(v >>> 0, p) : head.writeUInt32BE(v >>> 0, p));
  w16(sorted.length, 0);
  sorted.forEach((t, i) => {
    const p = 2 + 12 * i;
    const { count, data } = tagData(le, t);
    w16(t.tag, p);
    w16(t.type, p + 2);
    w32(count, p + 4);
    if (data.length <= 4) data.copy(head, p + 8);
    else {
      w32(dataAt, p + 8);
      const padded = data.length & 1 ? Buffer.concat([data, Buffer.alloc(1)]) : data;
      extra.push(padded);
      dataAt += padded.length;
    }
  });
  w32(next, 2 + 12 * sorted.length);
  return Buffer.concat([head, ...extra]);
}

export function tiffHeader(le: boolean, ifd0: number, magic = 42): Buffer {
  const b = Buffer.alloc(8);
  b.write(le ? 'II' : 'MM', 0, 'latin1');
  le ? b.writeUInt16LE(magic, 2) : b.writeUInt16BE(magic, 2);
  le ? b.writeUInt32LE(ifd0, 4) : b.writeUInt32BE(ifd0, 4);
  return b;
}
