import type { Reader } from '../src/reader.js';
import type { Carver, WalkLimits, WalkResult } from './types.js';
import { ByteSource, cString } from './bytes.js';
import { MAX_RAF_SIZE } from './limits.js';

/**
 * Fujifilm RAF: a fixed header ('FUJIFILMCCD-RAW ', camera name) whose directory at 0x54
 * gives big-endian offset/length pairs for the JPEG preview, the CFA header and the CFA
 * data (and, on dual-sensor cameras like the S5 Pro, a second CFA pair). The file ends
 * with the furthest of them.
 */

const MAGIC = 'FUJIFILMCCD-RAW ';
/**
 * Offset/length pairs: JPEG, CFA header, CFA at 0x54, 0x5C, 0x64; the second sensor's CFA
 * header and CFA at 0x78, 0x80 on dual-sensor models (zero or unused elsewhere).
 */
const PAIRS_AT = 0x54;
const PAIRS = [0x54, 0x5c, 0x64, 0x78, 0x80];

function detect(head: Buffer): boolean {
  return head.length >= 16 && head.toString('latin1', 0, 16) === MAGIC;
}

function walk(reader: Reader, start: number, limits: WalkLimits): WalkResult {
  const src = new ByteSource(reader);
  const head = src.bytes(start, 0x88);
  if (!detect(head) || head.length < 0x88) return { ok: false, reason: 'no RAF header' };
  const limit = Math.min(limits.maxLength, MAX_RAF_SIZE, Math.max(0, reader.size - start));
  let end = head.length;
  for (const [i, at] of PAIRS.entries()) {
    const offset = head.readUInt32BE(at);
    const length = head.readUInt32BE(at + 4);
    if (offset === 0 || length === 0) continue;
    // The first three pairs are always there; later slots hold other data on some models.
    if (offset + length > limit) {
      if (i < 3) return { ok: false, reason: `RAF part ${i + 1} runs past the limit: truncated`, validUpTo: limit };
      continue;
    }
    if (offset < 0x88) {
      if (i < 3) return { ok: false, reason: `RAF part ${i + 1} overlaps the header` };
      continue;
    }
    end = Math.max(end, offset + length);
  }
  const jpegAt = head.readUInt32BE(PAIRS_AT);
  const sig = src.bytes(start + jpegAt, 2);
  if (sig.length < 2 || sig[0] !== 0xff || sig[1] !== 0xd8) return { ok: false, reason: 'the JPEG preview is not where the header says', validUpTo: PAIRS_AT };
  let length = end;
  const notes: string[] = [];
  if (limits.expectedSize !== undefined && limits.expectedSize > length && limits.expectedSize <= limits.maxLength) {
    notes.push(`${limits.expectedSize - length} bytes after the last part kept: the directory entry gives the size`);
    length = limits.expectedSize;
  }
  const model = cString(head.subarray(0x1c, 0x3c));
  return {
    ok: true,
    length,
    format: 'raf',
    ext: 'raf',
    ...(model ? { meta: { camera: model.startsWith('FUJIFILM') ? model : `FUJIFILM ${model}` } } : {}),
    ...(notes.length ? { notes } : {}),
  };
}

export const rafCarver: Carver = {
  id: 'raf',
  types: ['raf'],
  firstBytes: [0x46], // 'F'
  detect,
  walk,
  embeds: ['jpeg'],
};
