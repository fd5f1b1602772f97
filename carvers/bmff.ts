import type { Reader } from '../src/reader.js';
import { BufferReader } from '../src/reader.js';
import type { Carver, WalkLimits, WalkMeta, WalkResult } from './types.js';
import { ByteSource, isFourCC } from './bytes.js';
import { cameraName, entryText, exifDate, findEntry, parseTiffHeader, readIfd, tiffMeta, TAG } from './ifd.js';
import { MAX_BMFF_BOXES, MAX_BMFF_META_BYTES, MAX_BMFF_SIZE } from './limits.js';

/**
 * ISO base media file format (ISO/IEC 14496-12) and QuickTime: CR3, MOV, MP4, HEIC.
 * The file is its top-level boxes end to end: size (32-bit, or 1 then a 64-bit size, or 0
 * for "to the end", only plausible for mdat), then a FourCC type. The file is whole when
 * both the index (moov, or meta for HEIF) and the media data (mdat) were seen; it ends at
 * the end of `lastChunk` (mdat) when that comes after the index, else where the next
 * eight bytes are no longer a plausible box header.
 */

export interface BmffOptions {
  /** The box whose end ends the file when it comes after moov (recovercr3 --lastchunk). */
  lastChunk?: string;
  /** At most this many top-level boxes (recovercr3 --maxchunks). */
  maxChunks?: number;
  /** Put the list of top-level boxes in the result's notes (recovercr3 --verbose). */
  listBoxes?: boolean;
}

export interface BoxInfo {
  type: string;
  /** Offset from the start of the file. */
  offset: number;
  size: number;
}

export interface BmffWalk {
  result: WalkResult;
  /** Every top-level box walked, in order: what --verbose prints. */
  boxes: BoxInfo[];
}

export const DEFAULT_LAST_CHUNK = 'mdat';
export const DEFAULT_MAX_CHUNKS = MAX_BMFF_BOXES;

/** Top-level box types of ISO BMFF, QuickTime, HEIF and camera files. */
export const TOP_LEVEL_BOXES = new Set([
  'ftyp', 'moov', 'mdat', 'free', 'skip', 'wide', 'uuid', 'meta', 'pnot', 'udta', 'PICT',
  'moof', 'mfra', 'sidx', 'ssix', 'styp', 'pdin', 'prft', 'emsg', 'meco', 'CNCV', 'junk',
  'sefd', 'jP  ', 'jp2h', 'xml ', 'bloc', 'ardt',
]);

/**
 * First boxes of old QuickTime files, which have no ftyp (Panasonic and early cameras).
 * Not free/skip: those also sit inside moov, where a walk from them would run on into
 * the parent's siblings.
 */
const QT_FIRST_BOXES = new Set(['moov', 'mdat', 'wide', 'pnot']);

/**
 * Once the index and the media data are both there, only these may follow: trailing
 * metadata and padding. A box that can start a file (ftyp, mdat, moov, wide, pnot) there
 * belongs to the next file.
 */
const TRAILING_BOXES = new Set(['free', 'skip', 'udta', 'uuid', 'meta', 'sefd', 'junk', 'Xtra', 'mfra', 'meco', 'PICT']);

/** A fragmented MP4 (moof seen) goes on with fragments after the first mdat. */
const FRAGMENT_BOXES = new Set([...TRAILING_BOXES, 'moof', 'mdat', 'sidx', 'ssix', 'styp', 'emsg', 'prft']);

/** Canon's CR3 metadata box inside moov. */
const CANON_UUID = '85c0b687820f11e08111f4ce462b6a48';

const HEIF_BRANDS = new Set(['heic', 'heix', 'heim', 'heis', 'hevc', 'hevx', 'hevm', 'hevs', 'mif1', 'msf1', 'mif2']);
const AVIF_BRANDS = new Set(['avif', 'avis']);

/** Format and extension from the ftyp brands (major first, then the compatible ones). */
export function formatOfBrands(major: string, compatible: string[]): { format: string; ext: string } {
  const byBrand = (b: string): { format: string; ext: string } | undefined => {
    if (b === 'crx ') return { format: 'cr3', ext: 'cr3' };
    if (b === 'qt  ') return { format: 'mov', ext: 'mov' };
    if (AVIF_BRANDS.has(b)) return { format: 'avif', ext: 'avif' };
    if (HEIF_BRANDS.has(b) && b !== 'mif1' && b !== 'msf1' && b !== 'mif2') return { format: 'heic', ext: 'heic' };
    if (b.startsWith('3gp') || b.startsWith('3g2')) return { format: 'mp4', ext: '3gp' };
    return undefined;
  };
  const found = byBrand(major) ?? compatible.map(byBrand).find((x) => x !== undefined);
  if (found) return found;
  if (HEIF_BRANDS.has(major)) return { format: 'heic', ext: 'heic' }; // plain mif1 / msf1
  return { format: 'mp4', ext: 'mp4' };
}

function detect(head: Buffer): boolean {
  if (head.length < 12 || !isFourCC(head, 4)) return false;
  const size = head.readUInt32BE(0);
  const type = head.toString('latin1', 4, 8);
  if (type === 'ftyp') return size >= 12 && size <= 4096 && isFourCC(head, 8);
  if (!QT_FIRST_BOXES.has(type)) return false;
  return size === 1 || size >= 8;
}

interface Header {
  type: string;
  size: number;
  headerSize: number;
  /** Declared size 0: "to the end of the file". */
  toEnd: boolean;
}

/** A box header at `at`, or undefined when the bytes cannot be one. */
function boxHeader(src: ByteSource, at: number): Header | undefined {
  const b = src.bytes(at, 16);
  if (b.length < 8 || !isFourCC(b, 4)) return undefined;
  const type = b.toString('latin1', 4, 8);
  const size32 = b.readUInt32BE(0);
  if (size32 === 1) {
    if (b.length < 16) return undefined;
    const big = b.readBigUInt64BE(8);
    if (big < 16n || big > BigInt(MAX_BMFF_SIZE)) return undefined;
    return { type, size: Number(big), headerSize: 16, toEnd: false };
  }
  if (size32 === 0) return { type, size: 0, headerSize: 8, toEnd: true };
  if (size32 < 8) return undefined;
  return { type, size: size32, headerSize: 8, toEnd: false };
}

/** One line per box, as recovercr3 --verbose printed them: 'ftyp 24 @0'. */
export function describeBoxes(boxes: readonly BoxInfo[]): string[] {
  return boxes.map((b) => `${b.type} ${b.size} @${b.offset}`);
}

export function walkBmff(reader: Reader, start: number, limits: WalkLimits, options: BmffOptions = {}): BmffWalk {
  const lastChunk = options.lastChunk ?? DEFAULT_LAST_CHUNK;
  const maxChunks = options.maxChunks ?? DEFAULT_MAX_CHUNKS;
  const src = new ByteSource(reader);
  const limitEnd = start + Math.min(limits.maxLength, MAX_BMFF_SIZE, Math.max(0, reader.size - start));
  const available = Math.min(limitEnd, reader.size) - start;
  const boxes: BoxInfo[] = [];
  const notes: string[] = [];
  const fail = (reason: string, validUpTo: number): BmffWalk => ({ result: { ok: false, reason, validUpTo }, boxes });

  const first = boxHeader(src, start);
  if (!first) return fail('no box header', 0);
  let kind: { format: string; ext: string };
  if (first.type === 'ftyp') {
    if (first.size < 16 || first.size > 4096) return fail(`implausible ftyp size ${first.size}`, 0);
    const ftyp = src.bytes(start + 8, first.size - 8);
    const compatible: string[] = [];
    for (let i = 8; i + 4 <= ftyp.length; i += 4) compatible.push(ftyp.toString('latin1', i, i + 4));
    kind = formatOfBrands(ftyp.toString('latin1', 0, 4), compatible);
  } else if (QT_FIRST_BOXES.has(first.type)) {
    kind = { format: 'mov', ext: 'mov' };
  } else {
    return fail(`first box is '${first.type}', not ftyp`, 0);
  }

  let sawIndex = false; // moov, or meta for HEIF
  let sawData = false; // mdat
  let fragmented = false; // moof
  let pos = start;
  let endReason = '';
  for (;;) {
    const complete = sawIndex && sawData;
    if (boxes.length >= maxChunks) {
      endReason = `stopped after ${maxChunks} boxes`;
      if (complete) notes.push(`stopped after ${maxChunks} boxes (maxChunks)`);
      break;
    }
    if (pos + 8 > limitEnd) {
      endReason = 'the limit is reached';
      break;
    }
    const h = boxHeader(src, pos);
    if (!h || (h.toEnd && h.type !== 'mdat') || (boxes.length > 0 && h.type === 'ftyp')) {
      endReason = h?.type === 'ftyp' ? 'another file (ftyp) follows' : `no plausible box header at byte ${pos - start}`;
      break;
    }
    if (complete && !(fragmented ? FRAGMENT_BOXES : TRAILING_BOXES).has(h.type)) {
      endReason = `'${h.type}' after a complete file belongs to the next one`;
      break;
    }
    let size = h.size;
    if (h.toEnd) {
      // mdat "to the end of the file": only the directory entry knows where that is.
      if (limits.expectedSize === undefined || start + limits.expectedSize < pos + 8) {
        if (complete) {
          endReason = `a second mdat with size 0 at byte ${pos - start}`;
          break;
        }
        return fail(`mdat at byte ${pos - start} has size 0 ("to the end"): the end is unknown`, pos - start);
      }
      size = start + limits.expectedSize - pos;
      notes.push('mdat has size 0 ("to the end"): the directory entry gives the size');
    }
    if (pos + size > limitEnd) {
      if (complete) {
        endReason = `box '${h.type}' at byte ${pos - start} runs past the limit`;
        break;
      }
      return fail(`box '${h.type}' at byte ${pos - start} (${size} bytes) runs past the limit: truncated`, available);
    }
    boxes.push({ type: h.type, offset: pos - start, size });
    const afterIndex = sawIndex;
    // HEIF's index is a top-level meta; a file without ftyp is QuickTime and needs moov.
    if (h.type === 'moov' || (h.type === 'meta' && first.type === 'ftyp')) sawIndex = true;
    if (h.type === 'mdat') sawData = true;
    if (h.type === 'moof') fragmented = true;
    pos += size;
    if (h.type === lastChunk && afterIndex && sawData && !fragmented) {
      endReason = `'${lastChunk}' after the index ends the file`;
      break;
    }
  }

  if (!(sawIndex && sawData)) {
    const missing = [sawIndex ? '' : 'moov/meta', sawData ? '' : 'mdat'].filter(Boolean).join(' and ');
    return fail(`no ${missing} before ${endReason}`, pos - start);
  }
  let length = pos - start;
  if (limits.expectedSize !== undefined && limits.expectedSize > length && limits.expectedSize <= limits.maxLength) {
    notes.push(`${limits.expectedSize - length} bytes after the last box kept: the directory entry gives the size`);
    length = limits.expectedSize;
  }
  const meta = readMeta(src, start, boxes, kind.format);
  return {
    result: {
      ok: true,
      length,
      format: kind.format,
      ext: kind.ext,
      ...(meta ? { meta } : {}),
      ...(notes.length ? { notes } : {}),
    },
    boxes,
  };
}

// ---- metadata (best effort: never fails the walk) -----------------------------------------

export interface Child {
  type: string;
  /** Offsets into the buffer: payload start (after the header) and box end. */
  body: number;
  end: number;
}

/** The boxes in buf[from, to), in order, up to the first that does not fit (at most 4096). */
export function children(buf: Buffer, from: number, to: number): Child[] {
  const out: Child[] = [];
  for (let p = from; p + 8 <= to && out.length < 4096; ) {
    let size = buf.readUInt32BE(p);
    let hs = 8;
    if (size === 1) {
      if (p + 16 > to) break;
      const big = buf.readBigUInt64BE(p + 8);
      if (big > BigInt(to - p)) break;
      size = Number(big);
      hs = 16;
    } else if (size === 0) size = to - p;
    if (size < hs || p + size > to || !isFourCC(buf, p + 4)) break;
    out.push({ type: buf.toString('latin1', p + 4, p + 8), body: p + hs, end: p + size });
    p += size;
  }
  return out;
}

function readMeta(src: ByteSource, start: number, boxes: BoxInfo[], format: string): WalkMeta | undefined {
  const moov = boxes.find((b) => b.type === 'moov');
  if (!moov || moov.size > MAX_BMFF_META_BYTES) return undefined;
  const buf = Buffer.from(src.bytes(start + moov.offset, moov.size));
  if (buf.length !== moov.size) return undefined;
  const meta: WalkMeta = {};
  const top = children(buf, 8, buf.length);
  try {
    if (format === 'cr3') Object.assign(meta, canonMeta(buf, top));
    const mvhd = top.find((c) => c.type === 'mvhd');
    if (!meta.date && mvhd) meta.date = mvhdDate(buf, mvhd);
    if (!meta.camera) meta.camera = quickTimeCamera(buf, top);
  } catch {
    // Metadata is a nicety; malformed boxes inside moov do not make the walk fail.
  }
  for (const k of Object.keys(meta) as (keyof WalkMeta)[]) if (meta[k] === undefined) delete meta[k];
  return Object.keys(meta).length ? meta : undefined;
}

/** CR3: moov/uuid(Canon)/CMT1 is a TIFF with IFD0 (Make, Model); CMT2 one with the EXIF IFD. */
function canonMeta(buf: Buffer, top: Child[]): WalkMeta {
  const uuid = top.find((c) => c.type === 'uuid' && buf.toString('hex', c.body, c.body + 16) === CANON_UUID);
  if (!uuid) return {};
  const inner = children(buf, uuid.body + 16, uuid.end);
  const tiffOf = (type: string) => {
    const c = inner.find((x) => x.type === type);
    if (!c) return undefined;
    const sub = buf.subarray(c.body, c.end);
    const header = parseTiffHeader(sub);
    return header ? { src: new ByteSource(new BufferReader(sub)), header } : undefined;
  };
  const meta: WalkMeta = {};
  const cmt1 = tiffOf('CMT1');
  if (cmt1) Object.assign(meta, tiffMeta(cmt1.src, 0, cmt1.header));
  const cmt2 = tiffOf('CMT2');
  if (cmt2) {
    const exif = readIfd(cmt2.src, 0, cmt2.header.ifd0, cmt2.header.le);
    const e = typeof exif === 'string' ? undefined : findEntry(exif, TAG.DateTimeOriginal);
    const date = e ? exifDate(entryText(cmt2.src, e)) : undefined;
    if (date) meta.date = date;
  }
  return meta;
}

/** mvhd creation time: seconds since 1904-01-01 (UTC by the specification). */
function mvhdDate(buf: Buffer, mvhd: Child): string | undefined {
  const version = buf[mvhd.body];
  const secs = version === 1 ? Number(buf.readBigUInt64BE(mvhd.body + 4)) : buf.readUInt32BE(mvhd.body + 4);
  const unix = secs - 2082844800;
  if (unix < 631152000 /* 1990 */ || unix > 4102444800 /* 2100 */) return undefined;
  return new Date(unix * 1000).toISOString().slice(0, 19) + 'Z';
}

/** Camera from moov/udta ©mak/©mod (QuickTime text) or moov/meta keys+ilst (Apple). */
function quickTimeCamera(buf: Buffer, top: Child[]): string | undefined {
  let make = '';
  let model = '';
  const udta = top.find((c) => c.type === 'udta');
  if (udta) {
    for (const c of children(buf, udta.body, udta.end)) {
      if (c.type !== '\xa9mak' && c.type !== '\xa9mod') continue;
      const len = buf.readUInt16BE(c.body);
      const text = buf.toString('utf8', c.body + 4, Math.min(c.end, c.body + 4 + len)).replace(/\0+$/, '');
      if (c.type === '\xa9mak') make = text;
      else model = text;
    }
  }
  const metaBox = top.find((c) => c.type === 'meta');
  if (metaBox && (!make || !model)) {
    const parts = children(buf, metaBox.body, metaBox.end);
    const keys = parts.find((c) => c.type === 'keys');
    const ilst = parts.find((c) => c.type === 'ilst');
    if (keys && ilst) {
      const names: string[] = [];
      for (let p = keys.body + 8; p + 8 <= keys.end && names.length < 256; ) {
        const size = buf.readUInt32BE(p);
        if (size < 8 || p + size > keys.end) break;
        names.push(buf.toString('latin1', p + 8, p + size));
        p += size;
      }
      for (const item of children(buf, ilst.body, ilst.end)) {
        const name = names[buf.readUInt32BE(item.body - 4) - 1];
        const data = children(buf, item.body, item.end).find((c) => c.type === 'data');
        if (!data || !name) continue;
        const text = buf.toString('utf8', data.body + 8, data.end);
        if (name === 'com.apple.quicktime.make') make ||= text;
        if (name === 'com.apple.quicktime.model') model ||= text;
      }
    }
  }
  return make || model ? cameraName(make, model) : undefined;
}

/** A BMFF carver with recovercr3's options (--lastchunk, --maxchunks). */
export function createBmffCarver(options: BmffOptions = {}): Carver {
  return {
    id: 'bmff',
    types: ['cr3', 'mov', 'mp4', 'heic', 'heif', 'avif', '3gp', 'm4v'],
    // The first byte is the first box's size's high byte: 0 for ftyp and moov, but an old
    // QuickTime file that starts with its mdat can have any size. detect() is cheap.
    firstBytes: [...Array(256).keys()],
    detect,
    walk: (reader, start, limits) => {
      const { result, boxes } = walkBmff(reader, start, limits, options);
      if (options.listBoxes && result.ok) result.notes = [...(result.notes ?? []), `boxes: ${describeBoxes(boxes).join(', ')}`];
      return result;
    },
    embeds: ['jpeg'],
  };
}

export const bmffCarver = createBmffCarver();
