import { isFourCC } from './bytes.js';
import { children, type Child } from './bmff.js';

/**
 * The sample tables of an ISO BMFF / QuickTime `moov` box (ISO/IEC 14496-12 §8.5–8.7):
 * where every chunk of every track lies in the file (`stco` / `co64`), how many samples each
 * chunk holds (`stsc`) and how long each sample is (`stsz` / `stz2`). Together they say
 * exactly which byte ranges of the file hold media data, and for some codecs what those
 * bytes must start with: what src/reassemble-bmff.ts checks candidate cluster orders against.
 */

/** How the bytes of one track's samples can be checked. */
export type SampleCheck =
  /** H.264 / H.265 in MP4: length-prefixed NAL units that must chain exactly to the sample size. */
  | { kind: 'nal'; lengthSize: number; hevc: boolean }
  /** Motion JPEG (and CR3's JPEG track): each sample is a whole JPEG. */
  | { kind: 'jpeg' }
  /** QuickTime timed metadata (mebx): items [size u32][key u32][value] that tile the sample. */
  | { kind: 'items' }
  /** GoPro GPMF: every sample opens with a DEVC key. */
  | { kind: 'magic'; magic: Buffer }
  /**
   * AAC in MP4 (raw_data_block per sample): the first element is a single or channel pair
   * element (the channel configuration says which) with instance tag 0, and the block ends with
   * ID_END (111) then zero padding to the byte. Weak: about 9 bits per sample.
   */
  | { kind: 'aac'; first: number }
  | { kind: 'none' };

export interface TrackInfo {
  id: number;
  /** Handler type: 'vide', 'soun', 'meta', 'tmcd', ... */
  handler: string;
  /** Sample entry type of the first sample description: 'avc1', 'hvc1', 'mp4a', 'lpcm', ... */
  codec: string;
  check: SampleCheck;
  sampleCount: number;
}

export interface Chunk {
  /** Absolute file offset. */
  offset: number;
  /** Bytes: the sum of its samples' sizes. */
  size: number;
  track: number;
  /** Index (into the track's samples) of its first sample. */
  firstSample: number;
  samples: number;
}

export interface Movie {
  tracks: TrackInfo[];
  /** Every chunk of every track, by offset. */
  chunks: Chunk[];
  /** Per track (same order as `tracks`): each sample's size, or one size for all. */
  sizes: (Uint32Array | number)[];
  /** Lowest chunk offset and highest chunk end: the span of the file the media data covers. */
  dataStart: number;
  dataEnd: number;
}

/** Bounds on untrusted tables. */
export const MAX_MOVIE_SAMPLES = 20_000_000;
export const MAX_MOVIE_CHUNKS = 5_000_000;
export const MAX_MOVIE_TRACKS = 64;

type Box = Child;
const boxes = children;

const child = (buf: Buffer, parent: Box, type: string) => boxes(buf, parent.body, parent.end).find((b) => b.type === type);

/** Sound sample entries whose stsz counts audio frames of a fixed byte size (PCM). */
const PCM_CODECS = new Set(['lpcm', 'sowt', 'twos', 'raw ', 'in24', 'in32', 'fl32', 'fl64', 'ulaw', 'alaw', 'NONE']);

/**
 * Parse `moov` (the whole box, header included). Returns why when the tables are unusable:
 * missing, inconsistent, or beyond the bounds above.
 */
export function parseMovie(moov: Buffer): Movie | string {
  try {
    return parseMovieTables(moov);
  } catch (err) {
    // A field read past its box's end: the tables are damaged.
    return `unreadable tables (${(err as Error).message})`;
  }
}

function parseMovieTables(moov: Buffer): Movie | string {
  if (moov.length < 8 || moov.toString('latin1', 4, 8) !== 'moov') return 'not a moov box';
  const top = boxes(moov, 8, moov.length);
  const traks = top.filter((b) => b.type === 'trak');
  if (traks.length === 0) return 'no track';
  if (traks.length > MAX_MOVIE_TRACKS) return `${traks.length} tracks`;
  const tracks: TrackInfo[] = [];
  const chunks: Chunk[] = [];
  const sizes: (Uint32Array | number)[] = [];
  let totalSamples = 0;
  for (const trak of traks) {
    const tkhd = child(moov, trak, 'tkhd');
    const id = tkhd ? moov.readUInt32BE(tkhd.body + (moov[tkhd.body] === 1 ? 20 : 12)) : tracks.length + 1;
    const mdia = child(moov, trak, 'mdia');
    if (!mdia) return `track ${id}: no mdia`;
    const hdlr = child(moov, mdia, 'hdlr');
    const handler = hdlr && hdlr.end - hdlr.body >= 12 ? moov.toString('latin1', hdlr.body + 8, hdlr.body + 12) : '';
    const minf = child(moov, mdia, 'minf');
    const stbl = minf && child(moov, minf, 'stbl');
    if (!stbl) return `track ${id}: no stbl`;
    const parts = boxes(moov, stbl.body, stbl.end);
    const get = (t: string) => parts.find((b) => b.type === t);
    const stsd = get('stsd');
    const stsc = get('stsc');
    const stco = get('stco') ?? get('co64');
    const stsz = get('stsz') ?? get('stz2');
    if (!stsd || !stsc || !stco || !stsz) return `track ${id}: sample tables incomplete`;
    const entry = boxes(moov, stsd.body + 8, stsd.end)[0];
    const codec = entry?.type ?? '';
    const check = entry ? sampleCheck(moov, handler, entry) : { kind: 'none' as const };

    // Sample sizes.
    let size: Uint32Array | number;
    let count: number;
    const zb = stsz.body;
    if (stsz.type === 'stsz') {
      const fixed = moov.readUInt32BE(zb + 4);
      count = moov.readUInt32BE(zb + 8);
      if (count > MAX_MOVIE_SAMPLES) return `track ${id}: ${count} samples`;
      if (fixed !== 0) size = fixed;
      else {
        if (zb + 12 + 4 * count > stsz.end) return `track ${id}: stsz truncated`;
        const a = new Uint32Array(count);
        for (let i = 0; i < count; i++) a[i] = moov.readUInt32BE(zb + 12 + 4 * i);
        size = a;
      }
    } else {
      const field = moov[zb + 7];
      count = moov.readUInt32BE(zb + 8);
      if (count > MAX_MOVIE_SAMPLES) return `track ${id}: ${count} samples`;
      if (![4, 8, 16].includes(field) || zb + 12 + Math.ceil((count * field) / 8) > stsz.end) return `track ${id}: stz2 unusable`;
      const a = new Uint32Array(count);
      for (let i = 0; i < count; i++) {
        if (field === 16) a[i] = moov.readUInt16BE(zb + 12 + 2 * i);
        else if (field === 8) a[i] = moov[zb + 12 + i];
        else a[i] = (moov[zb + 12 + (i >> 1)] >> (i & 1 ? 0 : 4)) & 15;
      }
      size = a;
    }
    totalSamples += count;
    if (totalSamples > MAX_MOVIE_SAMPLES) return `${totalSamples} samples`;
    // PCM in QuickTime: stsz counts audio frames of 1 "sample size"; the bytes per frame are in the sample entry.
    if (typeof size === 'number' && handler === 'soun' && PCM_CODECS.has(codec) && entry) size *= pcmFrameBytes(moov, entry, size);

    // Chunk offsets.
    const cb = stco.body;
    const nChunks = moov.readUInt32BE(cb + 4);
    const wide = stco.type === 'co64';
    if (nChunks > MAX_MOVIE_CHUNKS || cb + 8 + nChunks * (wide ? 8 : 4) > stco.end) return `track ${id}: ${stco.type} unusable`;
    if (chunks.length + nChunks > MAX_MOVIE_CHUNKS) return 'too many chunks';
    // Samples per chunk.
    const sb = stsc.body;
    const nRuns = moov.readUInt32BE(sb + 4);
    if (sb + 8 + nRuns * 12 > stsc.end) return `track ${id}: stsc truncated`;
    let sample = 0;
    let run = 0;
    for (let c = 0; c < nChunks; c++) {
      while (run + 1 < nRuns && moov.readUInt32BE(sb + 8 + (run + 1) * 12) <= c + 1) run++;
      const per = nRuns > 0 ? moov.readUInt32BE(sb + 8 + run * 12 + 4) : 0;
      const offset = wide ? Number(moov.readBigUInt64BE(cb + 8 + 8 * c)) : moov.readUInt32BE(cb + 8 + 4 * c);
      const n = Math.min(per, count - sample);
      if (n <= 0) break;
      let bytes = 0;
      if (typeof size === 'number') bytes = n * size;
      else for (let i = sample; i < sample + n; i++) bytes += size[i];
      if (!Number.isSafeInteger(offset + bytes)) return `track ${id}: chunk offset out of range`;
      chunks.push({ offset, size: bytes, track: tracks.length, firstSample: sample, samples: n });
      sample += n;
    }
    if (sample !== count) return `track ${id}: stsc/stco place ${sample} of ${count} samples`;
    tracks.push({ id, handler, codec, check, sampleCount: count });
    sizes.push(size);
  }
  chunks.sort((a, b) => a.offset - b.offset || a.track - b.track);
  const nonEmpty = chunks.filter((c) => c.size > 0);
  if (nonEmpty.length === 0) return 'no media data';
  for (let i = 1; i < nonEmpty.length; i++) {
    if (nonEmpty[i].offset < nonEmpty[i - 1].offset + nonEmpty[i - 1].size) return `chunks overlap at byte ${nonEmpty[i].offset}`;
  }
  const last = nonEmpty[nonEmpty.length - 1];
  return { tracks, chunks: nonEmpty, sizes, dataStart: nonEmpty[0].offset, dataEnd: last.offset + last.size };
}

/** Bytes of one PCM audio frame ("sample" in stsz), from a QuickTime / ISO sound sample entry. */
function pcmFrameBytes(buf: Buffer, entry: Box, stszSize: number): number {
  const b = entry.body;
  if (b + 28 > entry.end) return 1;
  const version = buf.readUInt16BE(b + 8);
  if (version === 2 && b + 64 <= entry.end) {
    // SoundDescriptionV2: constBytesPerAudioPacket / constLPCMFramesPerAudioPacket.
    const bytesPerPacket = buf.readUInt32BE(b + 48);
    const framesPerPacket = buf.readUInt32BE(b + 52);
    if (bytesPerPacket > 0 && framesPerPacket === 1 && stszSize === 1) return bytesPerPacket;
    return 1;
  }
  if (stszSize !== 1) return 1; // already bytes per frame
  if (version === 1 && b + 44 <= entry.end) {
    const bytesPerFrame = buf.readUInt32BE(b + 36);
    if (bytesPerFrame > 0 && bytesPerFrame < 1024) return bytesPerFrame;
  }
  const channels = buf.readUInt16BE(b + 16);
  const bits = buf.readUInt16BE(b + 18);
  const bytes = (channels * bits) / 8;
  return Number.isInteger(bytes) && bytes > 0 && bytes < 1024 ? bytes : 1;
}

/** What a track's samples can be checked against, from its handler and sample entry. */
function sampleCheck(buf: Buffer, handler: string, entry: Box): SampleCheck {
  const t = entry.type;
  const inner = (type: string) => {
    // A visual sample entry's boxes follow its 78 bytes of fields; search a little wider for odd writers.
    const at = buf.indexOf(type, entry.body, 'latin1');
    return at >= 4 && at + 4 <= entry.end ? { body: at + 4, end: Math.min(entry.end, at - 4 + buf.readUInt32BE(at - 4)) } : undefined;
  };
  if (t === 'avc1' || t === 'avc3') {
    const c = inner('avcC');
    if (c && c.end - c.body >= 5) return { kind: 'nal', lengthSize: (buf[c.body + 4] & 3) + 1, hevc: false };
  }
  if (t === 'hvc1' || t === 'hev1') {
    const c = inner('hvcC');
    if (c && c.end - c.body >= 22) return { kind: 'nal', lengthSize: (buf[c.body + 21] & 3) + 1, hevc: true };
  }
  if (t === 'jpeg' || t === 'mjpa' || t === 'mjpg' || t === 'AVDJ' || t === 'dmb1') return { kind: 'jpeg' };
  if (t === 'CRAW' && inner('JPEG')) return { kind: 'jpeg' };
  if (t === 'mebx' && handler === 'meta') return { kind: 'items' };
  if (t === 'gpmd') return { kind: 'magic', magic: Buffer.from('DEVC', 'latin1') };
  if (t === 'mp4a') {
    const c = inner('esds');
    const channels = c ? aacChannels(buf.subarray(c.body, c.end)) : undefined;
    // Channel configuration 2: CPE first; 1 and 3–7: SCE (the centre) first.
    if (channels !== undefined && channels >= 1 && channels <= 7) return { kind: 'aac', first: channels === 2 ? 0x10 : 0 };
  }
  return { kind: 'none' };
}

/** The channel configuration of an AAC (LC, HE, HEv2) AudioSpecificConfig inside an esds body, if any. */
function aacChannels(esds: Buffer): number | undefined {
  // Descriptors: tag, then a length of 1–4 bytes (7 bits each).
  let p = 4;
  const desc = (tag: number): number | undefined => {
    if (p >= esds.length || esds[p] !== tag) return undefined;
    p++;
    let len = 0;
    for (let i = 0; i < 4 && p < esds.length; i++) {
      const b = esds[p++];
      len = (len << 7) | (b & 0x7f);
      if (!(b & 0x80)) break;
    }
    return len;
  };
  if (desc(0x03) === undefined) return undefined;
  const flags = esds[p + 2];
  p += 3;
  if (flags & 0x80) p += 2;
  if (flags & 0x40) p += 1 + (esds[p] ?? 0);
  if (flags & 0x20) p += 2;
  if (desc(0x04) === undefined || esds[p] !== 0x40) return undefined; // MPEG-4 audio
  p += 13;
  if (desc(0x05) === undefined || p + 2 > esds.length) return undefined;
  const bits = esds.readUInt16BE(p) * 256 + (esds[p + 2] ?? 0);
  const aot = bits >> 19;
  if (aot !== 2 && aot !== 5 && aot !== 29) return undefined;
  const freq = (bits >> 15) & 15;
  if (freq === 15) return undefined;
  return (bits >> 11) & 15;
}

const CONTAINERS = new Set(['moov', 'trak', 'mdia', 'minf', 'stbl', 'edts', 'dinf', 'mvex']);

/**
 * Where the box structure of a moov (header included) stops holding: the offset of the first
 * child header that is not a box, or whose box overruns its parent, in the containers down to
 * `stbl`; -1 when the children tile every container exactly. `read` lets it run on bytes not
 * read yet (a trial of where the moov goes on).
 */
export function moovStructureBreak(read: (offset: number, length: number) => Buffer, size: number): number {
  const walk = (from: number, to: number, depth: number): number => {
    let p = from;
    while (p < to) {
      if (to - p < 8) return p;
      const h = read(p, 16);
      if (h.length < 8 || !isFourCC(h, 4)) return p;
      let len = h.readUInt32BE(0);
      let hs = 8;
      if (len === 1) {
        if (h.length < 16) return p;
        const big = h.readBigUInt64BE(8);
        if (big > BigInt(to - p)) return p;
        len = Number(big);
        hs = 16;
      }
      if (len < hs || p + len > to) return p;
      const type = h.toString('latin1', 4, 8);
      if (CONTAINERS.has(type) && depth < 8) {
        const r = walk(p + hs, p + len, depth + 1);
        if (r >= 0) return r;
      }
      p += len;
    }
    return -1;
  };
  return walk(8, size, 0);
}

/** The size of sample `i` of track `t`. */
export function sampleSize(movie: Movie, t: number, i: number): number {
  const s = movie.sizes[t];
  return typeof s === 'number' ? s : s[i];
}

// ---- checks on the bytes ----------------------------------------------------------------

/** Reads `length` bytes at a file offset (fewer past the end of what is known). */
export type FileRead = (offset: number, length: number) => Buffer;

export type CheckResult =
  /** `lastRead`: the end of the last byte the check relied on. */
  | { ok: true; lastRead: number }
  /**
   * `failAt`..`failEnd`: the read that failed; `goodEnd`: the end of the reads before it that
   * passed (the sample's start when none did).
   */
  | { ok: false; failAt: number; failEnd: number; goodEnd: number; reason: string };

/**
 * NAL units of one H.264 / H.265 sample, as stored in MP4: each a big-endian length of
 * `lengthSize` bytes, then the unit. They must tile the sample exactly; each unit's header
 * must have the forbidden bit clear and a NAL unit type that exists. `payloads` collects the
 * [from, to) ranges of the units (after their length fields) when given.
 */
export function checkNalSample(read: FileRead, at: number, size: number, lengthSize: number, hevc: boolean, payloads?: [number, number][]): CheckResult {
  const end = at + size;
  let p = at;
  let goodEnd = at;
  const hdr = hevc ? 2 : 1;
  let units = 0;
  while (p < end) {
    if (p + lengthSize + hdr > end) return { ok: false, failAt: p, failEnd: end, goodEnd, reason: `${end - p} bytes left after ${units} NAL unit(s)` };
    const b = read(p, lengthSize + hdr);
    if (b.length < lengthSize + hdr) return { ok: false, failAt: p, failEnd: p + lengthSize + hdr, goodEnd, reason: 'past the end' };
    const len = b.readUIntBE(0, lengthSize);
    if (len < hdr || p + lengthSize + len > end) return { ok: false, failAt: p, failEnd: p + lengthSize, goodEnd, reason: `NAL unit length ${len} at byte ${p} does not fit the sample` };
    const h = b[lengthSize];
    if (h & 0x80) return { ok: false, failAt: p, failEnd: p + lengthSize + hdr, goodEnd, reason: `forbidden bit set at byte ${p + lengthSize}` };
    if (hevc) {
      const type = (h >> 1) & 0x3f;
      const layer = ((h & 1) << 5) | (b[lengthSize + 1] >> 3);
      const tid = b[lengthSize + 1] & 7;
      if ((type > 40 && type < 48) || (type >= 22 && type <= 31) || (type >= 10 && type <= 15) || tid === 0 || layer > 7) {
        return { ok: false, failAt: p, failEnd: p + lengthSize + hdr, goodEnd, reason: `implausible HEVC NAL header at byte ${p + lengthSize}` };
      }
    } else {
      const type = h & 0x1f;
      if (type === 0 || type > 23) return { ok: false, failAt: p, failEnd: p + lengthSize + hdr, goodEnd, reason: `NAL unit type ${type} at byte ${p + lengthSize}` };
    }
    payloads?.push([p + lengthSize, p + lengthSize + len]);
    goodEnd = p + lengthSize + hdr;
    p += lengthSize + len;
    units++;
  }
  return { ok: true, lastRead: goodEnd };
}

/** QuickTime timed-metadata items: [size u32 (8 and more)][key u32][value], tiling the sample. */
export function checkItemsSample(read: FileRead, at: number, size: number): CheckResult {
  const end = at + size;
  let p = at;
  let goodEnd = at;
  while (p < end) {
    const b = read(p, 8);
    if (b.length < 8 || p + 8 > end) return { ok: false, failAt: p, failEnd: Math.min(end, p + 8), goodEnd, reason: `${end - p} bytes left after the last item` };
    const len = b.readUInt32BE(0);
    const key = b.readUInt32BE(4);
    // An item of 8 bytes with key 0 is an empty placeholder (iPhone).
    if (len < 8 || p + len > end || (key === 0 && len !== 8) || key > 0xffff) return { ok: false, failAt: p, failEnd: p + 8, goodEnd, reason: `implausible metadata item at byte ${p}` };
    goodEnd = p + 8;
    p += len;
  }
  return { ok: true, lastRead: goodEnd };
}

/** An AAC raw_data_block: its first element (id and tag, 7 bits) and ID_END before the padding. */
export function checkAacSample(read: FileRead, at: number, size: number, first: number): CheckResult {
  if (size < 2) return { ok: true, lastRead: at + size };
  const b = read(at, 1);
  if (b.length < 1 || b[0] >> 1 !== first) return { ok: false, failAt: at, failEnd: at + 1, goodEnd: at, reason: `no AAC block start at byte ${at}` };
  const e = read(at + size - 2, 2);
  if (e.length < 2 || e[1] === 0) return { ok: false, failAt: at + size - 2, failEnd: at + size, goodEnd: at + 1, reason: `no AAC block end at byte ${at + size}` };
  const v = e.readUInt16BE(0);
  let k = 0;
  while (!((v >> k) & 1)) k++;
  if (((v >> k) & 7) !== 7) return { ok: false, failAt: at + size - 2, failEnd: at + size, goodEnd: at + 1, reason: `no AAC block end at byte ${at + size}` };
  return { ok: true, lastRead: at + size };
}

/** Bytes a sample must start with. */
export function checkMagicSample(read: FileRead, at: number, size: number, magic: Buffer): CheckResult {
  const n = Math.min(size, magic.length);
  const b = read(at, n);
  if (b.length === n && b.equals(magic.subarray(0, n))) return { ok: true, lastRead: at + n };
  return { ok: false, failAt: at, failEnd: at + n, goodEnd: at, reason: `sample at byte ${at} does not start with ${magic.toString('latin1')}` };
}

/**
 * Inside a NAL unit the byte sequences 00 00 00, 00 00 01, 00 00 02 never occur, 00 00 03 is
 * only followed by 00–03 (emulation prevention, H.264 §7.4.1, H.265 §7.4.2), and the last byte
 * is not 00. Returns the offset (in `b`) of the first violation, or -1.
 */
export function emulationViolation(b: Buffer, from = 0): number {
  for (let i = b.indexOf(0, from); i >= 0 && i + 2 < b.length; i = b.indexOf(0, i + 1)) {
    if (b[i + 1] !== 0) continue;
    const c = b[i + 2];
    if (c <= 2) return i;
    if (c === 3 && i + 3 < b.length && b[i + 3] > 3) return i;
  }
  return -1;
}
