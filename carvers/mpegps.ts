import type { Reader } from '../src/reader.js';
import type { Carver, WalkLimits, WalkResult } from './types.js';
import { ByteSource } from './bytes.js';
import { MAX_PS_PACKETS, MAX_PS_SIZE } from './limits.js';

/**
 * MPEG program streams (.MPG / .MPEG from older cameras, MPEG-1 and MPEG-2): pack headers
 * (00 00 01 BA), a system header (BB) and PES packets (00 00 01 xx + 16-bit length), one
 * after another, up to the end code 00 00 01 B9.
 */

const PACK = 0xba;
const END = 0xb9;

function detect(head: Buffer): boolean {
  if (head.length < 14 || head[0] !== 0 || head[1] !== 0 || head[2] !== 1 || head[3] !== PACK) return false;
  // MPEG-1 packs start '0010' in the next byte, MPEG-2 packs '01'.
  return (head[4] & 0xf0) === 0x20 || (head[4] & 0xc0) === 0x40;
}

/** Bytes of the pack header at `at`, or 0 when it is not one. */
function packLength(src: ByteSource, at: number): number {
  const b = src.bytes(at, 14);
  if (b.length < 12) return 0;
  if ((b[4] & 0xf0) === 0x20) return 12; // MPEG-1
  if ((b[4] & 0xc0) === 0x40 && b.length === 14) return 14 + (b[13] & 0x07); // MPEG-2 + stuffing
  return 0;
}

function walk(reader: Reader, start: number, limits: WalkLimits): WalkResult {
  const src = new ByteSource(reader);
  if (!detect(src.bytes(start, 14))) return { ok: false, reason: 'no pack header' };
  const limitEnd = start + Math.min(limits.maxLength, MAX_PS_SIZE, Math.max(0, reader.size - start));
  let pos = start;
  for (let n = 0; n < MAX_PS_PACKETS; n++) {
    const b = src.bytes(pos, 6);
    if (b.length < 4 || b[0] !== 0 || b[1] !== 0 || b[2] !== 1) {
      return { ok: false, reason: `no start code at byte ${pos - start} and no end code before it`, validUpTo: pos - start };
    }
    const id = b[3];
    let size: number;
    if (id === END) {
      pos += 4;
      let length = pos - start;
      const notes: string[] = [];
      if (limits.expectedSize !== undefined && limits.expectedSize > length && limits.expectedSize <= limits.maxLength) {
        notes.push(`${limits.expectedSize - length} bytes after the end code kept: the directory entry gives the size`);
        length = limits.expectedSize;
      }
      return { ok: true, length, format: 'mpeg', ext: 'mpg', ...(notes.length ? { notes } : {}) };
    } else if (id === PACK) {
      size = packLength(src, pos);
      if (size === 0) return { ok: false, reason: `bad pack header at byte ${pos - start}`, validUpTo: pos - start };
    } else if (id >= 0xbb) {
      if (b.length < 6) return { ok: false, reason: 'data ends inside a packet header', validUpTo: pos - start };
      size = 6 + b.readUInt16BE(4); // system header, PES packets, padding
    } else {
      return { ok: false, reason: `unexpected start code 00 00 01 ${id.toString(16)} at byte ${pos - start}`, validUpTo: pos - start };
    }
    if (pos + size > limitEnd) return { ok: false, reason: `packet at byte ${pos - start} runs past the limit: truncated`, validUpTo: limitEnd - start };
    pos += size;
  }
  return { ok: false, reason: `more than ${MAX_PS_PACKETS} packets`, validUpTo: pos - start };
}

export const mpegPsCarver: Carver = {
  id: 'mpegps',
  types: ['mpg', 'mpeg'],
  firstBytes: [0x00],
  detect,
  walk,
};
