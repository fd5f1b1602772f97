import type { Reader } from '../src/reader.js';
import type { Carver, WalkLimits, WalkResult } from './types.js';
import { ByteSource, cString } from './bytes.js';
import { cameraName } from './ifd.js';
import { MAX_CIFF_ENTRIES, MAX_CRW_SIZE } from './limits.js';

/**
 * Canon CRW (CIFF, "Camera Image File Format"): a header ('II', header length,
 * 'HEAPCCDR') and one heap from there to the end of the file. A heap keeps its records
 * first and its directory last, and its final 4 bytes say where that directory starts.
 * So the end is found from the back: the first position E where the 4 bytes before E
 * point at a directory whose entries end exactly at E - 4, and whose records fill the
 * heap up to that directory.
 */

/** Records are in the heap (location bits 00) or in the directory entry itself (01). */
const IN_HEAP = 0x0000;
/** Record types that are sub-heaps (0x2800 / 0x3000 storage classes). */
const isSubHeap = (tag: number) => (tag & 0x3800) === 0x2800 || (tag & 0x3800) === 0x3000;
/** Make and model, two NUL-terminated strings. */
const TAG_MAKE_MODEL = 0x080a;

function detect(head: Buffer): boolean {
  return head.length >= 14 && head.toString('latin1', 0, 2) === 'II' && head.toString('latin1', 6, 14) === 'HEAPCCDR';
}

interface Dir {
  entries: { tag: number; size: number; offset: number }[];
}

/**
 * The directory of the heap [heapStart, heapEnd), when its last 4 bytes point at one
 * that ends exactly there and whose in-heap records end exactly where it starts.
 */
function readDir(src: ByteSource, heapStart: number, heapEnd: number): Dir | undefined {
  const rel = src.u32(heapEnd - 4, true);
  if (rel === undefined) return undefined;
  const at = heapStart + rel;
  if (at < heapStart || at + 2 > heapEnd - 4) return undefined;
  const n = src.u16(at, true) ?? 0;
  if (n < 1 || n > MAX_CIFF_ENTRIES || at + 2 + 10 * n !== heapEnd - 4) return undefined;
  const raw = src.bytes(at + 2, 10 * n);
  const entries: Dir['entries'] = [];
  let dataEnd = 0;
  for (let i = 0; i < n; i++) {
    const tag = raw.readUInt16LE(10 * i);
    const size = raw.readUInt32LE(10 * i + 2);
    const offset = raw.readUInt32LE(10 * i + 6);
    if ((tag & 0xc000) === IN_HEAP) {
      if (offset + size > rel) return undefined;
      dataEnd = Math.max(dataEnd, offset + size);
    }
    entries.push({ tag, size, offset });
  }
  return dataEnd === rel ? { entries } : undefined;
}

/** Make/model from the sub-heaps (bounded depth). */
function findCamera(src: ByteSource, heapStart: number, dir: Dir, depth: number): string | undefined {
  for (const e of dir.entries) {
    if ((e.tag & 0xc000) !== IN_HEAP) continue;
    if ((e.tag & 0x3fff) === TAG_MAKE_MODEL) {
      const b = src.bytes(heapStart + e.offset, Math.min(e.size, 128));
      const nul = b.indexOf(0);
      return cameraName(cString(b.subarray(0, nul < 0 ? b.length : nul)), nul < 0 ? '' : cString(b.subarray(nul + 1)));
    }
    if (isSubHeap(e.tag) && depth < 4) {
      const sub = readDir(src, heapStart + e.offset, heapStart + e.offset + e.size);
      const found = sub && findCamera(src, heapStart + e.offset, sub, depth + 1);
      if (found) return found;
    }
  }
  return undefined;
}

function walk(reader: Reader, start: number, limits: WalkLimits): WalkResult {
  const src = new ByteSource(reader);
  const head = src.bytes(start, 14);
  if (!detect(head)) return { ok: false, reason: 'no CIFF header' };
  const heapStart = start + head.readUInt32LE(2);
  const limitEnd = start + Math.min(limits.maxLength, MAX_CRW_SIZE, Math.max(0, reader.size - start));
  if (heapStart < start + 14 || heapStart >= limitEnd) return { ok: false, reason: 'implausible CIFF header length' };

  // With a directory entry's size, that is where the heap must end.
  if (limits.expectedSize !== undefined) {
    const dir = readDir(src, heapStart, start + limits.expectedSize);
    if (!dir) return { ok: false, reason: 'no CIFF directory at the end of the expected size' };
    return result(src, heapStart, dir, limits.expectedSize);
  }

  // Otherwise search forward for the end: the u32 at E-4 must give a directory offset T
  // with heapStart + T + 2 + 10n = E - 4. Cheap arithmetic rules out nearly every E.
  const CHUNK = 1024 * 1024;
  for (let pos = heapStart + 16; pos < limitEnd; ) {
    const chunk = reader.read(pos - 4, Math.min(CHUNK + 4, limitEnd - pos + 4));
    if (chunk.length < 8) break;
    for (let i = 4; i <= chunk.length; i++) {
      const e = pos - 4 + i; // candidate end
      const rel = chunk.readUInt32LE(i - 4);
      const room = e - 4 - (heapStart + rel) - 2; // bytes for 10n entries
      if (room < 10 || room > 10 * MAX_CIFF_ENTRIES || room % 10 !== 0) continue;
      const dir = readDir(src, heapStart, e);
      if (dir) return result(src, heapStart, dir, e - start);
    }
    pos += chunk.length - 4;
  }
  return { ok: false, reason: 'no CIFF directory ends the heap within the limits', validUpTo: 0 };
}

function result(src: ByteSource, heapStart: number, dir: Dir, length: number): WalkResult {
  const camera = findCamera(src, heapStart, dir, 0);
  return { ok: true, length, format: 'crw', ext: 'crw', ...(camera ? { meta: { camera } } : {}) };
}

export const crwCarver: Carver = {
  id: 'crw',
  types: ['crw'],
  firstBytes: [0x49], // 'I'
  detect,
  walk,
  embeds: ['jpeg'],
};
