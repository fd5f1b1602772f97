import type { Reader } from '../src/reader.js';
import type { Carver, WalkLimits, WalkResult } from './types.js';
import { ByteSource, isFourCC } from './bytes.js';
import { MAX_RIFF_CONTINUATIONS, MAX_RIFF_SUBCHUNKS } from './limits.js';

/**
 * RIFF (AVI, WAV, WebP, ...): 'RIFF', a 32-bit little-endian size, a form type, then
 * chunks that tile the size exactly. The file is 8 + size bytes (plus a pad byte when
 * the size is odd). OpenDML AVIs over 1 GiB continue in further 'RIFF....AVIX' chunks
 * right after the first; they are followed too.
 */

/** Form type → format and extension. */
const FORMS: Record<string, { format: string; ext: string }> = {
  'AVI ': { format: 'avi', ext: 'avi' },
  WAVE: { format: 'wav', ext: 'wav' },
  WEBP: { format: 'webp', ext: 'webp' },
  CDXA: { format: 'vcd', ext: 'dat' },
};

function detect(head: Buffer): boolean {
  if (head.length < 12 || head.toString('latin1', 0, 4) !== 'RIFF') return false;
  return head.readUInt32LE(4) >= 4 && FORMS[head.toString('latin1', 8, 12)] !== undefined;
}

/** The chunks inside one RIFF must be FourCC-named and tile it; returns a problem or undefined. */
function checkChunks(src: ByteSource, start: number, from: number, to: number): { problem?: string; at: number; note?: string } {
  let pos = from;
  for (let n = 0; pos + 8 <= to && n < MAX_RIFF_SUBCHUNKS; n++) {
    const h = src.bytes(pos, 8);
    if (h.length < 8) return { problem: 'data ends inside a chunk header', at: pos };
    if (!isFourCC(h, 0)) return { problem: `no chunk header at byte ${pos - start}`, at: pos };
    const size = h.readUInt32LE(4);
    const next = pos + 8 + size + (size & 1);
    if (next > to) {
      // A last chunk that misses only its pad byte is common and harmless.
      return next - (size & 1) <= to ? { at: to } : { at: to, note: `chunk '${h.toString('latin1', 0, 4)}' runs past the RIFF size` };
    }
    pos = next;
  }
  return { at: pos };
}

function walk(reader: Reader, start: number, limits: WalkLimits): WalkResult {
  const src = new ByteSource(reader);
  const head = src.bytes(start, 12);
  if (!detect(head)) return { ok: false, reason: 'no RIFF header' };
  const kind = FORMS[head.toString('latin1', 8, 12)];
  const limitEnd = start + Math.min(limits.maxLength, Math.max(0, reader.size - start));
  const notes: string[] = [];

  const size = head.readUInt32LE(4);
  let end = start + 8 + size + (size & 1);
  if (end > limitEnd) {
    // Without its pad byte the file is still whole.
    if (end - (size & 1) === limitEnd && size & 1) end = limitEnd;
    else return { ok: false, reason: `RIFF size ${size} runs past the limit: truncated`, validUpTo: limitEnd - start };
  }
  const check = checkChunks(src, start, start + 12, start + 8 + size);
  if (check.problem) return { ok: false, reason: check.problem, validUpTo: check.at - start };
  if (check.note) notes.push(check.note);

  // OpenDML: RIFF AVIX continuation chunks, one after another.
  if (kind.format === 'avi') {
    for (let k = 0; k < MAX_RIFF_CONTINUATIONS; k++) {
      const h = src.bytes(end, 12);
      if (h.length < 12 || h.toString('latin1', 0, 4) !== 'RIFF' || h.toString('latin1', 8, 12) !== 'AVIX') break;
      const more = h.readUInt32LE(4);
      const next = end + 8 + more + (more & 1);
      if (next > limitEnd) {
        return { ok: false, reason: `AVIX continuation ${k + 1} runs past the limit: truncated`, validUpTo: limitEnd - start };
      }
      end = next;
      if (k === 0) notes.push('OpenDML AVI: RIFF AVIX continuation chunks followed');
    }
  }

  let length = end - start;
  if (limits.expectedSize !== undefined && limits.expectedSize > length && limits.expectedSize <= limits.maxLength) {
    notes.push(`${limits.expectedSize - length} bytes after the RIFF kept: the directory entry gives the size`);
    length = limits.expectedSize;
  }
  return { ok: true, length, format: kind.format, ext: kind.ext, ...(notes.length ? { notes } : {}) };
}

export const riffCarver: Carver = {
  id: 'riff',
  types: ['avi', 'wav', 'webp'],
  firstBytes: [0x52], // 'R'
  detect,
  walk,
  embeds: ['jpeg'],
};
