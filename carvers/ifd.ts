import type { WalkMeta } from './types.js';
import { ByteSource, cString } from './bytes.js';
import { MAX_IFD_ENTRIES, MAX_TIFF_STRIPS } from './limits.js';

/**
 * TIFF image file directories, with the byte order as a parameter: the one reader behind
 * the TIFF raw walker, the EXIF metadata of JPEG APP1 segments and CR3's CMT boxes.
 * Offsets inside a TIFF structure are relative to its header (`base`), which for EXIF
 * is inside an APP1 segment and for Nikon maker notes is the maker note's own header.
 */

/** Bytes per value of each TIFF field type (TIFF 6.0 §2, EXIF IFD type 13, BigTIFF 16–18). */
export const TIFF_TYPE_SIZE: Readonly<Record<number, number>> = {
  1: 1, // BYTE
  2: 1, // ASCII
  3: 2, // SHORT
  4: 4, // LONG
  5: 8, // RATIONAL
  6: 1, // SBYTE
  7: 1, // UNDEFINED
  8: 2, // SSHORT
  9: 4, // SLONG
  10: 8, // SRATIONAL
  11: 4, // FLOAT
  12: 8, // DOUBLE
  13: 4, // IFD
  16: 8, // LONG8
  17: 8, // SLONG8
  18: 8, // IFD8
};

export const TAG = {
  NewSubfileType: 0x00fe,
  ImageWidth: 0x0100,
  ImageLength: 0x0101,
  Compression: 0x0103,
  PhotometricInterpretation: 0x0106,
  Make: 0x010f,
  Model: 0x0110,
  StripOffsets: 0x0111,
  StripByteCounts: 0x0117,
  /** Panasonic RW2: where the raw data starts (its IFD0 is in Panasonic's tag space). */
  PanasonicRawDataOffset: 0x0118,
  DateTime: 0x0132,
  TileOffsets: 0x0144,
  TileByteCounts: 0x0145,
  SubIFDs: 0x014a,
  JPEGInterchangeFormat: 0x0201,
  JPEGInterchangeFormatLength: 0x0202,
  ExifIFD: 0x8769,
  GPSIFD: 0x8825,
  InteropIFD: 0xa005,
  MakerNote: 0x927c,
  DateTimeOriginal: 0x9003,
  DNGVersion: 0xc612,
  DNGPrivateData: 0xc634,
  /** Sony SR2Private: the encrypted SR2SubIFD's offset and length. */
  SonySR2SubIFDOffset: 0x7200,
  SonySR2SubIFDLength: 0x7201,
} as const;

export interface TiffHeader {
  le: boolean;
  /** 42 for TIFF; 0x4f52 'RO' / 0x5352 'RS' for Olympus ORF; 0x55 for Panasonic RW2. */
  magic: number;
  /** IFD0 offset, relative to the header. */
  ifd0: number;
}

/** The 8-byte TIFF header, or undefined. Accepts the raw-format variants of the magic. */
export function parseTiffHeader(b: Buffer, at = 0): TiffHeader | undefined {
  if (b.length < at + 8) return undefined;
  const order = b.toString('latin1', at, at + 2);
  if (order !== 'II' && order !== 'MM') return undefined;
  const le = order === 'II';
  const magic = le ? b.readUInt16LE(at + 2) : b.readUInt16BE(at + 2);
  if (magic !== 42 && magic !== 0x4f52 && magic !== 0x5352 && magic !== 0x55) return undefined;
  const ifd0 = le ? b.readUInt32LE(at + 4) : b.readUInt32BE(at + 4);
  if (ifd0 < 8) return undefined;
  return { le, magic, ifd0 };
}

export interface IfdEntry {
  tag: number;
  type: number;
  count: number;
  /** Bytes of the value; 0 for an unknown type. */
  size: number;
  /** Absolute offset of the value: inside the entry when it fits in 4 bytes, else base + offset. */
  valueAt: number;
  inline: boolean;
}

export interface Ifd {
  /** Absolute offset of the entry count. */
  at: number;
  entries: IfdEntry[];
  /** Next IFD offset relative to the base; 0 when none. */
  next: number;
  /** Absolute offset just past the next-IFD pointer. */
  end: number;
}

/**
 * Read the IFD at `base + rel`. Returns a reason instead of an IFD when the bytes there
 * cannot be one (no room, implausible entry count, mostly unknown field types). With `only`,
 * the IFD is judged whole but its entries list holds only those tags: the EXIF metadata of
 * every carved photo needs a handful of an IFD's dozens of entries.
 */
export function readIfd(src: ByteSource, base: number, rel: number, le: boolean, only?: readonly number[]): Ifd | string {
  const at = base + rel;
  const n = src.u16(at, le);
  if (n === undefined) return `IFD at ${at} is beyond the data`;
  if (n === 0 || n > MAX_IFD_ENTRIES) return `IFD at ${at} has an implausible entry count ${n}`;
  const body = src.bytes(at + 2, 12 * n + 4);
  if (body.length < 12 * n + 4) return `IFD at ${at} is cut short`;
  const entries: IfdEntry[] = [];
  let unknownTypes = 0;
  for (let i = 0; i < n; i++) {
    const p = 12 * i;
    const tag = le ? body.readUInt16LE(p) : body.readUInt16BE(p);
    const type = le ? body.readUInt16LE(p + 2) : body.readUInt16BE(p + 2);
    const unit = TIFF_TYPE_SIZE[type] ?? 0;
    if (unit === 0) unknownTypes++;
    if (only && !only.includes(tag)) continue;
    const count = le ? body.readUInt32LE(p + 4) : body.readUInt32BE(p + 4);
    const size = unit * count;
    const inline = size <= 4;
    const off = le ? body.readUInt32LE(p + 8) : body.readUInt32BE(p + 8);
    entries.push({ tag, type, count, size, inline, valueAt: inline ? at + 2 + p + 8 : base + off });
  }
  // Real IFDs use known types; a run of random bytes rarely does. A few unknown ones are
  // tolerated (vendors), a majority means this is not an IFD.
  if (unknownTypes * 2 > n) return `IFD at ${at} has mostly unknown field types`;
  const next = le ? body.readUInt32LE(12 * n) : body.readUInt32BE(12 * n);
  return { at, entries, next, end: at + 2 + 12 * n + 4 };
}

export function findEntry(ifd: Ifd, tag: number): IfdEntry | undefined {
  return ifd.entries.find((e) => e.tag === tag);
}

/** Unsigned integer values of a BYTE/SHORT/LONG/IFD/LONG8 entry (at most `max` of them). */
export function entryNumbers(src: ByteSource, e: IfdEntry, le: boolean, max = MAX_TIFF_STRIPS): number[] {
  const unit = TIFF_TYPE_SIZE[e.type] ?? 0;
  if (![1, 3, 4, 13, 16, 18].includes(e.type)) return [];
  const n = Math.min(e.count, max);
  const b = src.bytes(e.valueAt, n * unit);
  const out: number[] = [];
  for (let i = 0; i + unit <= b.length && out.length < n; i += unit) {
    if (unit === 1) out.push(b[i]);
    else if (unit === 2) out.push(le ? b.readUInt16LE(i) : b.readUInt16BE(i));
    else if (unit === 4) out.push(le ? b.readUInt32LE(i) : b.readUInt32BE(i));
    else {
      const v = le ? b.readBigUInt64LE(i) : b.readBigUInt64BE(i);
      out.push(v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : Number.MAX_SAFE_INTEGER);
    }
  }
  return out;
}

/** An ASCII entry's text (bounded). */
export function entryText(src: ByteSource, e: IfdEntry, max = 256): string {
  if (e.type !== 2 && e.type !== 7 && e.type !== 1) return '';
  return cString(src.bytes(e.valueAt, Math.min(e.count, max)));
}

/** Company-form words in Make tags ('NIKON CORPORATION', 'OLYMPUS OPTICAL CO.,LTD'). */
const CORPORATE = /\b(corporation|corp|co|ltd|inc|company|optical|imaging|computer|techwin|electronics|ag|gmbh)\b\.?/gi;

/**
 * One camera name from Make and Model: 'NIKON CORPORATION' + 'NIKON D90' → 'NIKON D90';
 * 'SONY' + 'ILCE-6400' → 'SONY ILCE-6400'; 'OLYMPUS OPTICAL CO.,LTD' + 'C3000Z' → 'OLYMPUS C3000Z'.
 */
export function cameraName(make: string, model: string): string | undefined {
  // A card's photos come from a camera or two: each pair is worked out once.
  const key = `${make}\u0000${model}`;
  if (cameraNames.has(key)) return cameraNames.get(key);
  const name = nameCamera(make, model);
  if (cameraNames.size >= MAX_CAMERA_NAMES) cameraNames.clear();
  cameraNames.set(key, name);
  return name;
}

const cameraNames = new Map<string, string | undefined>();
const MAX_CAMERA_NAMES = 256;

function nameCamera(make: string, model: string): string | undefined {
  const brand = make.replace(CORPORATE, ' ').replace(/[\s,.]+/g, ' ').trim();
  model = model.trim();
  if (!model) return brand || make.trim() || undefined;
  const words = brand.toLowerCase().split(' ').filter((w) => w.length >= 2);
  const lower = model.toLowerCase();
  if (!brand || words.some((w) => lower.includes(w))) return model;
  return `${brand} ${model}`;
}

/** EXIF '2024:05:01 10:20:30' → '2024-05-01T10:20:30' (local time, as the camera wrote it). */
export function exifDate(text: string): string | undefined {
  const m = /^(\d{4}):(\d{2}):(\d{2}) (\d{2}):(\d{2}):(\d{2})/.exec(text);
  if (!m || m[1] === '0000') return undefined;
  return `${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6]}`;
}

const IFD0_META_TAGS = [TAG.Make, TAG.Model, TAG.DateTime, TAG.ExifIFD];
const EXIF_META_TAGS = [TAG.DateTimeOriginal];

/**
 * Camera and date from a TIFF structure's IFD0 (Make, Model, DateTime) and its EXIF IFD
 * (DateTimeOriginal, preferred). Never throws; missing parts are simply absent.
 */
export function tiffMeta(src: ByteSource, base: number, header: TiffHeader): WalkMeta {
  const meta: WalkMeta = {};
  const ifd0 = readIfd(src, base, header.ifd0, header.le, IFD0_META_TAGS);
  if (typeof ifd0 === 'string') return meta;
  const text = (ifd: Ifd, tag: number) => {
    const e = findEntry(ifd, tag);
    return e ? entryText(src, e) : '';
  };
  const camera = cameraName(text(ifd0, TAG.Make), text(ifd0, TAG.Model));
  if (camera) meta.camera = camera;
  let date = exifDate(text(ifd0, TAG.DateTime));
  const exifEntry = findEntry(ifd0, TAG.ExifIFD);
  if (exifEntry) {
    const [rel] = entryNumbers(src, exifEntry, header.le, 1);
    const exif = rel ? readIfd(src, base, rel, header.le, EXIF_META_TAGS) : 'none';
    if (typeof exif !== 'string') date = exifDate(text(exif, TAG.DateTimeOriginal)) ?? date;
  }
  if (date) meta.date = date;
  return meta;
}
