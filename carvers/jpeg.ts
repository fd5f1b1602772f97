import type { Reader } from '../src/reader.js';
import { BufferReader, readSomeAny } from '../src/reader.js';
import type { Carver, WalkLimits, WalkMeta, WalkResult } from './types.js';
import { ByteSource, isFilledWith } from './bytes.js';
import { findEntropyMarker, LOW_RUN_MIN } from './entropy-search.js';
import { findEntry, parseTiffHeader, readIfd, tiffMeta } from './ifd.js';
import {
  JPEG_SCAN_CHUNK,
  MAX_APPENDED_JPEGS,
  MAX_EXIF_META_BYTES,
  MAX_JPEG_MARKERS,
  MAX_JPEG_SIZE,
  MAX_MPF_IMAGES,
  MAX_SEF_TRAILER,
  TRAILER_PADDING_ALIGN,
} from './limits.js';

/**
 * JPEG (JFIF / EXIF, ITU T.81): the marker segments from SOI, the entropy-coded data
 * after each SOS, and the EOI that ends the primary image. Images a Multi-Picture
 * Format index (CIPA DC-007) lists after it, and whole JPEGs appended right after it,
 * belong to the file too. Thumbnails inside APP1 are skipped by the segment length, so
 * their EOI never ends the file.
 */

const SOI = 0xd8;
const EOI = 0xd9;
const SOS = 0xda;
const APP1 = 0xe1;
const APP2 = 0xe2;

/** SOF0–SOF15 except DHT (C4), JPG (C8) and DAC (CC), which share the range. */
function isSof(m: number): boolean {
  return m >= 0xc0 && m <= 0xcf && m !== 0xc4 && m !== 0xc8 && m !== 0xcc;
}

/** Markers that carry a length: everything from C0 to FE except RSTn, SOI and EOI. */
function hasLength(m: number): boolean {
  return m >= 0xc0 && m <= 0xfe && !(m >= 0xd0 && m <= 0xd9);
}

function detect(head: Buffer): boolean {
  if (head.length < 6 || head[0] !== 0xff || head[1] !== SOI || head[2] !== 0xff) return false;
  if (!hasLength(head[3])) return false;
  return head.readUInt16BE(4) >= 2;
}

interface MpfIndex {
  /** Absolute offset of the MPF TIFF header: MP entry offsets count from it. */
  base: number;
  images: { offset: number; size: number; type: number }[];
}

type ImageScan =
  | { ok: true; end: number; mpf?: MpfIndex; meta: WalkMeta; entropyGap: number }
  | { ok: false; reason: string; validUpTo: number };

/**
 * One image from SOI to EOI. `limitEnd` is absolute; `start` must hold FF D8.
 * Never reads past `limitEnd`.
 */
function scanImage(src: ByteSource, start: number, limitEnd: number, wantMeta: boolean): ImageScan {
  const fail = (reason: string, at: number): ImageScan => ({ ok: false, reason, validUpTo: Math.max(0, at - start) });
  const soi = src.bytes(start, 2);
  if (soi.length < 2 || soi[0] !== 0xff || soi[1] !== SOI) return fail('no SOI', start);
  const meta: WalkMeta = {};
  let mpf: MpfIndex | undefined;
  let sawSof = false;
  let sawSos = false;
  let entropyGap = 0;
  let pos = start + 2;
  for (let markers = 0; ; markers++) {
    if (markers > MAX_JPEG_MARKERS) return fail(`more than ${MAX_JPEG_MARKERS} marker segments`, pos);
    if (pos + 2 > limitEnd) return fail(`no EOI within ${limitEnd - start} bytes`, pos);
    const head = src.bytes(pos, 4);
    if (head.length < 2) return fail('data ends before the EOI', pos);
    if (head[0] !== 0xff) return fail(`expected a marker at byte ${pos - start}`, pos);
    const m = head[1];
    if (m === 0xff) {
      pos++; // fill byte before a marker
      continue;
    }
    if (m === EOI) {
      if (!sawSos) return fail('EOI before any scan', pos);
      return { ok: true, end: pos + 2, mpf, meta, entropyGap };
    }
    if ((m >= 0xd0 && m <= 0xd7) || m === 0x01) {
      pos += 2; // RSTn / TEM stand alone
      continue;
    }
    if (!hasLength(m)) return fail(`invalid marker FF${m.toString(16).padStart(2, '0')} at byte ${pos - start}`, pos);
    if (head.length < 4) return fail('data ends inside a marker', pos);
    const len = head.readUInt16BE(2);
    if (len < 2) return fail(`impossible segment length ${len} at byte ${pos - start}`, pos);
    const segEnd = pos + 2 + len;
    if (segEnd > limitEnd) return fail(`segment at byte ${pos - start} runs past the limit`, pos);

    if (isSof(m)) {
      if (len < 8) return fail(`SOF segment too short (${len})`, pos);
      const sof = src.bytes(pos + 4, 5);
      if (sof.length === 5 && !sawSof) {
        meta.height = sof.readUInt16BE(1) || undefined;
        meta.width = sof.readUInt16BE(3) || undefined;
      }
      sawSof = true;
    } else if (m === SOS) {
      if (!sawSof) return fail('SOS before any SOF', pos);
      const ns = src.u8(pos + 4) ?? 0;
      if (ns < 1 || ns > 4 || len !== 6 + 2 * ns) return fail(`malformed SOS header at byte ${pos - start}`, pos);
      sawSos = true;
      const next = nextMarkerAfterScan(src.reader, segEnd, limitEnd);
      if ('scannedTo' in next) return fail(`no EOI within ${limitEnd - start} bytes`, trimZeros(src.reader, segEnd, next.scannedTo));
      if (next.longestLowRun >= LOW_RUN_MIN) entropyGap = Math.max(entropyGap, next.longestLowRun);
      pos = next.marker;
      continue;
    } else if (m === APP1 && wantMeta && meta.camera === undefined && len >= 16) {
      Object.assign(meta, exifMeta(src, pos + 4, len - 2));
    } else if (m === APP2 && !mpf && len >= 16 && src.ascii(pos + 4, 4) === 'MPF\0') {
      mpf = parseMpf(src, pos + 8, len - 6);
    }
    pos = segEnd;
  }
}

/**
 * After an SOS: the position of the next marker in the entropy-coded data, skipping
 * FF00 stuffing, RSTn and fill bytes (carvers/entropy-search.ts). Without one, how far the
 * data was scanned. Exported for test/entropy-search.test.ts.
 */
export function nextMarkerAfterScan(reader: Reader, from: number, limitEnd: number): { marker: number; longestLowRun: number } | { scannedTo: number } {
  let pos = from;
  let longestLow = 0;
  while (pos < limitEnd) {
    const want = Math.min(JPEG_SCAN_CHUNK, limitEnd - pos);
    const chunk = readSomeAny(reader, pos, want);
    if (chunk.length === 0) break;
    const i = findEntropyMarker(chunk, 0, chunk.length, (s, e) => {
      if (e - s > longestLow && looksForeign(chunk, s, e)) longestLow = e - s;
    });
    if (i + 1 < chunk.length) return { marker: pos + i, longestLowRun: longestLow };
    // An FF as the last byte of the chunk (i = length - 1): read again from it to see what follows.
    if (i === 0) return { scannedTo: pos + chunk.length };
    pos += i;
  }
  return { scannedTo: Math.min(pos, limitEnd) };
}

/**
 * A long run of low bytes in real scan data is a flat area of the picture: the same few
 * Huffman codes over and over, so a handful of byte values in a short cycle (seen in
 * Panasonic, Xiaomi and Bushnell files). Zeros (wiped or unwritten space) and text (many
 * different characters) are what a gap holds instead.
 */
function looksForeign(chunk: Buffer, from: number, to: number): boolean {
  const seen = new Uint8Array(128);
  let distinct = 0;
  let zeros = 0;
  for (let j = from; j < to; j++) {
    const b = chunk[j];
    if (b === 0) zeros++;
    if (seen[b]) continue;
    seen[b] = 1;
    if (++distinct >= 16) return true;
  }
  // The run may begin and end with a few low bytes of the image around the zeros.
  return zeros >= to - from - 16;
}

/** Trailing zeros (unwritten or wiped space) are not part of what is valid. */
function trimZeros(reader: Reader, from: number, to: number): number {
  let end = to;
  while (end > from) {
    const n = Math.min(64 * 1024, end - from);
    const b = reader.read(end - n, n);
    for (let i = b.length - 1; i >= 0; i--) if (b[i] !== 0) return end - n + i + 1;
    end -= n;
  }
  return from;
}

/** Camera and date from an APP1 'Exif\0\0' segment (`at` = first byte after the length). */
function exifMeta(src: ByteSource, at: number, length: number): WalkMeta {
  if (src.ascii(at, 6) !== 'Exif\0\0') return {};
  const tiff = src.bytes(at + 6, Math.min(length - 6, MAX_EXIF_META_BYTES));
  const header = parseTiffHeader(tiff);
  if (!header) return {};
  // Read in place: what comes back is strings, nothing that points into the scan's buffer.
  return tiffMeta(new ByteSource(new BufferReader(tiff)), 0, header);
}

/** The MP Index IFD of an APP2 'MPF\0' segment (`base` = its TIFF header). */
function parseMpf(src: ByteSource, base: number, length: number): MpfIndex | undefined {
  const buf = src.bytes(base, length); // in place: only numbers come back
  const header = parseTiffHeader(buf);
  if (!header) return undefined;
  const local = new ByteSource(new BufferReader(buf));
  const ifd = readIfd(local, 0, header.ifd0, header.le);
  if (typeof ifd === 'string') return undefined;
  const entry = findEntry(ifd, 0xb002); // MPEntry: 16 bytes per image
  if (!entry || entry.type !== 7 || entry.count % 16 !== 0) return undefined;
  const n = Math.min(entry.count / 16, MAX_MPF_IMAGES);
  const raw = local.bytes(entry.valueAt, n * 16);
  const images: MpfIndex['images'] = [];
  for (let i = 0; i + 16 <= raw.length; i += 16) {
    const size = header.le ? raw.readUInt32LE(i + 4) : raw.readUInt32BE(i + 4);
    const offset = header.le ? raw.readUInt32LE(i + 8) : raw.readUInt32BE(i + 8);
    const attr = header.le ? raw.readUInt32LE(i) : raw.readUInt32BE(i);
    images.push({ offset, size, type: attr & 0xffffff });
  }
  return { base, images };
}

function walk(reader: Reader, start: number, limits: WalkLimits): WalkResult {
  const src = new ByteSource(reader);
  const limitEnd = start + Math.min(limits.maxLength, MAX_JPEG_SIZE, Math.max(0, reader.size - start));
  const primary = scanImage(src, start, limitEnd, true);
  if (!primary.ok) return { ok: false, reason: primary.reason, validUpTo: primary.validUpTo };
  const notes: string[] = [];
  let end = primary.end;

  // MPF: the index gives every further image's offset (from the MPF TIFF header) and size.
  if (primary.mpf) {
    const { base, images } = primary.mpf;
    images.forEach((img, k) => {
      if (img.offset === 0) return; // the primary image itself
      const at = base + img.offset;
      const imgEnd = at + img.size;
      if (at < primary.end || imgEnd > limitEnd || img.size < 4) {
        notes.push(`MPF image ${k + 1} (offset ${at - start}, ${img.size} bytes) overlaps the primary image or is outside the limits: ignored`);
        return;
      }
      const sig = src.bytes(at, 3);
      if (sig.length < 3 || sig[0] !== 0xff || sig[1] !== SOI || sig[2] !== 0xff) {
        notes.push(`MPF image ${k + 1} at byte ${at - start} does not start with SOI: ignored`);
        return;
      }
      end = Math.max(end, imgEnd);
    });
  }

  // Bare JPEGs (no APPn segment) written right after the last image without an index:
  // Samsung's second image, for one. Adjacent, smaller and without the EXIF/JFIF header
  // every DCF camera file starts with, it is part of this file and not the next one.
  for (let k = 0; k < MAX_APPENDED_JPEGS; k++) {
    const head = src.bytes(end, 6);
    if (!detect(head) || (head[3] >= 0xe0 && head[3] <= 0xef)) break;
    const next = scanImage(src, end, limitEnd, false);
    if (!next.ok || next.end - end >= primary.end - start) break;
    notes.push(`a second JPEG (${next.end - end} bytes) follows the EOI directly: kept`);
    end = next.end;
  }

  // A Samsung SEF trailer that starts right after the last image and whose own
  // directory points back exactly there is part of the file (it can hold a Motion Photo).
  const sef = sefTrailer(src, end, limitEnd);
  if (sef) {
    notes.push(`Samsung SEF trailer (${sef - end} bytes) kept`);
    end = sef;
  }

  // Stereo / multi-angle MP files (MP type 0x02xxxx) are .MPO; previews keep a JPEG a JPEG.
  const multiFrame = primary.mpf?.images.some((img) => img.type >> 16 === 0x02) ?? false;
  const result: Extract<WalkResult, { ok: true }> = {
    ok: true,
    entropyGap: primary.entropyGap,
    length: end - start,
    format: multiFrame ? 'mpo' : 'jpeg',
    ext: multiFrame ? 'mpo' : 'jpg',
  };
  const meta = cleanMeta(primary.meta);
  if (meta) result.meta = meta;

  // After the structure: the directory entry's size wins (camera padding and trailers are
  // the file's); without one, padding is only reported, since the file may end here.
  if (limits.expectedSize !== undefined && limits.expectedSize > result.length && limits.expectedSize <= limits.maxLength) {
    const kind = classifyTail(src, end, start + limits.expectedSize);
    notes.push(`${limits.expectedSize - result.length} bytes after the last image (${kind}) kept: the directory entry gives the size`);
    result.tailKept = limits.expectedSize - result.length;
    result.tailKind = kind;
    result.length = limits.expectedSize;
  } else if (limits.expectedSize === undefined) {
    const trailer = paddingTrailer(src, start, end, start + limits.maxLength);
    // Sony's interchangeable-lens bodies (ILCE/ILCA/SLT/DSLR/NEX) pad every JPEG to 32 KiB;
    // its compacts and phones do not, and after their files such a run is only the card's slack.
    if (trailer && SONY_PADDING_BODIES.test(meta?.camera ?? '')) {
      notes.push(`${trailer.length} bytes of ${trailer.kind} kept: Sony cameras of this line pad their JPEGs so`);
      result.length += trailer.length;
    } else if (trailer) result.trailer = trailer;
  }
  if (notes.length) result.notes = notes;
  return result;
}

function cleanMeta(meta: WalkMeta): WalkMeta | undefined {
  const out: WalkMeta = {};
  for (const [k, v] of Object.entries(meta)) if (v !== undefined) (out as Record<string, unknown>)[k] = v;
  return Object.keys(out).length ? out : undefined;
}

/**
 * Samsung's trailer: data blocks ({u16 0, u16 type, u32 name length, name, data}), then
 * an 'SEFH' directory, then its length and 'SEFT' as the file's last 8 bytes. Returns the
 * absolute end when one starts at `at` and its directory reaches back to exactly `at`.
 */
function sefTrailer(src: ByteSource, at: number, limitEnd: number): number | undefined {
  const block = src.bytes(at, 8);
  if (block.length < 8 || block.readUInt16LE(0) !== 0) return undefined;
  const nameLen = block.readUInt32LE(4);
  if (nameLen < 1 || nameLen > 64 || !/^[\x20-\x7e]+$/.test(src.ascii(at + 8, nameLen))) return undefined;
  const searchEnd = Math.min(limitEnd, at + MAX_SEF_TRAILER);
  for (let pos = at; pos < searchEnd; ) {
    // What the scan holds of it, rather than 1 MiB read (and allocated) again past the chunk's end.
    const chunk = readSomeAny(src.reader, pos, Math.min(1024 * 1024, searchEnd - pos));
    if (chunk.length < 4) return undefined;
    for (let i = chunk.indexOf('SEFT'); i >= 0; i = chunk.indexOf('SEFT', i + 1)) {
      const seft = pos + i;
      const dirLen = src.u32(seft - 4, true);
      if (dirLen === undefined || dirLen < 12) continue;
      const sefh = seft - 4 - dirLen;
      if (sefh < at || src.ascii(sefh, 4) !== 'SEFH') continue;
      const count = src.u32(sefh + 8, true) ?? 0;
      if (count < 1 || 12 + 12 * count > dirLen) continue;
      let farthest = 0;
      for (let e = 0; e < count; e++) farthest = Math.max(farthest, src.u32(sefh + 12 + 12 * e + 4, true) ?? 0);
      if (sefh - farthest === at) return seft + 4;
    }
    pos += Math.max(1, chunk.length - 3); // 'SEFT' may straddle two chunks
  }
  return undefined;
}

const SONY_PADDING_BODIES = /^sony (ilce|ilca|slt|dslr|nex)-/i;

/** Zeros or 0xFF from the end of the structure up to the next 32 KiB boundary of the file (Sony). */
function paddingTrailer(src: ByteSource, start: number, end: number, limitEnd: number): { length: number; kind: string } | undefined {
  const rel = end - start;
  const boundary = start + Math.ceil(rel / TRAILER_PADDING_ALIGN) * TRAILER_PADDING_ALIGN;
  if (boundary === end || boundary > limitEnd) return undefined;
  const tail = src.reader.read(end, boundary - end);
  if (tail.length !== boundary - end) return undefined;
  const fill = tail[0];
  if (fill !== 0x00 && fill !== 0xff) return undefined;
  if (!isFilledWith(tail, fill)) return undefined;
  return { length: tail.length, kind: fill === 0 ? 'zero padding to a 32 KiB boundary' : '0xFF padding to a 32 KiB boundary' };
}

/** What the bytes [from, to) after a JPEG's last image look like (see WalkResult.tailKind). */
export function describeTail(reader: Reader, from: number, to: number): string {
  return classifyTail(new ByteSource(reader), from, to);
}

function classifyTail(src: ByteSource, from: number, to: number): string {
  // Padding is judged on its first 64 KiB: cameras pad to 32 KiB, and a look costs a read.
  const sample = src.reader.read(from, Math.min(to - from, TAIL_SAMPLE));
  if (isFilledWith(sample, 0x00)) return 'zero padding';
  if (isFilledWith(sample, 0xff)) return '0xFF padding';
  const last4 = to - from <= sample.length ? sample.subarray(sample.length - 4) : src.reader.read(to - 4, 4);
  if (last4.toString('latin1') === 'SEFT') return 'Samsung SEF trailer';
  return 'unrecognised trailer';
}

const TAIL_SAMPLE = 64 * 1024;

/**
 * Where a JPEG's APP1 segment (EXIF, with its thumbnail) ends, from its first bytes (APP0 may
 * come first); undefined when the head shows none.
 */
export function app1End(head: Buffer): number | undefined {
  if (head[0] !== 0xff || head[1] !== 0xd8) return undefined;
  for (let pos = 2; pos + 4 <= head.length && head[pos] === 0xff && head[pos + 1] >= 0xe0 && head[pos + 1] <= 0xef; ) {
    const end = pos + 2 + head.readUInt16BE(pos + 2);
    if (head[pos + 1] === 0xe1) return end;
    pos = end;
  }
  return undefined;
}

/** A JPEG that opens with no APPn segment at all: what an EXIF thumbnail looks like (files have JFIF or EXIF). */
export function bareJpeg(head: Buffer): boolean {
  return head[0] === 0xff && head[1] === 0xd8 && head[2] === 0xff && !(head[3] >= 0xe0 && head[3] <= 0xef);
}

export const jpegCarver: Carver = {
  id: 'jpeg',
  types: ['jpg', 'jpeg', 'mpo'],
  firstBytes: [0xff],
  detect,
  walk,
};
