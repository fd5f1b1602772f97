import type { Reader, ByteRun } from './reader.js';
import { CachedReader, RunsReader } from './reader.js';
import type { CarveOutcome, CarveRegion } from './carve.js';
import { parseExifDate } from './carve.js';
import type { VolumePlan } from './plan.js';
import type { FsEntry } from '../parsers/types.js';
import { originalPathOf, type RecoveredFile, type SkippedEntry } from './record.js';
import { Pool, type ReassembleStats } from './reassemble.js';
import { bmffCarver, formatOfBrands, walkBmff } from '../carvers/bmff.js';
import { isFourCC } from '../carvers/bytes.js';
import { validateJpeg } from '../carvers/jpeg-validate.js';
import {
  checkAacSample,
  checkItemsSample,
  checkMagicSample,
  checkNalSample,
  emulationViolation,
  moovStructureBreak,
  parseMovie,
  sampleSize,
  type CheckResult,
  type FileRead,
  type Movie,
} from '../carvers/bmff-samples.js';
import { MAX_BMFF_META_BYTES, MAX_BMFF_SIZE, MAX_GAP_CLUSTERS, MAX_REASSEMBLY_CANDIDATES, MAX_REASSEMBLY_REGION_WORK, MAX_REASSEMBLY_WORK, MiB } from '../carvers/limits.js';

/**
 * MP4 / MOV / CR3 reassembly through the sample tables (after JPEG reassembly, per carving
 * region).
 *
 * The `moov` box says where every chunk lies (`stco` / `co64`) and how long every sample is
 * (`stsz`), so it says which byte ranges of the file hold media data; for H.264 / H.265 video
 * those bytes must be NAL units, each with its length in front, chaining exactly to the
 * sample's size (Motion JPEG: a whole JPEG; QuickTime metadata: items tiling the sample;
 * GoPro GPMF: 'DEVC'). Every such sample is a checkpoint at a known file offset. The file is
 * laid along the pool from its start; at the first checkpoint that fails, the file broke off
 * at a cluster boundary between the last check that passed and that one, and goes on g >= 1
 * free clusters further: the pool is searched for the continuation that makes the following
 * checkpoints pass. This repeats for each break (any number of fragments, each after the one
 * before). A `moov` written after the `mdat` (cameras) is looked for in the pool where the
 * mdat's size says it starts (the same offset inside a cluster, some clusters further), and
 * must describe exactly the media data of that mdat.
 *
 * When several cluster boundaries lie between the last check that passed and the one that
 * failed (a large NAL unit, an audio chunk), each is tried as the break: those whose bytes
 * break the rules of NAL units (emulation prevention), or look like another format (JPEG
 * scan data, text), are dropped. If more than one remains the file is written 'unverified'
 * and its confidence says how many of its bytes are placed for certain.
 */

export interface BmffReassembleOptions {
  keepPartial?: boolean;
  /** Pool clusters tried between two fragments (gap 1 .. maxGap). */
  maxGap?: number;
  /** Continuations tried per file. */
  maxCandidates?: number;
  /** Which carved / guessed ISO BMFF files get their samples checked: a few each ('needed', default), every one ('all'), none. */
  verifyCarved?: 'needed' | 'all' | 'none';
  /** Bytes this may read searching one region, over all files (MAX_REASSEMBLY_REGION_WORK). */
  maxWork?: number;
}

export interface BmffReassembleResult {
  files: RecoveredFile[];
  replaced: RecoveredFile[];
  skipped: SkippedEntry[];
  stats: ReassembleStats;
}

/** Breaks followed in one file. */
export const MAX_BMFF_FRAGMENTS = 64;
/** Checkpoints after a break that a continuation must pass: this many strong ones (or weak ones, or all there are). */
const WINDOW = 3;
const WEAK_WINDOW = 8;
/** Weak checks that may fail unexplained in one file before they are no longer believed. */
const MAX_WEAK_MISSES = 8;
/** Cluster boundaries considered as one break's position. */
const MAX_ALTERNATIVES = 512;
/** Zero bytes an encoder may leave at the end of a NAL unit (seen: ~20 on an Android phone). */
const MAX_NAL_PADDING = 1024;
/** A moov read from the pool. */
const MAX_MOOV = 64 * MiB;
/** Slack between the mdat's ends and the media data a moov found after it describes. */
const MOOV_SLACK = 1 * MiB;
/** moov candidates looked at after an mdat, and how far (in clusters, times maxGap). */
const MAX_MOOV_CANDIDATES = 8;
const MOOV_SEARCH_GAPS = 2;

const BMFF_FORMATS = new Set(['mp4', 'mov', 'cr3', '3gp', 'm4v', 'bmff']);
const TRAILING = new Set(['free', 'skip', 'udta', 'uuid', 'meta', 'junk', 'Xtra', 'sefd', 'PICT']);
const QT_FIRST = new Set(['moov', 'mdat', 'wide', 'pnot']);

// ---- reading ------------------------------------------------------------------------------

/** Counts the bytes read through it (the trials' direct reads), a sector at least for each read: a read costs a seek. */
class CountingReader implements Reader {
  fetched = 0;
  constructor(private readonly base: Reader) {}
  get size(): number {
    return this.base.size;
  }
  read(offset: number, length: number): Buffer {
    const b = this.base.read(offset, length);
    this.fetched += Math.max(512, b.length);
    return b;
  }
}

/** A fragment: file bytes from `file` on lie at pool stream position `pool` on. */
interface Frag {
  file: number;
  pool: number;
}

/** File bytes through a layout of fragments (each runs until the next one starts). */
function reader(src: Reader, frags: readonly Frag[]): FileRead {
  return (x, n) => {
    const parts: Buffer[] = [];
    let k = frags.length - 1;
    while (k > 0 && frags[k].file > x) k--;
    while (n > 0 && k < frags.length) {
      const fragEnd = k + 1 < frags.length ? frags[k + 1].file : Infinity;
      const take = Math.min(n, fragEnd - x);
      if (take <= 0) {
        k++;
        continue;
      }
      const b = src.read(frags[k].pool + x - frags[k].file, take);
      parts.push(b);
      if (b.length < take) break;
      x += take;
      n -= take;
      k++;
    }
    return parts.length === 1 ? parts[0] : Buffer.concat(parts);
  };
}

// ---- the file's head: boxes before the media data ------------------------------------------

interface BoxAt {
  type: string;
  at: number;
  size: number;
  headerSize: number;
}

interface Head {
  boxes: BoxAt[];
  format: string;
  ext: string;
  mdat?: BoxAt;
  moov?: { at: number; buf: Buffer };
  /** Why reading box headers stopped before the mdat, when it did. */
  broken?: string;
}

function boxAt(read: FileRead, at: number): BoxAt | undefined {
  const b = read(at, 16);
  if (b.length < 8 || !isFourCC(b, 4)) return undefined;
  const type = b.toString('latin1', 4, 8);
  const s = b.readUInt32BE(0);
  if (s === 1) {
    if (b.length < 16) return undefined;
    const big = b.readBigUInt64BE(8);
    if (big < 16n || big > BigInt(MAX_BMFF_SIZE)) return undefined;
    return { type, at, size: Number(big), headerSize: 16 };
  }
  if (s === 0) return type === 'mdat' ? { type, at, size: 0, headerSize: 8 } : undefined;
  if (s < 8) return undefined;
  return { type, at, size: s, headerSize: 8 };
}

/** Top-level boxes from the start up to the mdat, read along `read`. */
function readHead(read: FileRead): Head | string {
  const first = boxAt(read, 0);
  if (!first) return 'no box header at the start';
  let kind = { format: 'mov', ext: 'mov' };
  if (first.type === 'ftyp') {
    if (first.size < 16 || first.size > 4096) return 'implausible ftyp';
    const f = read(8, first.size - 8);
    const compatible: string[] = [];
    for (let i = 8; i + 4 <= f.length; i += 4) compatible.push(f.toString('latin1', i, i + 4));
    kind = formatOfBrands(f.toString('latin1', 0, 4), compatible);
  } else if (!QT_FIRST.has(first.type)) return `first box '${first.type}'`;
  const head: Head = { boxes: [], format: kind.format, ext: kind.ext };
  let at = 0;
  for (let n = 0; n < 64; n++) {
    const b = n === 0 ? first : boxAt(read, at);
    if (!b || (b.type === 'ftyp' && n > 0)) {
      head.broken = `no box header at byte ${at}`;
      break;
    }
    head.boxes.push(b);
    if (b.type === 'mdat') {
      head.mdat = b;
      break;
    }
    if (b.type === 'moov' && !head.moov) {
      if (b.size > MAX_MOOV) return `moov of ${b.size} bytes`;
      const buf = read(at, b.size);
      if (buf.length !== b.size) return 'moov runs past the pool';
      head.moov = { at, buf: Buffer.from(buf) };
    }
    at += b.size;
  }
  return head;
}

// ---- checkpoints ------------------------------------------------------------------------

interface Scan {
  from: number;
  to: number;
  all?: boolean;
}

type Check = { ok: true; lastRead: number } | { ok: false; failAt: number; failEnd: number; goodEnd: number; reason: string; soft?: boolean };

interface Checkpoint {
  at: number;
  end: number;
  /** What to say when it fails. */
  what: string;
  /**
   * Check the bytes along `read`. `scan`: also look at the payload between the checked places,
   * within [from, to): only after the last place checked (what a break could have replaced
   * unnoticed), or all of it (`all`).
   */
  run(read: FileRead, scan?: Scan): Check;
  /** Video samples are counted in the notes. */
  video?: boolean;
  /** A check random data passes often (AAC: about 1 in 500): it never pins a break on its own. */
  weak?: boolean;
}

function boxCheckpoint(box: BoxAt): Checkpoint {
  return {
    at: box.at,
    end: box.at + box.headerSize,
    what: `'${box.type}' box header at byte ${box.at}`,
    run(read) {
      const b = boxAt(read, box.at);
      if (b && b.type === box.type && b.size === box.size && b.headerSize === box.headerSize) return { ok: true, lastRead: box.at + box.headerSize };
      return { ok: false, failAt: box.at, failEnd: box.at + box.headerSize, goodEnd: box.at, reason: `no '${box.type}' header at byte ${box.at}` };
    },
  };
}

/** The mdat header where the boxes before it end, when it was not reached along the first fragment. */
function mdatCheckpoint(at: number, dataEnd: number): Checkpoint {
  return {
    at,
    end: at + 16,
    what: `mdat header at byte ${at}`,
    run(read) {
      const b = boxAt(read, at);
      if (b && b.type === 'mdat' && (b.size === 0 || at + b.size >= dataEnd)) return { ok: true, lastRead: at + b.headerSize };
      return { ok: false, failAt: at, failEnd: at + 8, goodEnd: at, reason: `no mdat header at byte ${at}` };
    },
  };
}

/** A moov found after the mdat: its bytes, at the offset the mdat's size gives. */
function moovCheckpoint(at: number, buf: Buffer): Checkpoint {
  return {
    at,
    end: at + buf.length,
    what: `moov at byte ${at}`,
    run(read) {
      const got = read(at, buf.length);
      if (got.length === buf.length && got.equals(buf)) return { ok: true, lastRead: at + buf.length };
      let d = 0;
      while (d < got.length && got[d] === buf[d]) d++;
      return { ok: false, failAt: at + d, failEnd: at + d + 1, goodEnd: at + d, reason: `the moov found differs from byte ${at + d}` };
    },
  };
}

/**
 * Payload of NAL units that breaks their rules (emulation prevention) or is another kind of
 * data: a long stretch of bytes below 0x80 (text), or JPEG scan data (every FF followed by
 * 00 or a restart marker). Offset in `b`, or -1.
 */
export function foreignPayload(b: Buffer): { at: number; end: number; what: string } | null {
  const e = emulationViolation(b);
  // Sampled every 64 bytes: 40 samples in a row below 0x80 (2560 bytes) does not happen in compressed video.
  let low = 0;
  let lowAt = -1;
  let text = -1;
  for (let i = 0; i < b.length; i += 64) {
    if (b[i] < 0x80) {
      if (low++ === 0) lowAt = i;
      if (low >= 40) {
        text = lowAt;
        break;
      }
    } else low = 0;
  }
  let stuffed = 0;
  let stuffAt = -1;
  let jpeg = -1;
  let jpegEnd = -1;
  for (let i = b.indexOf(0xff); i >= 0 && i + 1 < b.length; i = b.indexOf(0xff, i + 1)) {
    const n = b[i + 1];
    if (n === 0 || (n >= 0xd0 && n <= 0xd7)) {
      if (stuffed++ === 0) stuffAt = i;
      if (stuffed >= 16) {
        jpeg = stuffAt;
        jpegEnd = i;
        break;
      }
      i++;
    } else stuffed = 0;
  }
  // `end`: by here the data is foreign for sure (a run of samples may begin in the video's own bytes).
  const found = [
    { at: e, end: e + 4, what: 'a byte sequence NAL units cannot hold (00 00 0x)' },
    { at: text, end: text + 40 * 64, what: 'text, not video data' },
    { at: jpeg, end: jpegEnd + 2, what: 'JPEG scan data, not video data' },
  ].filter((x) => x.at >= 0);
  if (found.length === 0) return null;
  return found.reduce((a, x) => (x.at < a.at ? x : a));
}

function sampleCheckpoint(movie: Movie, t: number, i: number, at: number, size: number): Checkpoint | undefined {
  const check = movie.tracks[t].check;
  const what = `sample ${i + 1} of track ${movie.tracks[t].id} (${movie.tracks[t].codec}) at byte ${at}`;
  const end = at + size;
  const wrap = (r: CheckResult): Check => r;
  switch (check.kind) {
    case 'nal':
      return {
        at,
        end,
        what,
        video: true,
        run(read, scan) {
          const payloads: [number, number][] = [];
          const r = checkNalSample(read, at, size, check.lengthSize, check.hevc, scan ? payloads : undefined);
          if (!r.ok || !scan) return wrap(r);
          const hdr = check.hevc ? 2 : 1;
          // A break before the last length read would have failed the chain: only the bytes after it can hide one.
          const lo = scan.all ? scan.from : Math.max(scan.from, r.lastRead);
          for (const [from, to0] of payloads) {
            // Some encoders pad NAL units with zero bytes (trailing_zero_8bits inside the unit): a short run at the end is theirs.
            const t = read(Math.max(from, to0 - MAX_NAL_PADDING - 1), Math.min(to0 - from, MAX_NAL_PADDING + 1));
            let zeros = 0;
            while (zeros < t.length && t[t.length - 1 - zeros] === 0) zeros++;
            const to = zeros <= MAX_NAL_PADDING ? to0 - zeros : to0;
            const a = Math.max(from + hdr, lo);
            const z = Math.min(to, scan.to);
            for (let p = a; p < z; p += 4 * MiB) {
              const n = Math.min(4 * MiB + 3, z - p);
              const b = read(p, n);
              const f = foreignPayload(b);
              if (f) return { ok: false, soft: true, failAt: p + f.at, failEnd: Math.min(z, p + f.end), goodEnd: Math.min(r.lastRead, p + f.at), reason: `${f.what} at byte ${p + f.at}` };
            }
          }
          return r;
        },
      };
    case 'jpeg':
      return {
        at,
        end,
        what,
        video: true,
        run(read) {
          const sub: Reader = { size, read: (o, n) => (o >= size ? Buffer.alloc(0) : read(at + o, Math.min(n, size - o))) };
          const head = read(at, 3);
          if (head.length < 3 || head[0] !== 0xff || head[1] !== 0xd8 || head[2] !== 0xff) return { ok: false, failAt: at, failEnd: at + 3, goodEnd: at, reason: `no JPEG at byte ${at}` };
          const v = validateJpeg(sub, 0, { maxLength: size, chunk: 64 * 1024 });
          if (v.ok) return { ok: true, lastRead: end };
          const failAt = at + Math.min(size - 1, v.failedAt ?? v.validUpTo);
          return { ok: false, failAt, failEnd: failAt + 1, goodEnd: at + 3, reason: `the JPEG at byte ${at} breaks at byte ${at + v.validUpTo} (${v.reason})` };
        },
      };
    case 'items':
      return { at, end, what, run: (read) => wrap(checkItemsSample(read, at, size)) };
    case 'magic':
      return { at, end, what, run: (read) => wrap(checkMagicSample(read, at, size, check.magic)) };
    case 'aac':
      return { at, end, what, weak: true, run: (read) => wrap(checkAacSample(read, at, size, check.first)) };
    default:
      return undefined;
  }
}

function checkpointsOf(head: Head, movie: Movie, moovAfter?: { at: number; buf: Buffer }): Checkpoint[] {
  const cps: Checkpoint[] = [];
  for (const b of head.boxes) cps.push(boxCheckpoint(b));
  if (!head.mdat) {
    const last = head.boxes[head.boxes.length - 1];
    cps.push(mdatCheckpoint(last.at + last.size, movie.dataEnd));
  }
  for (const c of movie.chunks) {
    let at = c.offset;
    for (let i = c.firstSample; i < c.firstSample + c.samples; i++) {
      const s = sampleSize(movie, c.track, i);
      const cp = s > 0 ? sampleCheckpoint(movie, c.track, i, at, s) : undefined;
      if (cp) cps.push(cp);
      at += s;
    }
  }
  if (moovAfter) cps.push(moovCheckpoint(moovAfter.at, moovAfter.buf));
  return cps.sort((a, b) => a.at - b.at);
}

// ---- what the sample tables say of a placed file -------------------------------------------

interface Plan {
  head: Head;
  movie: Movie;
  moovAfter?: { at: number; buf: Buffer };
  cps: Checkpoint[];
  /** Where the structure ends: the mdat's end (moov first) or the moov's (moov last). */
  structuralEnd: number;
  /** File bytes of a moov put back together whose break could be at more than one boundary. */
  uncertain?: [number, number];
}

function planOf(head: Head, moovAfter?: { at: number; buf: Buffer }): Plan | string {
  const moov = head.moov?.buf ?? moovAfter?.buf;
  if (!moov) return 'no moov';
  const movie = parseMovie(moov);
  if (typeof movie === 'string') return `moov: ${movie}`;
  if (!movie.tracks.some((t) => t.check.kind !== 'none')) return 'no track whose samples can be checked';
  const cps = checkpointsOf(head, movie, moovAfter);
  let structuralEnd: number;
  if (moovAfter) structuralEnd = moovAfter.at + moovAfter.buf.length;
  else if (head.mdat && head.mdat.size > 0) structuralEnd = head.mdat.at + head.mdat.size;
  else structuralEnd = movie.dataEnd;
  if (movie.dataEnd > structuralEnd || movie.dataStart < (head.moov ? head.moov.at + head.moov.buf.length : 0)) return 'the sample tables point outside the media data';
  return { head, movie, moovAfter, cps, structuralEnd };
}

/**
 * Check a file placed on known runs (a carve, a contiguous guess) against its sample tables.
 * 'needed' looks at a few checkpoints (a break anywhere moves every one after it); 'all' at
 * every one, payloads included. Null when the file has no sample table to check against.
 * `atFirst`: the very first sample fails: a break inside it, or checks that do not fit this
 * file at all (a codec variant, a stripped test file) — only a rebuild can tell which.
 */
export function checkPlaced(
  disk: Reader,
  runs: readonly ByteRun[],
  size: number,
  mode: 'needed' | 'all',
): { ok: boolean; reason?: string; validUpTo?: number; atFirst?: boolean } | null {
  const src = new CachedReader(new RunsReader(disk, runs), 64 * 1024, 8);
  const read: FileRead = (x, n) => (x >= size ? Buffer.alloc(0) : src.read(x, Math.min(n, size - x)));
  const head = readHead(read);
  if (typeof head === 'string') return null;
  let moovAfter: { at: number; buf: Buffer } | undefined;
  if (!head.moov) {
    if (!head.mdat || head.mdat.size === 0) return null;
    const at = head.mdat.at + head.mdat.size;
    const b = boxAt(read, at);
    if (!b || b.type !== 'moov' || b.size > MAX_MOOV) return null;
    moovAfter = { at, buf: Buffer.from(read(at, b.size)) };
  }
  const moov = head.moov ?? moovAfter!;
  // A break inside the moov shows in its boxes (or in its tables, below).
  const broken = moovStructureBreak((o, n) => moov.buf.subarray(o, o + n), moov.buf.length);
  if (broken >= 0) return { ok: false, reason: `the moov's boxes do not hold at byte ${moov.at + broken}`, validUpTo: moov.at + broken };
  const plan = planOf(head, moovAfter);
  if (plan === 'the sample tables point outside the media data') return { ok: false, reason: plan, validUpTo: moov.at };
  if (typeof plan === 'string') return null;
  const cps = plan.cps;
  let pick: number[];
  if (mode === 'all') pick = cps.map((_, i) => i);
  else {
    const set = new Set<number>();
    for (let i = 0; i < Math.min(4, cps.length); i++) set.add(i);
    for (let i = Math.max(0, cps.length - 8); i < cps.length; i++) set.add(i);
    for (let k = 1; k < 16; k++) set.add(Math.floor((k * cps.length) / 16));
    pick = [...set].sort((a, b) => a - b);
  }
  // The last checkpoints' payload too: a break after the last place checked shows only there.
  const tailFrom = cps.length > 0 ? cps[Math.max(0, cps.length - 8)].at : 0;
  // The first sample must check out on any whole file: if it does not, the checks do not fit
  // this file (a codec variant, a stripped test file), and say nothing.
  const firstSample = cps.findIndex((c) => c.end - c.at > 16 && !c.weak && !c.what.includes('header') && !c.what.startsWith('moov'));
  if (firstSample >= 0) {
    const r = cps[firstSample].run(read);
    if (!r.ok) return { ok: false, reason: r.reason, validUpTo: r.goodEnd, atFirst: true };
  }
  for (const i of pick) {
    const r = cps[i].run(read, mode === 'all' || cps[i].at >= tailFrom ? { from: 0, to: size } : undefined);
    if (!r.ok) return { ok: false, reason: r.reason, validUpTo: r.goodEnd };
  }
  return { ok: true };
}

// ---- the search ---------------------------------------------------------------------------

interface Built {
  runs: ByteRun[];
  size: number;
  format: string;
  ext: string;
  camera?: string;
  date?: string;
  notes: string[];
  /** Fraction of the bytes whose place the checks settle. */
  confidence: number;
  /** A break could be at more than one cluster boundary: the file is written 'unverified'. */
  ambiguous: boolean;
}

interface Partial {
  runs: ByteRun[];
  size: number;
  format: string;
  ext: string;
  notes: string[];
  validUpTo: number;
  reason: string;
}

interface Budget {
  left: number;
}

class Search {
  trials = 0;
  readonly cached: CachedReader;
  readonly direct: CountingReader;
  constructor(
    readonly pool: Pool,
    readonly options: BmffReassembleOptions,
  ) {
    this.cached = new CachedReader(pool.reader);
    this.direct = new CountingReader(pool.reader);
  }
  get work(): number {
    return this.cached.fetched + this.direct.fetched;
  }
  isBoundary(p: number): boolean {
    const r = this.pool.spanToRuns(p, 1)[0];
    if (!r) return false;
    const g = this.pool.granularity;
    return ((((r.offset - this.pool.alignBase) % g) + g) % g) === 0;
  }
}

/**
 * The file whose first byte is at pool position `pos`. `size` (a directory entry's) fixes its
 * length. Returns the rebuilt file, or the longest part the checks carry.
 */
function rebuild(s: Search, pos: number, size: number | undefined, allowance: number, stats: ReassembleStats): { built?: Built; partial?: Partial; why: string } {
  const pool = s.pool;
  const g = pool.granularity;
  const start: Frag[] = [{ file: 0, pool: pos }];
  let head = readHead(reader(s.cached, start));
  if (typeof head === 'string') return { why: head };
  const kind = { format: head.format, ext: head.ext };
  const notes: string[] = [];
  const maxGap = s.options.maxGap ?? MAX_GAP_CLUSTERS;

  // Where the index is: in the head (moov first), or after the mdat, somewhere further in the pool.
  const plans: Plan[] = [];
  let why = '';
  if (head.moov) {
    let p = planOf(head);
    const hm = head.moov;
    if (typeof p === 'string' || moovStructureBreak((o, n) => hm.buf.subarray(o, o + n), hm.buf.length) >= 0) {
      // The moov itself broke off: put it back together first, then read on from there.
      const moovEnd = head.moov.at + head.moov.buf.length;
      const fixed = repairMoov(s, pos + head.moov.at, head.moov.buf.length, (m) => m.dataStart >= moovEnd, maxGap, allowance);
      if (!fixed) return { why: typeof p === 'string' ? p : "the moov's boxes do not hold" };
      start.push({ file: head.moov.at + fixed.split, pool: fixed.resume });
      const again = readHead(reader(s.cached, start));
      if (typeof again === 'string' || !again.moov) return { why: typeof again === 'string' ? again : 'no moov' };
      head = again;
      p = planOf(head);
      if (typeof p === 'string') return { why: p };
      if (fixed.span) p.uncertain = [hm.at + fixed.span[0], hm.at + fixed.span[1]];
      notes.push(`the moov broke off at its byte ${fixed.split} and goes on ${fixed.resume - (pos + head.moov!.at + fixed.split)} bytes of the pool further`);
    }
    plans.push(p);
  } else if (head.mdat && head.mdat.size > 0) {
    const e = head.mdat.at + head.mdat.size;
    const dataStart = head.mdat.at + head.mdat.headerSize;
    const within = e % g;
    let n = 0;
    const from = pos + e - within;
    const tried = new Set<number>();
    const fits = (movie: Movie) => movie.dataStart >= dataStart && movie.dataEnd <= e && movie.dataStart - dataStart <= MOOV_SLACK && e - movie.dataEnd <= MOOV_SLACK;
    const h = head;
    const look = (m: number) => {
      if (tried.has(m) || m + 8 > pool.total) return;
      tried.add(m);
      const b = boxAt((x, k) => s.direct.read(m + x, k), 0);
      if (!b || b.type !== 'moov' || b.size > MAX_MOOV || m + b.size > pool.total) return;
      let buf: Buffer = Buffer.from(s.direct.read(m, b.size));
      let span: [number, number] | undefined;
      const movie = parseMovie(buf);
      if (typeof movie === 'string' || moovStructureBreak((o, k) => buf.subarray(o, o + k), buf.length) >= 0) {
        // A moov that broke off itself: where it goes on (the search then places it like any checkpoint).
        const fixed = repairMoov(s, m, b.size, fits, maxGap, allowance);
        if (!fixed) return;
        buf = fixed.buf;
        span = fixed.span;
      } else if (!fits(movie)) return;
      const p = planOf(h, { at: e, buf });
      if (typeof p !== 'string') {
        if (span) p.uncertain = [e + span[0], e + span[1]];
        plans.push(p);
      }
    };
    // The contiguous place first (the break may be in the moov's own cluster), then a cluster boundary further each time.
    look(pos + e);
    for (const q of pool.boundariesAfter(from - 1)) {
      if (plans.length >= MAX_MOOV_CANDIDATES || ++n > maxGap * MOOV_SEARCH_GAPS || s.work > allowance) break;
      look(q + within);
    }
    if (plans.length === 0) return { why: `mdat of ${head.mdat.size} bytes, and no moov that describes it found in the pool after it` };
  } else return { why: head.mdat ? 'mdat with size 0 and no moov before it' : head.broken ?? 'no mdat' };

  let best: Partial | undefined;
  for (const plan of plans) {
    const r = search(s, start, plan, size, allowance, stats);
    if (r.built) {
      r.built.notes.push(...notes);
      r.built.format = kind.format;
      r.built.ext = kind.ext;
      if (plan.moovAfter) r.built.notes.unshift(`moov found after the mdat, ${r.moovGap} bytes of the pool after where the mdat's size put it`);
      return { built: r.built, why: '' };
    }
    if (r.partial && (!best || r.partial.validUpTo > best.validUpTo)) best = { ...r.partial, format: kind.format, ext: kind.ext };
    why = r.why;
  }
  if (best) best.notes.push(...notes);
  return { partial: best, why };
}

/**
 * A moov of `size` bytes that starts at pool position `m` and broke off inside: its box
 * structure says about where (the first header that does not hold); it goes on at a cluster
 * boundary 1 .. maxGap clusters further, the one after which the boxes tile again, the
 * tables parse and `fits` the media data. Returns the moov and where it broke and resumes.
 */
function repairMoov(
  s: Search,
  m: number,
  size: number,
  fits: (movie: Movie) => boolean,
  maxGap: number,
  allowance: number,
): { buf: Buffer; split: number; resume: number; span?: [number, number] } | undefined {
  const pool = s.pool;
  const direct = (o: number, n: number) => s.direct.read(m + o, Math.min(n, size - o));
  let broken = moovStructureBreak(direct, size);
  if (broken < 0) broken = size;
  const splits: number[] = [];
  for (const q of pool.boundariesBefore(Math.min(m + size - 1, m + broken + 15), m)) {
    if (splits.length >= 64) break;
    splits.push(q);
  }
  /** The moov with its break at pool boundary `q` and going on at `c`, if it holds. */
  const attempt = (q: number, c: number): Buffer | undefined => {
    const split = q - m;
    const read = (o: number, n: number) => {
      if (o >= size) return Buffer.alloc(0);
      n = Math.min(n, size - o);
      if (o + n <= split) return s.direct.read(m + o, n);
      if (o >= split) return s.direct.read(c + o - split, n);
      return Buffer.concat([s.direct.read(m + o, split - o), s.direct.read(c, o + n - split)]);
    };
    if (moovStructureBreak(read, size) >= 0) return undefined;
    const buf = Buffer.from(read(0, size));
    if (buf.length < size) return undefined;
    const movie = parseMovie(buf);
    return typeof movie === 'string' || !fits(movie) ? undefined : buf;
  };
  for (const q of splits) {
    const split = q - m;
    let k = 0;
    for (const c of pool.boundariesAfter(q)) {
      if (++k > maxGap || s.work > allowance || c + size - split > pool.total) break;
      s.trials++;
      const buf = attempt(q, c);
      if (!buf) continue;
      // The same continuation with the break at another boundary: the bytes between differ,
      // and if those hold no box header and no table that tells, either fits.
      const others = splits.filter((q2) => q2 !== q && s.isBoundary(q2 + c - q) && attempt(q2, q2 + c - q));
      const all = [q, ...others];
      const span: [number, number] | undefined = others.length > 0 ? [Math.min(...all) - m, Math.max(...all) - m] : undefined;
      return { buf, split, resume: c, span };
    }
  }
  return undefined;
}

function search(
  s: Search,
  first: readonly Frag[],
  plan: Plan,
  size: number | undefined,
  allowance: number,
  stats: ReassembleStats,
): { built?: Built; partial?: Partial; why: string; moovGap?: number } {
  const pool = s.pool;
  const cps = plan.cps;
  const maxGap = s.options.maxGap ?? MAX_GAP_CLUSTERS;
  const maxTrials = s.options.maxCandidates ?? MAX_REASSEMBLY_CANDIDATES;
  const pos = first[0].pool;
  const frags: Frag[] = [...first];
  const uncertain: [number, number][] = plan.uncertain ? [plan.uncertain] : [];
  const oddities: string[] = [];
  const ignored = new Set<number>();
  let lastGood = 0;
  let i = 0;
  let why = '';
  const partialAt = (validUpTo: number, reason: string): Partial => ({
    runs: runsOf(pool, frags, validUpTo),
    size: validUpTo,
    format: 'bmff',
    ext: 'mp4',
    notes: [`partial (sample-table): ${reason}; the checks hold up to byte ${validUpTo}, in ${frags.length} fragment(s)`],
    validUpTo,
    reason,
  });
  const trialsBefore = s.trials;
  /** Weak checks that failed with no continuation to explain them; past a few, weak checks are off. */
  let weakMisses = 0;
  let lastWeak = 0;
  const unexplained: number[] = [];

  for (;;) {
    let fail: { j: number; r: Extract<Check, { ok: false }> } | undefined;
    const read = reader(s.cached, frags);
    for (; i < cps.length; i++) {
      const cp = cps[i];
      if (cp.weak && (ignored.has(i) || weakMisses > MAX_WEAK_MISSES)) continue;
      const r = cp.run(read, ignored.has(i) ? undefined : { from: lastGood, to: Infinity });
      if (r.ok) {
        if (cp.weak) lastWeak = Math.max(lastWeak, r.lastRead);
        else lastGood = Math.max(lastGood, r.lastRead);
        continue;
      }
      fail = { j: i, r };
      break;
    }
    if (!fail) break;
    if (s.work > allowance) {
      stats.unsearched++;
      return { partial: partialAt(lastGood, 'the search budget is spent'), why: 'the search budget is spent' };
    }
    if (frags.length >= MAX_BMFF_FRAGMENTS) return { partial: partialAt(lastGood, `more than ${MAX_BMFF_FRAGMENTS} fragments`), why: 'too many fragments' };
    const found = findBreak(s, cps, frags, fail.j, fail.r, lastGood, maxGap, maxTrials, allowance, weakMisses <= MAX_WEAK_MISSES);
    if (!found) {
      if (fail.r.soft || cps[fail.j].weak) {
        // Data that breaks a rule, but no continuation makes more sense: the file's own (or a
        // break after the last checkpoint that could tell, which the confidence accounts for).
        ignored.add(fail.j);
        unexplained.push(fail.r.failAt);
        if (cps[fail.j].weak) weakMisses++;
        else oddities.push(fail.r.reason);
        continue;
      }
      why = `${fail.r.reason}; no continuation found within ${maxGap} clusters`;
      stats.trials += s.trials - trialsBefore;
      return { partial: partialAt(lastGood, fail.r.reason), why };
    }
    frags.push(found.frag);
    if (found.span) uncertain.push(found.span);
    if (found.soft) oddities.push(found.soft);
  }
  stats.trials += s.trials - trialsBefore;

  // Every checkpoint passes. The file's length: the entry's, else the structure's plus any trailing boxes.
  const read = reader(s.cached, frags);
  let end = plan.structuralEnd;
  if (!plan.moovAfter && plan.head.moov && !plan.head.mdat) {
    // The mdat header was placed by a checkpoint: its size gives the end.
    const mdatAt = cps.find((c) => c.what.startsWith('mdat header'))!.at;
    const b = boxAt(read, mdatAt);
    if (b && b.size > 0) end = Math.max(end, mdatAt + b.size);
  }
  if (size !== undefined) {
    if (size < end) return { partial: partialAt(Math.min(size, lastGood), `the entry's size ${size} is less than the structure's ${end}`), why: 'size mismatch' };
    end = size;
  } else {
    for (let n = 0; n < 16; n++) {
      const b = boxAt(read, end);
      if (!b || !TRAILING.has(b.type) || b.size > MAX_BMFF_META_BYTES || read(end, b.size).length < b.size) break;
      end += b.size;
    }
  }
  const runs = runsOf(pool, frags, end);
  const held = runs.reduce((n, r) => n + r.length, 0);
  if (held < end) return { partial: partialAt(Math.min(held, lastGood), 'the pool ends before the file does'), why: 'the pool ends' };
  const walk = walkBmff(new RunsReader(pool.disk, runs), 0, size !== undefined ? { maxLength: end, expectedSize: end } : { maxLength: end });
  if (!walk.result.ok || walk.result.length !== end) {
    return { partial: partialAt(lastGood, `the rebuilt file's boxes do not hold (${walk.result.ok ? `${walk.result.length} of ${end} bytes` : walk.result.reason})`), why: 'box walk' };
  }

  // What the checks did not settle: the alternatives at a break, and a tail after the last
  // check with a cluster boundary in it (a break there would go unnoticed).
  let uncertainBytes = uncertain.reduce((n, [a, b]) => n + (b - a), 0);
  const last = frags[frags.length - 1];
  let checkedTo = Math.max(lastGood, lastWeak);
  for (const u of unexplained) if (u > lastGood) checkedTo = Math.min(checkedTo, u);
  let tail = 0;
  for (const q of pool.boundariesAfter(last.pool + (Math.max(checkedTo, last.file) - last.file))) {
    const b = last.file + (q - last.pool);
    if (b < end) tail = end - b;
    break;
  }
  uncertainBytes += tail;
  const confidence = Math.max(0, Math.floor((1 - uncertainBytes / end) * 10000) / 10000);
  // Data after the last strong check that the video cannot hold, and no continuation for it: the end is wrong, or unsure.
  const brokenTail = unexplained.filter((u) => u > lastGood);
  const video = cps.filter((c) => c.video).length;
  const notes = [
    `reassembled through the sample tables (method: sample-table): ${frags.length} fragment(s) ${describeFrags(frags, end)}; ` +
      `${cps.length} checkpoints pass (${video} video samples checked: ${describeChecks(plan.movie)})`,
  ];
  for (const [a, b] of uncertain) notes.push(`the break between bytes ${a} and ${b} could be at more than one cluster boundary: those bytes may be misplaced`);
  if (tail > 0) notes.push(`the last ${tail} bytes come after the last checkpoint: a break there would go unnoticed`);
  if (brokenTail.length > 0) notes.push(`after the last checkpoint, data the video cannot hold (byte ${Math.min(...brokenTail)}), and no continuation could be told: the end may be another file's data`);
  for (const o of oddities) notes.push(`content: ${o}`);
  if (walk.result.meta?.date) notes.push(`date in the file: ${walk.result.meta.date}`);
  const moovGap = plan.moovAfter ? frags[frags.length - 1].pool - pos - frags[frags.length - 1].file : undefined;
  return {
    built: { runs, size: end, format: '', ext: '', camera: walk.result.meta?.camera, date: walk.result.meta?.date, notes, confidence, ambiguous: uncertain.length > 0 || brokenTail.length > 0 },
    why: '',
    moovGap,
  };
}

function describeChecks(movie: Movie): string {
  const kinds = new Set(movie.tracks.map((t) => t.check.kind));
  const out: string[] = [];
  if (kinds.has('nal')) out.push('NAL units chain to each sample size');
  if (kinds.has('jpeg')) out.push('each sample a whole JPEG');
  if (kinds.has('items')) out.push('metadata items tile each sample');
  if (kinds.has('magic')) out.push('GPMF samples open with DEVC');
  return out.join('; ');
}

function describeFrags(frags: readonly Frag[], end: number): string {
  return frags
    .map((f, k) => {
      const to = k + 1 < frags.length ? frags[k + 1].file : end;
      const gap = k > 0 ? `, ${f.pool - (frags[k - 1].pool + (f.file - frags[k - 1].file))} bytes of the pool after the one before` : '';
      return `[file bytes ${f.file}–${to}${gap}]`;
    })
    .join(' ');
}

/** Source runs of the file's first `length` bytes. */
function runsOf(pool: Pool, frags: readonly Frag[], length: number): ByteRun[] {
  const out: ByteRun[] = [];
  for (let k = 0; k < frags.length; k++) {
    const from = frags[k].file;
    if (from >= length) break;
    const to = Math.min(length, k + 1 < frags.length ? frags[k + 1].file : length);
    const avail = Math.max(0, Math.min(to - from, pool.total - frags[k].pool));
    for (const r of pool.spanToRuns(frags[k].pool, avail)) {
      const prev = out[out.length - 1];
      if (prev && prev.offset + prev.length === r.offset) prev.length += r.length;
      else out.push({ ...r });
    }
    if (avail < to - from) break;
  }
  return out;
}

/**
 * Where the file broke before checkpoint `j`, and where it goes on. The break is at a cluster
 * boundary after every check that passed (`lastGood`) and before the failed read; the
 * continuation is g = 1 .. maxGap free clusters further, the one that makes the next
 * checkpoints pass.
 */
function findBreak(
  s: Search,
  cps: readonly Checkpoint[],
  frags: readonly Frag[],
  j: number,
  fail: Extract<Check, { ok: false }>,
  lastGood: number,
  maxGap: number,
  maxTrials: number,
  allowance: number,
  useWeak: boolean,
): { frag: Frag; span?: [number, number]; soft?: string } | null {
  const pool = s.pool;
  const last = frags[frags.length - 1];
  const toPool = (x: number) => last.pool + (x - last.file);
  const lo = Math.max(lastGood, last.file + 1);
  const hi = fail.failEnd;
  if (lo >= hi) return null;
  const bs: number[] = [];
  for (const q of pool.boundariesAfter(toPool(lo) - 1)) {
    const b = last.file + (q - last.pool);
    if (b >= hi || bs.length >= MAX_ALTERNATIVES) break;
    bs.push(b);
  }
  if (bs.length === 0) return null;
  // The continuation is the same whichever of these boundaries the break is at (only the
  // bytes between them differ); it is searched from one representative: the break nearest
  // the failed read, and one inside it when the read straddles a boundary.
  const zone = bs.filter((b) => b >= fail.goodEnd);
  const reps: number[] = [];
  const before = zone.filter((b) => b <= fail.failAt);
  if (before.length) reps.push(before[before.length - 1]);
  reps.push(...zone.filter((b) => b > fail.failAt));
  // In case a read of the failed checkpoint passed by chance: the break before it.
  const early = bs.filter((b) => b < fail.goodEnd);
  if (early.length) reps.push(early[early.length - 1]);
  const window: Checkpoint[] = [];
  let strong = 0;
  let weak = 0;
  for (let k = j + 1; k < cps.length && strong < WINDOW && weak < WEAK_WINDOW; k++) {
    if (cps[k].weak && !useWeak) continue;
    window.push(cps[k]);
    if (cps[k].weak) weak++;
    else strong++;
  }
  // A continuation needs evidence after the break: a strong checkpoint, several weak ones, or
  // the failed checkpoint itself when what failed was one of its checked places (not its payload).
  const failedStrong = !fail.soft && !cps[j].weak;
  if (strong === 0 && weak < 4 && !failedStrong) return null;
  const checks = strong > 0 || weak >= 4 ? window : [...window, cps[j]];
  // Checkpoints whose bytes the alternatives place differently.
  const affected: number[] = [];
  for (let k = j; k >= 0 && cps[k].end > lo; k--) if (useWeak || !cps[k].weak) affected.push(k);

  const triedD = new Set<number>();
  for (const b of reps) {
    const q = toPool(b);
    let k = 0;
    for (const c of pool.boundariesAfter(q)) {
      if (++k > maxGap || s.trials >= maxTrials || s.work > allowance) break;
      const d = c - q;
      if (triedD.has(d)) continue;
      s.trials++;
      const read = reader(s.direct, [...frags, { file: b, pool: c }]);
      if (!checks.every((cp) => cp.run(read).ok)) continue;
      triedD.add(d);
      // Every boundary of the zone with this continuation: which of them do the checks allow?
      const alts: { b: number; c: number; weakFails: number; soft?: string }[] = [];
      for (const b2 of bs) {
        const c2 = toPool(b2) + d;
        if (!s.isBoundary(c2)) continue;
        const layout = [...frags, { file: b2, pool: c2 }];
        const r2 = reader(s.direct, layout);
        if (!window.every((cp) => cp.weak || cp.run(r2).ok)) continue;
        if (!affected.every((a) => cps[a].weak || cps[a].run(r2).ok)) continue;
        const weakFails = [...affected.map((a) => cps[a]), ...window].filter((cp) => cp.weak && !cp.run(r2).ok).length;
        let soft: string | undefined;
        for (const a of affected) {
          if (cps[a].weak) continue;
          const r = cps[a].run(r2, { from: lo - 3, to: hi + 3, all: true });
          if (!r.ok) {
            soft = r.reason;
            break;
          }
        }
        alts.push({ b: b2, c: c2, weakFails, soft });
      }
      if (alts.length === 0) continue;
      // What the weak checks and the payload say narrows the alternatives, as long as one is left.
      const fewest = Math.min(...alts.map((a) => a.weakFails));
      const audible = alts.filter((a) => a.weakFails === fewest);
      const clean = audible.filter((a) => !a.soft);
      const left = clean.length > 0 ? clean : audible;
      const pick = left[left.length - 1];
      // When every alternative holds data the video cannot, none is sure.
      const span: [number, number] | undefined = clean.length === 0 ? [left[0].b, hi] : left.length > 1 ? [left[0].b, left[left.length - 1].b] : undefined;
      return { frag: { file: pick.b, pool: pick.c }, span, soft: clean.length === 0 ? pick.soft : undefined };
    }
  }
  return null;
}

// ---- the region ---------------------------------------------------------------------------

interface Candidate {
  offset: number;
  alternatives?: number[];
  size?: number;
  entry?: FsEntry;
  carved?: RecoveredFile;
  planned?: RecoveredFile;
  /** Why a placed file is wrong: what its checkpoints said. */
  failed?: string;
  /** Its first sample already failed: unless a rebuild proves the checks right, it stays as placed. */
  unproven?: boolean;
  why: string;
}

const isBmffFile = (f: RecoveredFile) => BMFF_FORMATS.has(f.format ?? '') || f.validation?.by === 'bmff';

function bmffHead(disk: Reader, offset: number): boolean {
  const h = disk.read(offset, 64);
  return h.length >= 16 && bmffCarver.detect(h) && (h.toString('latin1', 4, 8) !== 'mdat' || h.readUInt32BE(0) !== 0);
}

/**
 * Rebuild the MP4 / MOV / CR3 files of one carving region through their sample tables.
 * `files`: the region's files after JPEG reassembly; `rejected`: the starts whose walk
 * failed; `plan` / `planFiles` as for reassembleRegion.
 */
export function reassembleBmffRegion(
  disk: Reader,
  region: CarveRegion,
  files: readonly RecoveredFile[],
  rejected: CarveOutcome['rejected'],
  plan: VolumePlan | undefined,
  planFiles: readonly RecoveredFile[],
  options: BmffReassembleOptions = {},
): BmffReassembleResult {
  const stats: ReassembleStats = { candidates: 0, reassembled: 0, partial: 0, dropped: 0, trials: 0, unsearched: 0 };
  // Reading each broken movie once or twice is the price; the bound is for cards of starts that lead nowhere.
  const regionBytes = region.runs.reduce((n, r) => n + r.length, 0);
  const budget: Budget = { left: options.maxWork ?? MAX_REASSEMBLY_REGION_WORK + 2 * regionBytes };
  const mode = options.verifyCarved ?? 'needed';
  const kept: RecoveredFile[] = [];
  const candidates: Candidate[] = [];
  const g = region.granularity;

  for (const f of files) {
    if (!isBmffFile(f) || f.provenance !== 'carved' || f.runs.length === 0 || mode === 'none') {
      kept.push(f);
      continue;
    }
    if (f.status === 'damaged') {
      candidates.push({ offset: f.runs[0].offset, carved: f, why: 'partial carve' });
      continue;
    }
    const check = safeCheck(disk, f.runs, f.size, mode);
    if (!check || check.ok) kept.push(f);
    else candidates.push({ offset: f.runs[0].offset, carved: f, failed: check.reason, unproven: check.atFirst, why: `carved, but ${check.reason}` });
  }
  const seen = new Set(candidates.map((c) => c.offset));
  for (const r of rejected) {
    if (r.carver !== 'bmff' || seen.has(r.offset) || !bmffHead(disk, r.offset)) continue;
    seen.add(r.offset);
    candidates.push({ offset: r.offset, why: `walk failed (${r.reason})` });
  }
  for (const c of [...candidates]) {
    if (!c.carved) continue;
    for (const r of c.carved.runs) {
      for (let o = alignUp(r.offset + 1, g, region.alignBase); o + 16 <= r.offset + r.length; o += g) {
        if (seen.has(o) || !bmffHead(disk, o)) continue;
        seen.add(o);
        candidates.push({ offset: o, why: 'ISO BMFF start inside a carved file whose samples do not check out' });
      }
    }
  }

  // Carved JPEGs stay in the pool: a Motion JPEG frame that happens to start at a cluster
  // boundary inside a broken movie is carved as a photo, and the movie needs its clusters back.
  const frames = candidates.length > 0 ? kept.filter(isLooseJpeg) : [];
  const frameSet = new Set(frames);
  let pool = new Pool(disk, region.runs, g, region.alignBase).without(kept.filter((f) => !frameSet.has(f)).flatMap((f) => f.runs));
  const entryCandidates: Candidate[] = [];
  const skipped: SkippedEntry[] = [];
  if (plan) {
    const fs = plan.fs;
    const at = (c: number) => plan.volume.offset + fs.clusterOffset(c);
    for (const e of plan.unplaced) {
      if (e.size <= 0) continue;
      const firsts = (e.firstClusterCandidates ?? [e.firstCluster]).filter((c) => c >= 2 && c <= fs.geometry.clusterCount + 1).map(at);
      const heads = firsts.filter((o) => bmffHead(disk, o));
      if (heads.length === 0) continue;
      entryCandidates.push({ offset: heads[0], alternatives: heads.slice(1), size: e.size, entry: e, why: 'lost directory entry whose contiguous guess failed' });
    }
    // Deleted / orphaned files placed on a contiguous guess that the box walk passed: a gap
    // inside a moov-first file's mdat passes it. Their samples must check out too.
    for (const f of planFiles) {
      if (f.volume !== region.volume || f.basis !== 'contiguous-guess' || f.runs.length === 0) continue;
      if (f.provenance !== 'deleted' && f.provenance !== 'orphan') continue;
      if (f.validation?.by !== 'bmff' || !bmffHead(disk, f.runs[0].offset)) continue;
      if (f.status === 'damaged') {
        if (!options.keepPartial) continue;
        entryCandidates.push({ offset: f.runs[0].offset, size: f.size, planned: f, why: 'damaged contiguous guess' });
      } else {
        if (mode === 'none') continue;
        const check = safeCheck(disk, f.runs, f.size, mode);
        if (!check || check.ok) continue;
        entryCandidates.push({ offset: f.runs[0].offset, size: f.size, planned: f, failed: check.reason, unproven: check.atFirst, why: `contiguous guess, but ${check.reason}` });
      }
      pool = pool.with(clusterCover(f.runs, g, region.alignBase));
    }
  }
  for (const ec of entryCandidates) {
    const i = candidates.findIndex((c) => c.offset === ec.offset || ec.alternatives?.includes(c.offset));
    if (i >= 0) {
      ec.carved = candidates[i].carved;
      candidates.splice(i, 1);
    }
  }
  const ordered = [...entryCandidates, ...candidates.sort((a, b) => a.offset - b.offset)];

  const out: RecoveredFile[] = [...kept];
  const replaced: RecoveredFile[] = [];
  for (const cand of ordered) {
    stats.candidates++;
    let built: Built | undefined;
    let partial: Partial | undefined;
    let why = '';
    for (const offset of [cand.offset, ...(cand.alternatives ?? [])]) {
      const pos = pool.toStream(offset);
      if (pos < 0) continue;
      if (budget.left <= 0) {
        stats.unsearched++;
        break;
      }
      const s = new Search(pool, options);
      const allowance = Math.min(budget.left, MAX_REASSEMBLY_WORK + 3 * (cand.size ?? guessLength(disk, offset)));
      let r: ReturnType<typeof rebuild>;
      try {
        r = rebuild(s, pos, cand.size, allowance, stats);
      } catch (err) {
        // Untrusted structure that slipped past a bound: this candidate, not the recovery, fails.
        r = { why: `error: ${(err as Error).message}` };
      }
      budget.left -= s.work;
      if (r.built) {
        built = r.built;
        break;
      }
      why ||= r.why;
      if (r.partial && (!partial || r.partial.validUpTo > partial.validUpTo)) partial = r.partial;
    }
    if (built && built.ambiguous && !options.keepPartial) {
      // More than one way to put it back fits every check: a guess, and as often wrong as
      // right. Written (unverified) only when asked for with keepPartial.
      const e = cand.entry;
      const path = e ? originalPathOf(e.folder, e.name) : cand.planned ? (cand.planned.originalPath ?? originalPathOf(cand.planned.folder, cand.planned.name)) : `/${built.format}/f${built.runs[0]?.offset ?? cand.offset}.${built.ext}`;
      const provenance = e ? (e.orphan ? 'orphan' : 'deleted') : cand.planned?.provenance ?? 'carved';
      skipped.push({ volume: region.volume, provenance, originalPath: path, size: built.size, reason: `rebuilt through its sample tables, but a break could lie at more than one cluster boundary (confidence ${built.confidence.toFixed(2)}); --keep-partial writes it as unverified` });
      if (cand.planned) replaced.push(cand.planned);
      stats.dropped++;
      continue;
    }
    if (built) {
      const file = record(region.volume, cand, built);
      // Carved "photos" the movie's samples took back were its frames.
      for (const f of frames) {
        if (!out.includes(f) || !overlaps(f.runs, file.runs)) continue;
        out.splice(out.indexOf(f), 1);
        file.notes.push(`holds what was carved as ${f.name} (one of its Motion JPEG frames)`);
      }
      out.push(file);
      stats.reassembled++;
      if (cand.planned) replaced.push(cand.planned);
      if (cand.entry && plan) {
        const k = plan.unplaced.indexOf(cand.entry);
        if (k >= 0) plan.unplaced.splice(k, 1);
      }
      pool = pool.without(file.runs);
      claim(plan, file.runs);
      continue;
    }
    if (cand.unproven && (cand.carved ?? cand.planned)) {
      // Not rebuilt, and nothing showed the checks fit this file: it stays as it was placed.
      const f = (cand.carved ?? cand.planned)!;
      if (cand.carved) out.push(f);
      pool = pool.without(f.runs);
      continue;
    }
    if (cand.planned) {
      const f = cand.planned;
      if (cand.failed) {
        f.status = 'damaged';
        f.validation = { ok: false, by: 'bmff', reason: cand.failed };
        f.notes.push(`sample tables: ${cand.failed}; no continuation found (${why})`);
        if (!options.keepPartial) {
          replaced.push(f);
          skipped.push({ volume: f.volume, provenance: f.provenance, originalPath: f.originalPath ?? originalPathOf(f.folder, f.name), size: f.size, reason: `contiguous guess: ${cand.failed}, and the rest was not found (${why})` });
        }
      }
      continue;
    }
    if (options.keepPartial && partial && partial.validUpTo > 0 && (!cand.carved || partial.validUpTo >= (cand.carved.validation?.validUpTo ?? cand.carved.size) || cand.carved.status !== 'damaged')) {
      const file = record(region.volume, cand, { ...partial, confidence: 0, ambiguous: false });
      file.status = 'damaged';
      file.validation = { ok: false, by: 'bmff', reason: partial.reason, validUpTo: partial.validUpTo };
      out.push(file);
      stats.partial++;
      pool = pool.without(file.runs);
      claim(plan, file.runs);
    } else if (cand.carved) {
      // Nothing better: with keepPartial the carve is written as it was, marked damaged (its
      // media data is there for a repair tool); without, not at all.
      if (options.keepPartial) {
        const f = cand.carved;
        if (f.status !== 'damaged') {
          f.status = 'damaged';
          f.validation = { ok: false, by: 'bmff', reason: cand.failed ?? 'the sample tables do not check out' };
          f.notes.push(`sample tables: ${cand.failed}; no continuation found (${why})`);
        }
        out.push(f);
      } else stats.dropped++;
    }
  }
  return { files: out, replaced, skipped, stats };
}

function safeCheck(disk: Reader, runs: readonly ByteRun[], size: number, mode: 'needed' | 'all'): ReturnType<typeof checkPlaced> {
  try {
    return checkPlaced(disk, runs, size, mode);
  } catch {
    return null;
  }
}

/** A rough length for the search budget: the mdat's size in the head, when it is there. */
function guessLength(disk: Reader, offset: number): number {
  const read: FileRead = (x, n) => disk.read(offset + x, Math.min(n, MAX_MOOV));
  let head: Head | string;
  try {
    head = readHead(read);
  } catch {
    return 0;
  }
  if (typeof head === 'string') return 0;
  return head.mdat ? head.mdat.at + head.mdat.size : 0;
}

function record(volume: number, cand: Candidate, b: Built | (Partial & { confidence: number; ambiguous: boolean })): RecoveredFile {
  const e = cand.entry;
  const offset = b.runs[0]?.offset ?? cand.offset;
  const notes = [...(e?.notes ?? []), ...b.notes];
  if (cand.why) notes.push(`candidate: ${cand.why}`);
  const date = 'date' in b ? b.date : undefined;
  const file: RecoveredFile = {
    volume,
    provenance: e ? (e.orphan ? 'orphan' : 'deleted') : cand.planned?.provenance ?? 'carved',
    name: e?.name ?? cand.planned?.name ?? `f${offset}.${b.ext}`,
    folder: e?.folder ?? cand.planned?.folder ?? [b.format],
    runs: b.runs,
    size: b.size,
    format: b.format,
    camera: 'camera' in b ? b.camera : undefined,
    mtime: e?.mtime ?? cand.planned?.mtime ?? (date ? parseExifDate(date) : undefined),
    ctime: e?.ctime ?? cand.planned?.ctime,
    atime: e?.atime ?? cand.planned?.atime,
    basis: 'reassembled',
    status: b.ambiguous ? 'unverified' : 'ok',
    validation: { ok: true, by: 'bmff', confidence: b.confidence },
    notes,
  };
  if (e || cand.planned) file.originalPath = originalPathOf(file.folder, file.name);
  const held = b.runs.reduce((n, r) => n + r.length, 0);
  if (held !== b.size) {
    file.size = held;
    file.status = 'damaged';
    file.validation = { ok: false, by: 'bmff', reason: `${b.size} bytes expected, ${held} placed`, validUpTo: held };
  }
  return file;
}

/** A JPEG carving found on its own (not from metadata, not rebuilt): it may be a frame of a movie. */
function isLooseJpeg(f: RecoveredFile): boolean {
  return f.provenance === 'carved' && f.basis === 'structure' && (f.format === 'jpeg' || f.format === 'mpo');
}

function overlaps(a: readonly ByteRun[], b: readonly ByteRun[]): boolean {
  return a.some((x) => b.some((y) => x.offset < y.offset + y.length && y.offset < x.offset + x.length));
}

function alignUp(o: number, g: number, base: number): number {
  return base + Math.ceil((o - base) / g) * g;
}

function clusterCover(runs: readonly ByteRun[], g: number, base: number): ByteRun[] {
  return runs
    .filter((r) => r.length > 0)
    .map((r) => {
      const from = base + Math.floor((r.offset - base) / g) * g;
      const to = base + Math.ceil((r.offset + r.length - base) / g) * g;
      return { offset: from, length: to - from };
    });
}

function claim(plan: VolumePlan | undefined, runs: readonly ByteRun[]): void {
  if (!plan) return;
  const geo = plan.fs.geometry;
  for (const r of runs) {
    const rel = r.offset - plan.volume.offset - geo.dataOffset;
    if (rel < 0) continue;
    const first = Math.floor(rel / geo.clusterSize) + 2;
    const last = Math.floor((rel + r.length - 1) / geo.clusterSize) + 2;
    for (let c = first; c <= last; c++) plan.owned.claim(c);
  }
}
