import type { Reader } from '../src/reader.js';
import { BufferReader } from '../src/reader.js';
import type { WalkMeta } from './types.js';
import { ByteSource, isFourCC } from './bytes.js';
import { TAG, entryNumbers, entryText, exifDate, findEntry, parseTiffHeader, readIfd, tiffMeta, type Ifd, type TiffHeader } from './ifd.js';
import { jpegCarver } from './jpeg.js';

/**
 * The small JPEG a camera embeds in its files, found by the file's own structure and read
 * by offset, for the gallery (report.html). Nothing is decoded or resized: a preview is
 * used as it is, so one that is too large is not used at all.
 *
 * - JPEG / MPO: the EXIF thumbnail (APP1, IFD1 JPEGInterchangeFormat/Length); failing that a
 *   small file is its own preview.
 * - TIFF raws (NEF, CR2, ARW, DNG, ORF, RW2, PEF …): the JPEGs IFD0's chain and SubIFDs
 *   reference (JPEGInterchangeFormat, or a single strip with Compression 6/7), Nikon's
 *   maker-note PreviewIFD, Panasonic's JpgFromRaw; the smallest at least `minWidth` wide.
 * - CR3: THMB in moov's Canon uuid (160x120), else PRVW in its own uuid (1620x1080).
 * - RAF: the header's JPEG; CRW: the heap's thumbnail or JpgFromRaw.
 * - A preview too large to embed may still carry an EXIF thumbnail of its own: that is used.
 * - WebP: a small file is its own preview. HEIF/AVIF (HEVC/AV1 tiles) and video: none.
 */

export const PREVIEW_MAX_BYTES = 60 * 1024;
export const PREVIEW_MIN_WIDTH = 160;
/** A JPEG (or WebP) smaller than this without an embedded thumbnail is its own preview. */
export const WHOLE_FILE_MAX_BYTES = 200 * 1024;
/** Preview references considered in one file. */
const MAX_CANDIDATES = 32;
/** IFDs visited looking for previews (chain + SubIFDs). */
const MAX_PREVIEW_IFDS = 24;
/** Marker segments read before the first SOF/SOS when looking for APP1. */
const MAX_HEADER_MARKERS = 64;
/** Boxes looked at on one level of a BMFF file. */
const MAX_BOXES = 256;

const CANON_UUID = '85c0b687820f11e08111f4ce462b6a48';
const CANON_PREVIEW_UUID = 'eaf42b5e1c984b88b9fbb7dc406e4d16';
const TAG_ORIENTATION = 0x0112;
/** Panasonic RW2 IFD0: a whole JPEG as an UNDEFINED value. */
const TAG_RW2_JPG_FROM_RAW = 0x002e;
/** Nikon maker note: the PreviewIFD's offset (from the maker note's TIFF header). */
const TAG_NIKON_PREVIEW_IFD = 0x0011;

export interface PreviewOptions {
  /** Largest preview embedded (default 60 KiB). */
  maxBytes?: number;
  /** Prefer the smallest preview at least this wide (default 160). */
  minWidth?: number;
  /** A JPEG/WebP below this size without an embedded thumbnail is used as it is (default 200 KiB). */
  wholeFileMax?: number;
}

export interface Preview {
  data: Buffer;
  mime: 'image/jpeg' | 'image/webp';
  width?: number;
  height?: number;
  /** Where it was found: 'exif-thumbnail', 'cr3-thmb', 'ifd1', 'subifd', 'file' … */
  from: string;
  /** Offset in the file of its first byte. */
  offset: number;
}

export interface PreviewMeta extends WalkMeta {
  /** EXIF Orientation (1–8) of the image the preview shows, when the file says. */
  orientation?: number;
}

export interface PreviewResult {
  preview?: Preview;
  /** Why there is none. */
  reason?: string;
  /** Container the bytes were recognised as: 'jpeg', 'tiff', 'cr3', 'heif', 'raf', 'crw', 'webp', 'bmff', or undefined. */
  container?: string;
  /** Camera, date and orientation read on the way (best effort). */
  meta: PreviewMeta;
}

interface Candidate {
  offset: number;
  length: number;
  from: string;
}

interface Limits {
  maxBytes: number;
  minWidth: number;
  wholeFileMax: number;
}

/** Find the preview of the file `reader` holds. Never throws on malformed data; reads only what it needs. */
export function findPreview(reader: Reader, options: PreviewOptions = {}): PreviewResult {
  const limits: Limits = {
    maxBytes: options.maxBytes ?? PREVIEW_MAX_BYTES,
    minWidth: options.minWidth ?? PREVIEW_MIN_WIDTH,
    wholeFileMax: options.wholeFileMax ?? WHOLE_FILE_MAX_BYTES,
  };
  const src = new ByteSource(reader);
  const head = src.bytes(0, 32);
  try {
    if (head.length >= 3 && head[0] === 0xff && head[1] === 0xd8 && head[2] === 0xff) return fromJpeg(src, limits);
    if (parseTiffHeader(head)) return fromTiff(src, limits);
    if (head.length >= 12 && head.toString('latin1', 4, 8) === 'ftyp') return fromBmff(src, head, limits);
    if (head.toString('latin1', 0, 16) === 'FUJIFILMCCD-RAW ') return fromRaf(src, limits);
    if (head.toString('latin1', 0, 2) === 'II' && head.toString('latin1', 6, 14) === 'HEAPCCDR') return fromCrw(src, limits);
    if (head.toString('latin1', 0, 4) === 'RIFF' && head.toString('latin1', 8, 12) === 'WEBP') return fromWebp(src, limits);
  } catch (err) {
    // Walkers do not throw on malformed data; a read error on the file itself might.
    return { reason: `preview not read: ${(err as Error).message}`, meta: {} };
  }
  return { reason: 'no preview for this kind of file', meta: {} };
}

// ---- JPEG ---------------------------------------------------------------------------------

export interface JpegInfo {
  /** The SOF marker (0xC0 baseline, 0xC1 extended, 0xC2 progressive, 0xC3 lossless …). */
  sof: number;
  precision: number;
  width: number;
  height: number;
  components: number;
  /** Absolute offset of the TIFF header of an APP1 Exif segment, and that segment's end. */
  exif?: { base: number; end: number };
}

const isSof = (m: number) => m >= 0xc0 && m <= 0xcf && m !== 0xc4 && m !== 0xc8 && m !== 0xcc;

/** The header segments of the JPEG at `start`: APP1 Exif and the first SOF. */
export function jpegHeader(src: ByteSource, start: number, end = src.size): JpegInfo | undefined {
  const soi = src.bytes(start, 2);
  if (soi.length < 2 || soi[0] !== 0xff || soi[1] !== 0xd8) return undefined;
  let pos = start + 2;
  let exif: JpegInfo['exif'];
  for (let i = 0; i < MAX_HEADER_MARKERS && pos + 4 <= end; i++) {
    const h = src.bytes(pos, 4);
    if (h.length < 4 || h[0] !== 0xff) return undefined;
    const m = h[1];
    if (m === 0xff) {
      pos++;
      continue;
    }
    if (m === 0xd8 || m === 0xd9 || m === 0xda || (m >= 0xd0 && m <= 0xd7) || m === 0x01) return undefined; // no SOF before the scan
    const len = h.readUInt16BE(2);
    if (len < 2 || pos + 2 + len > end) return undefined;
    if (m === 0xe1 && !exif && len >= 16 && src.ascii(pos + 4, 6) === 'Exif\0\0') exif = { base: pos + 10, end: pos + 2 + len };
    if (isSof(m)) {
      const sof = src.bytes(pos + 4, 6);
      if (sof.length < 6) return undefined;
      return { sof: m, precision: sof[0], height: sof.readUInt16BE(1), width: sof.readUInt16BE(3), components: sof[5], ...(exif ? { exif } : {}) };
    }
    pos += 2 + len;
  }
  return undefined;
}

/** What a browser decodes: baseline, extended or progressive Huffman, 8 bits, grey/YCbCr/CMYK. */
function browserDecodable(info: JpegInfo): boolean {
  return (info.sof === 0xc0 || info.sof === 0xc1 || info.sof === 0xc2) && info.precision === 8 && info.width > 0 && info.height > 0 && [1, 3, 4].includes(info.components);
}

/**
 * Check a candidate's bytes: a decodable JPEG whose structure the JPEG walker follows to
 * its EOI. Returns the bytes up to that EOI, or why not.
 */
export function checkJpeg(data: Buffer): { data: Buffer; width: number; height: number } | string {
  const info = jpegHeader(new ByteSource(new BufferReader(data)), 0);
  if (!info) return 'not a JPEG';
  if (!browserDecodable(info)) return `a JPEG browsers do not decode (SOF ${info.sof.toString(16)}, ${info.precision} bits)`;
  const walk = jpegCarver.walk(new BufferReader(data), 0, { maxLength: data.length });
  if (!walk.ok) return `damaged JPEG: ${walk.reason}`;
  return { data: data.subarray(0, walk.length), width: info.width, height: info.height };
}

/** The EXIF thumbnail (IFD1) of the TIFF structure at `base` inside an APP1 ending at `end`. */
function exifThumbnail(src: ByteSource, base: number, end: number): Candidate | undefined {
  const header = parseTiffHeader(src.bytes(base, 8));
  if (!header) return undefined;
  const ifd0 = readIfd(src, base, header.ifd0, header.le);
  if (typeof ifd0 === 'string' || ifd0.next === 0) return undefined;
  const ifd1 = readIfd(src, base, ifd0.next, header.le);
  if (typeof ifd1 === 'string') return undefined;
  const compression = num(src, ifd1, TAG.Compression, header.le);
  if (compression !== undefined && compression !== 6 && compression !== 7) return undefined; // uncompressed thumbnail
  const off = num(src, ifd1, TAG.JPEGInterchangeFormat, header.le);
  const len = num(src, ifd1, TAG.JPEGInterchangeFormatLength, header.le);
  if (!off || !len || base + off + 2 > end) return undefined;
  // Cameras round the length up past the segment's end (padding): the JPEG's EOI decides.
  return { offset: base + off, length: Math.min(len, end - (base + off)), from: 'exif-thumbnail' };
}

function num(src: ByteSource, ifd: Ifd, tag: number, le: boolean): number | undefined {
  const e = findEntry(ifd, tag);
  return e ? entryNumbers(src, e, le, 1)[0] : undefined;
}

function orientationOf(src: ByteSource, base: number, header: TiffHeader): number | undefined {
  const ifd0 = readIfd(src, base, header.ifd0, header.le);
  if (typeof ifd0 === 'string') return undefined;
  const o = num(src, ifd0, TAG_ORIENTATION, header.le);
  return o !== undefined && o >= 1 && o <= 8 ? o : undefined;
}

/** Camera, date, orientation of the TIFF structure at `base`. */
function tiffPreviewMeta(src: ByteSource, base: number, header: TiffHeader): PreviewMeta {
  const meta: PreviewMeta = tiffMeta(src, base, header);
  const o = orientationOf(src, base, header);
  if (o) meta.orientation = o;
  return meta;
}

function fromJpeg(src: ByteSource, limits: Limits): PreviewResult {
  const info = jpegHeader(src, 0);
  if (!info) return { container: 'jpeg', reason: 'JPEG header not readable', meta: {} };
  let meta: PreviewMeta = {};
  const candidates: Candidate[] = [];
  if (info.exif) {
    const header = parseTiffHeader(src.bytes(info.exif.base, 8));
    if (header) meta = tiffPreviewMeta(src, info.exif.base, header);
    const thumb = exifThumbnail(src, info.exif.base, info.exif.end);
    if (thumb) candidates.push(thumb);
  }
  const chosen = choose(src, candidates, limits);
  if (chosen.preview) return { container: 'jpeg', preview: chosen.preview, meta };
  // The file itself, when small: the browser scales it (and applies its EXIF orientation).
  if (src.size < limits.wholeFileMax && browserDecodable(info)) {
    const data = Buffer.from(src.reader.read(0, src.size));
    delete meta.orientation;
    return { container: 'jpeg', preview: { data, mime: 'image/jpeg', width: info.width, height: info.height, from: 'file', offset: 0 }, meta };
  }
  const reason = (candidates.length ? chosen.reason : undefined) ?? (browserDecodable(info) ? `no EXIF thumbnail, and the file (${kib(src.size)}) is too large to show as it is` : 'no EXIF thumbnail');
  return { container: 'jpeg', reason, meta };
}

// ---- TIFF raws ----------------------------------------------------------------------------

function fromTiff(src: ByteSource, limits: Limits): PreviewResult {
  const header = parseTiffHeader(src.bytes(0, 8))!;
  const meta = tiffPreviewMeta(src, 0, header);
  const candidates: Candidate[] = [];
  const le = header.le;
  const visited = new Set<number>();
  const queue: { rel: number; from: string; depth: number; chain: boolean }[] = [{ rel: header.ifd0, from: 'ifd0', depth: 0, chain: true }];
  let chainIndex = 0;
  let exifRel: number | undefined;
  while (queue.length && visited.size < MAX_PREVIEW_IFDS && candidates.length < MAX_CANDIDATES) {
    const item = queue.shift()!;
    if (item.rel === 0 || visited.has(item.rel)) continue;
    visited.add(item.rel);
    const ifd = readIfd(src, 0, item.rel, le);
    if (typeof ifd === 'string') continue;
    candidates.push(...ifdCandidates(src, ifd, 0, le, item.from));
    if (item.from === 'ifd0') exifRel = num(src, ifd, TAG.ExifIFD, le);
    if (item.depth < 2) {
      const subs = findEntry(ifd, TAG.SubIFDs);
      if (subs) entryNumbers(src, subs, le, 8).forEach((rel, i) => queue.push({ rel, from: `subifd${i}`, depth: item.depth + 1, chain: false }));
    }
    if (item.chain && ifd.next !== 0) queue.push({ rel: ifd.next, from: `ifd${++chainIndex}`, depth: item.depth, chain: true });
  }
  if (exifRel) candidates.push(...nikonPreview(src, exifRel, le));
  return { container: 'tiff', ...choose(src, candidates, limits), meta };
}

/** JPEGInterchangeFormat, a single JPEG strip, Panasonic's JpgFromRaw. */
function ifdCandidates(src: ByteSource, ifd: Ifd, base: number, le: boolean, from: string): Candidate[] {
  const out: Candidate[] = [];
  const off = num(src, ifd, TAG.JPEGInterchangeFormat, le);
  const len = num(src, ifd, TAG.JPEGInterchangeFormatLength, le);
  if (off && len) out.push({ offset: base + off, length: len, from });
  const compression = num(src, ifd, TAG.Compression, le);
  const so = findEntry(ifd, TAG.StripOffsets);
  const sc = findEntry(ifd, TAG.StripByteCounts);
  if ((compression === 6 || compression === 7) && so && sc && so.count === 1 && sc.count === 1) {
    const [o] = entryNumbers(src, so, le, 1);
    const [l] = entryNumbers(src, sc, le, 1);
    if (o && l && !(off === o)) out.push({ offset: base + o, length: l, from: `${from}-strip` });
  }
  const rw2 = findEntry(ifd, TAG_RW2_JPG_FROM_RAW);
  if (rw2 && rw2.type === 7 && !rw2.inline) out.push({ offset: rw2.valueAt, length: rw2.size, from: 'jpg-from-raw' });
  return out;
}

/** Nikon type-2/3 maker note ('Nikon\0\x02'): its PreviewIFD, offsets from its own TIFF header. */
function nikonPreview(src: ByteSource, exifRel: number, le: boolean): Candidate[] {
  const exif = readIfd(src, 0, exifRel, le);
  if (typeof exif === 'string') return [];
  const mn = findEntry(exif, TAG.MakerNote);
  if (!mn || mn.inline || mn.size < 18 || src.ascii(mn.valueAt, 7) !== 'Nikon\0\x02') return [];
  const base = mn.valueAt + 10;
  const h = parseTiffHeader(src.bytes(base, 8));
  if (!h) return [];
  const ifd = readIfd(src, base, h.ifd0, h.le);
  if (typeof ifd === 'string') return [];
  const p = num(src, ifd, TAG_NIKON_PREVIEW_IFD, h.le);
  if (!p) return [];
  const pifd = readIfd(src, base, p, h.le);
  return typeof pifd === 'string' ? [] : ifdCandidates(src, pifd, base, h.le, 'nikon-preview');
}

// ---- ISO BMFF: CR3 ------------------------------------------------------------------------

interface Box {
  type: string;
  at: number;
  body: number;
  end: number;
}

function boxes(src: ByteSource, from: number, to: number): Box[] {
  const out: Box[] = [];
  for (let p = from; p + 8 <= to && out.length < MAX_BOXES; ) {
    const h = src.bytes(p, 16);
    if (h.length < 8 || !isFourCC(h, 4)) break;
    let size = h.readUInt32BE(0);
    let hs = 8;
    if (size === 1) {
      if (h.length < 16) break;
      const big = h.readBigUInt64BE(8);
      if (big > BigInt(Number.MAX_SAFE_INTEGER)) break;
      size = Number(big);
      hs = 16;
    } else if (size === 0) size = to - p;
    if (size < hs) break;
    // The last box may run past what is there (a truncated file): keep what is.
    out.push({ type: h.toString('latin1', 4, 8), at: p, body: p + hs, end: Math.min(p + size, to) });
    p += size;
  }
  return out;
}

function fromBmff(src: ByteSource, head: Buffer, limits: Limits): PreviewResult {
  const brand = head.toString('latin1', 8, 12);
  const top = boxes(src, 0, src.size);
  const ftyp = top.find((b) => b.type === 'ftyp');
  const brands = ftyp ? src.bytes(ftyp.body, Math.min(64, ftyp.end - ftyp.body)).toString('latin1') : brand;
  if (brand !== 'crx ') {
    const heif = /heic|heix|mif1|msf1|avif|hevc/.test(brands);
    return { container: heif ? 'heif' : 'bmff', reason: heif ? 'HEIF/AVIF previews are HEVC/AV1 tiles: not shown' : 'video: no preview', meta: {} };
  }
  const meta: PreviewMeta = {};
  const candidates: Candidate[] = [];
  const moov = top.find((b) => b.type === 'moov');
  const canon = moov && boxes(src, moov.body, moov.end).find((b) => b.type === 'uuid' && src.bytes(b.body, 16).toString('hex') === CANON_UUID);
  if (canon) {
    const inner = boxes(src, canon.body + 16, canon.end);
    for (const b of inner) {
      if (b.type === 'THMB') {
        const c = canonJpegBox(src, b, 'cr3-thmb');
        if (c) candidates.push(c);
      } else if (b.type === 'CMT1') {
        const h = parseTiffHeader(src.bytes(b.body, 8));
        if (h) Object.assign(meta, tiffPreviewMeta(src, b.body, h));
      } else if (b.type === 'CMT2') {
        const h = parseTiffHeader(src.bytes(b.body, 8));
        const exif = h && readIfd(src, b.body, h.ifd0, h.le);
        const e = exif && typeof exif !== 'string' ? findEntry(exif, TAG.DateTimeOriginal) : undefined;
        const date = e ? exifDate(entryText(src, e)) : undefined;
        if (date) meta.date = date;
      }
    }
  }
  const prvwUuid = top.find((b) => b.type === 'uuid' && src.bytes(b.body, 16).toString('hex') === CANON_PREVIEW_UUID);
  if (prvwUuid) {
    // uuid, then 8 bytes (a version and a count), then the PRVW box.
    const prvw = boxes(src, prvwUuid.body + 24, prvwUuid.end).find((b) => b.type === 'PRVW');
    const c = prvw && canonJpegBox(src, prvw, 'cr3-prvw');
    if (c) candidates.push(c);
  }
  if (!candidates.length) return { container: 'cr3', reason: 'no THMB or PRVW box', meta };
  return { container: 'cr3', ...choose(src, candidates, limits), meta };
}

/** THMB / PRVW: a small header (width, height, JPEG size) and the JPEG at byte 24 of the box. */
function canonJpegBox(src: ByteSource, b: Box, from: string): Candidate | undefined {
  let at = b.at + 24;
  const head = src.bytes(b.body, 64);
  if (src.u16(at, false) !== 0xffd8) {
    const i = head.indexOf(Buffer.from([0xff, 0xd8, 0xff]));
    if (i < 0) return { offset: at, length: Math.max(0, b.end - at), from }; // checked, and refused, later
    at = b.body + i;
  }
  return { offset: at, length: b.end - at, from };
}

// ---- RAF, CRW, WebP -----------------------------------------------------------------------

function fromRaf(src: ByteSource, limits: Limits): PreviewResult {
  const head = src.bytes(0, 0x5c);
  const meta: PreviewMeta = {};
  if (head.length < 0x5c) return { container: 'raf', reason: 'RAF header cut short', meta };
  const candidates: Candidate[] = [{ offset: head.readUInt32BE(0x54), length: head.readUInt32BE(0x58), from: 'raf-jpeg' }];
  return { container: 'raf', ...choose(src, candidates, limits), meta };
}

function fromCrw(src: ByteSource, limits: Limits): PreviewResult {
  const heapStart = src.u32(2, true) ?? 0;
  const rel = src.u32(src.size - 4, true);
  const meta: PreviewMeta = {};
  const at = heapStart + (rel ?? 0);
  const n = src.u16(at, true) ?? 0;
  if (rel === undefined || heapStart < 14 || n < 1 || n > 1024 || at + 2 + 10 * n > src.size) return { container: 'crw', reason: 'CIFF directory not found', meta };
  const raw = src.bytes(at + 2, 10 * n);
  const candidates: Candidate[] = [];
  for (let i = 0; i + 10 <= raw.length; i += 10) {
    const tag = raw.readUInt16LE(i);
    if ((tag & 0xc000) !== 0) continue; // not in the heap
    const id = tag & 0x3fff;
    if (id === 0x2007 || id === 0x2008) {
      candidates.push({ offset: heapStart + raw.readUInt32LE(i + 6), length: raw.readUInt32LE(i + 2), from: id === 0x2008 ? 'crw-thumbnail' : 'jpg-from-raw' });
    }
  }
  return { container: 'crw', ...choose(src, candidates, limits), meta };
}

function fromWebp(src: ByteSource, limits: Limits): PreviewResult {
  if (src.size >= limits.wholeFileMax) return { container: 'webp', reason: `the file (${kib(src.size)}) is too large to show as it is`, meta: {} };
  const data = Buffer.from(src.reader.read(0, src.size));
  return { container: 'webp', preview: { data, mime: 'image/webp', from: 'file', offset: 0 }, meta: {} };
}

// ---- choosing -----------------------------------------------------------------------------

/**
 * Read and check every candidate small enough to embed (a larger one is looked into for an
 * EXIF thumbnail of its own), then take the smallest at least `minWidth` wide, else the widest.
 */
function choose(src: ByteSource, candidates: Candidate[], limits: Limits): { preview?: Preview; reason?: string } {
  const good: Preview[] = [];
  const problems: string[] = [];
  const seen = new Set<number>();
  const consider = (c: Candidate, nested: boolean) => {
    if (seen.has(c.offset) || c.length <= 0) return;
    seen.add(c.offset);
    if (c.offset < 0 || c.offset + c.length > src.size) {
      problems.push(`${c.from} lies outside the file`);
      return;
    }
    if (c.length > limits.maxBytes) {
      // Too large to embed; it may hold a small thumbnail of its own in an APP1 Exif.
      const info = nested ? undefined : jpegHeader(src, c.offset, c.offset + c.length);
      const inner = info?.exif && exifThumbnail(src, info.exif.base, info.exif.end);
      if (inner) consider({ ...inner, from: `${c.from}-exif-thumbnail` }, true);
      problems.push(`${c.from} is ${kib(c.length)} (more than ${kib(limits.maxBytes)})`);
      return;
    }
    const checked = checkJpeg(Buffer.from(src.reader.read(c.offset, c.length)));
    if (typeof checked === 'string') {
      problems.push(`${c.from}: ${checked}`);
      return;
    }
    good.push({ data: checked.data, mime: 'image/jpeg', width: checked.width, height: checked.height, from: c.from, offset: c.offset });
  };
  for (const c of candidates.slice(0, MAX_CANDIDATES)) consider(c, false);
  if (!good.length) return { reason: problems.length ? `no usable preview: ${problems.join('; ')}` : 'no embedded preview' };
  const wide = good.filter((p) => (p.width ?? 0) >= limits.minWidth);
  const best = wide.length
    ? wide.reduce((a, b) => ((b.width ?? 0) < (a.width ?? 0) || (b.width === a.width && b.data.length < a.data.length) ? b : a))
    : good.reduce((a, b) => ((b.width ?? 0) > (a.width ?? 0) ? b : a));
  return { preview: best };
}

function kib(n: number): string {
  return `${Math.round(n / 1024)} KiB`;
}
