import type { Reader } from '../src/reader.js';
import type { Carver, WalkLimits, WalkMeta, WalkResult } from './types.js';
import { ByteSource } from './bytes.js';
import {
  TAG,
  cameraName,
  entryNumbers,
  entryText,
  exifDate,
  findEntry,
  parseTiffHeader,
  readIfd,
  type Ifd,
  type IfdEntry,
  type TiffHeader,
} from './ifd.js';
import { MAX_IFD_DEPTH, MAX_RAW_SIZE, MAX_SUB_IFDS, MAX_TIFF_IFDS } from './limits.js';

/**
 * TIFF and the raw formats built on it (NEF, CR2, ARW, DNG, ORF, RW2, PEF, ...): one
 * walker with the byte order as a parameter. A TIFF has no end marker; its end is the
 * furthest byte any directory references — the IFDs themselves, out-of-line tag values,
 * strips, tiles and embedded JPEG previews — through IFD0's chain, SubIFDs, the EXIF,
 * GPS and interoperability IFDs and the maker notes.
 */

/** What a queued IFD is; decides whether its next-IFD pointer and failures matter. */
type IfdKind = 'chain' | 'sub' | 'exif' | 'gps' | 'interop' | 'maker' | 'private';

interface Pending {
  rel: number;
  /** Absolute offset the IFD's offsets count from (the TIFF header, or a maker note's). */
  base: number;
  le: boolean;
  kind: IfdKind;
  depth: number;
  /** Vendor, for maker-note sub-IFDs whose tags mean something else. */
  vendor?: string;
  /** An IFD a maker note points at, rather than the maker note's own IFD. */
  makerSub?: boolean;
  /**
   * For maker notes of unknown layout: references count only inside the maker note's own
   * bytes, since a wrong guess at their base would otherwise claim the next file's bytes.
   */
  bound?: [number, number];
}

/** A strip/tile/preview image: how big its data is and whether it lies in bounds. */
interface ImageData {
  ifdAt: number;
  bytes: number;
  inBounds: boolean;
  /** Absolute start of the first part outside the limits (Infinity when all are in). */
  firstMissing: number;
  /** Strips or tiles (image data proper), as opposed to a JPEGInterchangeFormat preview. */
  primary: boolean;
  /** Its IFD says raw sensor data (CFA / LinearRaw photometric, or a raw compression). */
  raw: boolean;
}

/** Photometric values and compressions only raw sensor data uses. */
const RAW_PHOTOMETRIC = new Set([32803 /* CFA */, 34892 /* LinearRaw */]);
const RAW_COMPRESSION = new Set([
  34713, // Nikon NEF compressed
  32767, // Sony ARW
  32769, // packed raw (Nikon, Epson)
  32770, // Samsung SRW
  32772, // Samsung SRW
  32867, // Kodak
  34316, // Panasonic RAW 1
  65535, // Pentax PEF
  65000, // Kodak DCR
]);

/** Raw format (and extension) by the Make tag, for TIFF raws without a header of their own. */
const RAW_BY_MAKE: [RegExp, string][] = [
  [/^NIKON/i, 'nef'],
  [/^SONY/i, 'arw'],
  [/^(PENTAX|ASAHI|RICOH)/i, 'pef'],
  [/^SAMSUNG/i, 'srw'],
  [/^HASSELBLAD/i, '3fr'],
  [/^(EASTMAN )?KODAK/i, 'dcr'],
  [/^SEIKO EPSON/i, 'erf'],
  [/^MAMIYA/i, 'mef'],
  [/^LEAF/i, 'mos'],
  [/^PHASE ONE/i, 'iiq'],
];

function detect(head: Buffer): boolean {
  const h = parseTiffHeader(head);
  // IFD0 right after the header is the rule; far away is possible but must be sane.
  return h !== undefined && h.ifd0 < MAX_RAW_SIZE;
}

class TiffWalk {
  readonly notes: string[] = [];
  private readonly visited = new Set<number>();
  private readonly queue: Pending[] = [];
  private readonly images: ImageData[] = [];
  /** Absolute end of the furthest referenced byte. */
  end: number;
  private ifdCount = 0;
  private ignored = 0;
  make = '';
  model = '';
  date?: string;
  dng = false;
  raw = false;

  constructor(
    private readonly src: ByteSource,
    private readonly start: number,
    /** Absolute offset nothing may reach past. */
    private readonly limitEnd: number,
    private readonly header: TiffHeader,
  ) {
    this.end = start + 8;
  }

  /** Walk everything; returns a reason when IFD0 itself is not there. */
  run(): string | undefined {
    this.queue.push({ rel: this.header.ifd0, base: this.start, le: this.header.le, kind: 'chain', depth: 0 });
    let first = true;
    while (this.queue.length > 0) {
      const item = this.queue.shift()!;
      const problem = this.visit(item);
      if (problem && first) return problem;
      if (problem && item.kind !== 'maker' && item.kind !== 'private') this.note(problem);
      first = false;
    }
    if (this.ignored > 0) this.note(`${this.ignored} references outside the limits were ignored`);
    return undefined;
  }

  /**
   * The main image: the largest raw strips/tiles; else the largest strips/tiles; else the
   * largest preview. A damaged preview reference must not stand in for it.
   */
  mainImage(): ImageData | undefined {
    const largest = (list: ImageData[]) => list.reduce<ImageData | undefined>((best, img) => (!best || img.bytes > best.bytes ? img : best), undefined);
    return largest(this.images.filter((i) => i.primary && i.raw)) ?? largest(this.images.filter((i) => i.primary)) ?? largest(this.images);
  }

  private note(text: string): void {
    if (this.notes.length < 20) this.notes.push(text);
  }

  /** Count [at, at+length) into the end when it lies within the limits; say whether it did. */
  private extend(at: number, length: number, bound?: [number, number]): boolean {
    if (length <= 0) return true;
    if (bound && (at < bound[0] || at + length > bound[1])) return false;
    if (at < this.start || at + length > this.limitEnd) {
      this.ignored++;
      return false;
    }
    this.end = Math.max(this.end, at + length);
    return true;
  }

  private visit(item: Pending): string | undefined {
    const abs = item.base + item.rel;
    if (item.rel === 0 || abs < this.start || abs + 2 > this.limitEnd) return `${item.kind} IFD at ${abs - this.start} is outside the limits`;
    if (this.visited.has(abs)) return undefined; // a loop, or two tags naming one IFD
    if (++this.ifdCount > MAX_TIFF_IFDS) return `more than ${MAX_TIFF_IFDS} IFDs`;
    this.visited.add(abs);
    const ifd = readIfd(this.src, item.base, item.rel, item.le);
    if (typeof ifd === 'string') return ifd;
    if (ifd.end > this.limitEnd) return `${item.kind} IFD at ${abs - this.start} runs past the limits`;
    if (item.bound && (ifd.at < item.bound[0] || ifd.end > item.bound[1])) return 'maker note IFD outside the maker note';
    this.extend(ifd.at, ifd.end - ifd.at);

    for (const e of ifd.entries) {
      if (!e.inline && e.size > 0) this.extend(e.valueAt, e.size, item.bound);
    }
    if (item.kind !== 'maker') this.readMainTags(ifd, item);
    this.imageData(ifd, item);
    this.followPointers(ifd, item);

    if ((item.kind === 'chain' || item.kind === 'sub') && ifd.next !== 0) {
      this.queue.push({ ...item, rel: ifd.next });
    }
    return undefined;
  }

  private isRawIfd(ifd: Ifd, le: boolean): boolean {
    const num = (tag: number) => {
      const e = findEntry(ifd, tag);
      return e ? entryNumbers(this.src, e, le, 1)[0] : undefined;
    };
    const photometric = num(TAG.PhotometricInterpretation);
    const compression = num(TAG.Compression);
    return (photometric !== undefined && RAW_PHOTOMETRIC.has(photometric)) || (compression !== undefined && RAW_COMPRESSION.has(compression));
  }

  /** Make, model, dates, and whether this looks like raw sensor data. */
  private readMainTags(ifd: Ifd, item: Pending): void {
    const text = (tag: number) => {
      const e = findEntry(ifd, tag);
      return e ? entryText(this.src, e) : '';
    };
    if (item.kind === 'chain' || item.kind === 'sub') {
      this.make ||= text(TAG.Make);
      this.model ||= text(TAG.Model);
      if (findEntry(ifd, TAG.DNGVersion)) this.dng = true;
      if (this.isRawIfd(ifd, item.le)) this.raw = true;
      if (!this.date) this.date = exifDate(text(TAG.DateTime));
    }
    if (item.kind === 'exif') this.date = exifDate(text(TAG.DateTimeOriginal)) ?? this.date;
  }

  /** Strips, tiles, JPEG previews: offset arrays paired with byte-count arrays. */
  private imageData(ifd: Ifd, item: Pending): void {
    const pairs: [number, number][] = [
      [TAG.StripOffsets, TAG.StripByteCounts],
      [TAG.TileOffsets, TAG.TileByteCounts],
      [TAG.JPEGInterchangeFormat, TAG.JPEGInterchangeFormatLength],
    ];
    if (item.kind === 'private') pairs.push([TAG.SonySR2SubIFDOffset, TAG.SonySR2SubIFDLength]);
    // Inside maker notes tag numbers are the vendor's own; only Nikon's PreviewIFD reuses
    // the JPEG preview tags (with offsets from the maker note's TIFF header).
    if (item.kind === 'maker' && !(item.vendor === 'nikon' && item.makerSub)) return;
    for (const [offTag, lenTag] of pairs) {
      const offE = findEntry(ifd, offTag);
      const lenE = findEntry(ifd, lenTag);
      if (!offE || !lenE) continue;
      const offs = entryNumbers(this.src, offE, item.le);
      const lens = entryNumbers(this.src, lenE, item.le);
      let bytes = 0;
      let firstMissing = Infinity;
      for (let i = 0; i < Math.min(offs.length, lens.length); i++) {
        bytes += lens[i];
        if (!this.extend(item.base + offs[i], lens[i])) firstMissing = Math.min(firstMissing, item.base + offs[i]);
      }
      const inBounds = firstMissing === Infinity;
      if (item.kind !== 'maker') {
        const primary = offTag !== TAG.JPEGInterchangeFormat && item.kind !== 'private';
        this.images.push({ ifdAt: ifd.at, bytes, inBounds, firstMissing, primary, raw: this.isRawIfd(ifd, item.le) });
      }
    }
  }

  /** SubIFDs, EXIF, GPS, interop, maker notes and vendor private IFDs go on the queue. */
  private followPointers(ifd: Ifd, item: Pending): void {
    if (item.depth >= MAX_IFD_DEPTH) return;
    const next = (e: IfdEntry, kind: IfdKind, extra: Partial<Pending> = {}) => {
      for (const rel of entryNumbers(this.src, e, item.le, MAX_SUB_IFDS)) {
        if (rel !== 0) this.queue.push({ rel, base: item.base, le: item.le, kind, depth: item.depth + 1, ...extra });
      }
    };
    for (const e of ifd.entries) {
      if (item.kind === 'maker') {
        // Inside maker notes only entries typed IFD are certain pointers (plus Nikon's PreviewIFD).
        if (e.type === 13 || (item.vendor === 'nikon' && e.tag === 0x0011)) next(e, 'maker', { vendor: item.vendor, makerSub: true, bound: item.bound });
        continue;
      }
      switch (e.tag) {
        case TAG.SubIFDs:
          next(e, 'sub');
          break;
        case TAG.ExifIFD:
          next(e, 'exif');
          break;
        case TAG.GPSIFD:
          next(e, 'gps');
          break;
        case TAG.InteropIFD:
          next(e, 'interop');
          break;
        case TAG.MakerNote:
          if (item.kind === 'exif') this.makerNote(e, item);
          break;
        case TAG.DNGPrivateData:
          // Sony ARW: a 4-byte pointer to the SR2Private IFD (DNG proper stores data here).
          if (e.inline && e.count === 4 && (e.type === 1 || e.type === 4 || e.type === 13)) {
            const p = this.src.bytes(e.valueAt, 4);
            if (p.length === 4) {
              const rel = item.le ? p.readUInt32LE(0) : p.readUInt32BE(0);
              if (rel) this.queue.push({ rel, base: item.base, le: item.le, kind: 'private', depth: item.depth + 1 });
            }
          }
          break;
      }
    }
  }

  /**
   * Maker notes: vendor headers say where the IFD is and what its offsets count from.
   * Nikon type 3 embeds a whole TIFF header; Olympus and Pentax count from the note;
   * Canon, Sony and Panasonic count from the main header.
   */
  private makerNote(e: IfdEntry, item: Pending): void {
    if (e.inline || e.size < 14) return;
    const at = e.valueAt;
    const head = this.src.bytes(at, 24);
    const sig = head.toString('latin1');
    const depth = item.depth + 1;
    const push = (rel: number, base: number, le: boolean, vendor?: string) =>
      this.queue.push({ rel, base, le, kind: 'maker', depth, vendor });
    if (sig.startsWith('Nikon\0\x02')) {
      const h = parseTiffHeader(head, 10);
      if (h) push(h.ifd0, at + 10, h.le, 'nikon');
    } else if (sig.startsWith('Nikon\0\x01')) {
      push(at + 8 - item.base, item.base, item.le, 'nikon');
    } else if (sig.startsWith('OLYMPUS\0') || sig.startsWith('OM SYSTEM')) {
      const bo = sig.startsWith('OLYMPUS\0') ? 8 : 12;
      const le = head.toString('latin1', bo, bo + 2) === 'II';
      push(bo + 4, at, le, 'olympus');
    } else if (sig.startsWith('OLYMP\0') || sig.startsWith('EPSON\0') || sig.startsWith('MINOL\0')) {
      push(at + 8 - item.base, item.base, item.le);
    } else if (sig.startsWith('AOC\0')) {
      const bo = head.toString('latin1', 4, 6);
      push(at + 6 - item.base, item.base, bo === 'II' ? true : bo === 'MM' ? false : item.le, 'pentax');
    } else if (sig.startsWith('PENTAX \0')) {
      const le = head.toString('latin1', 8, 10) === 'II';
      push(10, at, le, 'pentax');
    } else if (sig.startsWith('FUJIFILM')) {
      push(head.readUInt32LE(8), at, true, 'fuji');
    } else if (sig.startsWith('SONY') || sig.startsWith('Panasonic\0')) {
      push(at + 12 - item.base, item.base, item.le);
    } else if (/^canon/i.test(this.make)) {
      push(at - item.base, item.base, item.le); // Canon: a bare IFD, offsets from the main header
    } else {
      // Unknown layout: try a bare IFD, but let it claim nothing outside the maker note.
      this.queue.push({ rel: at - item.base, base: item.base, le: item.le, kind: 'maker', depth, bound: [at, at + e.size] });
    }
  }
}

function formatOf(header: TiffHeader, head: Buffer, w: TiffWalk): { format: string; ext: string } {
  if (header.magic === 0x4f52 || header.magic === 0x5352) return { format: 'orf', ext: 'orf' };
  if (header.magic === 0x55) return { format: 'rw2', ext: 'rw2' };
  if (head.toString('latin1', 8, 10) === 'CR') return { format: 'cr2', ext: 'cr2' };
  if (w.dng) return /^gopro/i.test(w.make) ? { format: 'dng', ext: 'gpr' } : { format: 'dng', ext: 'dng' };
  if (w.raw) {
    const byMake = RAW_BY_MAKE.find(([re]) => re.test(w.make.trim()));
    if (byMake) return { format: byMake[1], ext: byMake[1] };
  }
  return { format: 'tif', ext: 'tif' };
}

function walk(reader: Reader, start: number, limits: WalkLimits): WalkResult {
  const src = new ByteSource(reader);
  const head = src.bytes(start, 16);
  const header = parseTiffHeader(head);
  if (!header) return { ok: false, reason: 'no TIFF header' };
  const limitEnd = start + Math.min(limits.maxLength, MAX_RAW_SIZE, Math.max(0, reader.size - start));
  const w = new TiffWalk(src, start, limitEnd, header);
  const problem = w.run();
  if (problem) return { ok: false, reason: `IFD0: ${problem}`, validUpTo: 8 };

  const main = w.mainImage();
  if (!main) return { ok: false, reason: 'no image data referenced', validUpTo: w.end - start };
  if (!main.inBounds) {
    // Cut inside the main image (a truncated file): what is there is valid. Pointing
    // beyond what is there: only the structure up to the last good reference is.
    const available = Math.min(limitEnd, reader.size);
    const validEnd = main.firstMissing < available ? available : Math.min(available, w.end);
    return { ok: false, reason: 'the main image data lies outside the limits (truncated or damaged)', validUpTo: validEnd - start };
  }

  const { format, ext } = formatOf(header, head, w);
  const meta: WalkMeta = {};
  const camera = cameraName(w.make, w.model);
  if (camera) meta.camera = camera;
  if (w.date) meta.date = w.date;
  const notes = [...w.notes];
  let length = w.end - start;
  if (limits.expectedSize !== undefined && limits.expectedSize > length && limits.expectedSize <= limits.maxLength) {
    notes.push(`${limits.expectedSize - length} bytes after the last referenced byte kept: the directory entry gives the size`);
    length = limits.expectedSize;
  }
  return {
    ok: true,
    length,
    format,
    ext,
    ...(Object.keys(meta).length ? { meta } : {}),
    ...(notes.length ? { notes } : {}),
  };
}

export const tiffCarver: Carver = {
  id: 'tiff',
  types: ['tif', 'tiff', 'nef', 'cr2', 'arw', 'dng', 'gpr', 'orf', 'rw2', 'pef', 'srw'],
  firstBytes: [0x49, 0x4d], // 'I', 'M'
  detect,
  walk,
  embeds: ['jpeg'],
};
