import type { Reader, ByteRun } from './reader.js';
import { RunsReader } from './reader.js';
import type { CarveOutcome, CarveRegion } from './carve.js';
import { parseExifDate } from './carve.js';
import type { VolumePlan } from './plan.js';
import type { FsEntry } from '../parsers/types.js';
import { originalPathOf, type RecoveredFile } from './record.js';
import { jpegCarver } from '../carvers/jpeg.js';
import { JpegValidator, validateJpeg, validateJpegFile, type JpegFileValidation, type JpegSnapshot, type JpegValidation } from '../carvers/jpeg-validate.js';
import { MAX_GAP_CLUSTERS, MAX_JPEG_SIZE, MAX_REASSEMBLY_CANDIDATES, MAX_REASSEMBLY_WORK, MAX_SPLIT_CANDIDATES } from '../carvers/limits.js';

/**
 * Bifragment gap carving (Garfinkel 2007) for JPEG, after the carving pass.
 *
 * Candidates are JPEG starts whose walk failed, carved JPEGs whose entropy-coded data does
 * not decode (the walker only follows markers, so a gap of text or foreign scan data can
 * pass it), and lost directory entries (deleted / orphaned) whose contiguous guess failed
 * and whose first cluster starts with FF D8. For each, the entropy validator says where the
 * first fragment stops decoding; the fragment ends at one of the cluster boundaries just
 * before that point. The second fragment starts at a cluster boundary g >= 1 clusters of
 * the remaining pool further on (clusters owned by other files are not counted: the pool
 * skips them). With a size from a directory entry its length is fixed, without one it runs
 * until the decoder reaches the EOI. A candidate is accepted when the whole file validates:
 * every MCU decodes, the EOI comes right after the last one, and the file's structure (MPF
 * images, the entry's size) holds. Accepted files leave the pool (and are claimed in the
 * ownership map), so nothing else is built from their clusters.
 */

export interface ReassembleOptions {
  /** Write what could only be partly rebuilt, marked damaged, with how far it decodes. */
  keepPartial?: boolean;
  /** Pool clusters tried between the fragments (gap 1 .. maxGap). */
  maxGap?: number;
  /** (split, gap) pairs tried per file. */
  maxCandidates?: number;
  /** Check carved JPEGs' entropy-coded data and rebuild the ones that break (default on). */
  verifyCarved?: boolean;
}

export interface ReassembleResult {
  /** The region's carved files after reassembly: kept, rebuilt, or added. */
  files: RecoveredFile[];
  /** Files of the plan (damaged guesses kept by keepPartial) that a reassembly replaces. */
  replaced: RecoveredFile[];
  stats: ReassembleStats;
}

export interface ReassembleStats {
  /** Starts looked at (failed walks, carved files whose data breaks, lost entries). */
  candidates: number;
  reassembled: number;
  partial: number;
  /** Carved JPEGs whose entropy-coded data broke and could not be rebuilt (not written without keepPartial). */
  dropped: number;
  /** (split, gap) pairs validated. */
  trials: number;
}

interface Candidate {
  /** Absolute offset of the first byte. */
  offset: number;
  /** Other possible first bytes (FAT32 entries whose high word was zeroed). */
  alternatives?: number[];
  size?: number;
  entry?: FsEntry;
  /** A carved file (or partial) this candidate replaces when it is rebuilt. */
  carved?: RecoveredFile;
  /** A damaged file of the plan (keepPartial) this replaces. */
  planned?: RecoveredFile;
  why: string;
}

/** The part of a region no file owns, as one stream (like the carving pool, minus what carving took). */
export class Pool {
  readonly starts: number[] = [];
  readonly total: number;
  readonly reader: RunsReader;
  constructor(
    readonly disk: Reader,
    readonly runs: ByteRun[],
    readonly granularity: number,
    readonly alignBase: number,
  ) {
    let t = 0;
    for (const r of runs) {
      this.starts.push(t);
      t += r.length;
    }
    this.total = t;
    this.reader = new RunsReader(disk, runs);
  }

  /** Index of the run holding stream position `pos`. */
  private runAt(pos: number): number {
    let lo = 0;
    let hi = this.starts.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.starts[mid] <= pos) lo = mid + 1;
      else hi = mid;
    }
    return lo - 1;
  }

  /** Stream position of an absolute offset, or -1 when the pool does not hold it. */
  toStream(offset: number): number {
    let lo = 0;
    let hi = this.runs.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.runs[mid].offset <= offset) lo = mid + 1;
      else hi = mid;
    }
    const i = lo - 1;
    if (i < 0 || offset >= this.runs[i].offset + this.runs[i].length) return -1;
    return this.starts[i] + offset - this.runs[i].offset;
  }

  private skew(i: number): number {
    const g = this.granularity;
    return (((this.alignBase - this.runs[i].offset) % g) + g) % g;
  }

  /** Cluster boundaries (stream positions) after `pos`, ascending. */
  *boundariesAfter(pos: number): Generator<number> {
    const g = this.granularity;
    let i = Math.max(0, this.runAt(pos));
    for (; i < this.runs.length; i++) {
      const first = this.starts[i] + this.skew(i);
      const end = this.starts[i] + this.runs[i].length;
      let q = first;
      if (q <= pos) q = first + (Math.floor((pos - first) / g) + 1) * g;
      for (; q < end; q += g) yield q;
    }
  }

  /** Cluster boundaries at or before `pos` and after `floor`, descending. */
  *boundariesBefore(pos: number, floor: number): Generator<number> {
    const g = this.granularity;
    for (let i = this.runAt(pos); i >= 0; i--) {
      const first = this.starts[i] + this.skew(i);
      const end = this.starts[i] + this.runs[i].length;
      let q = Math.min(pos, end - 1);
      if (q < first) continue;
      q = first + Math.floor((q - first) / g) * g;
      for (; q >= first; q -= g) {
        if (q <= floor) return;
        yield q;
      }
    }
  }

  /** Runs on the source behind a span of the stream. */
  spanToRuns(from: number, length: number): ByteRun[] {
    const out: ByteRun[] = [];
    let i = this.runAt(from);
    let pos = from;
    const end = from + length;
    for (; pos < end && i < this.runs.length; i++) {
      const within = pos - this.starts[i];
      const take = Math.min(this.runs[i].length - within, end - pos);
      const offset = this.runs[i].offset + within;
      const last = out[out.length - 1];
      if (last && last.offset + last.length === offset) last.length += take;
      else out.push({ offset, length: take });
      pos += take;
    }
    return out;
  }

  /** This pool without the clusters that hold any byte of `taken`. */
  without(taken: readonly ByteRun[]): Pool {
    return new Pool(this.disk, subtractRuns(this.runs, clusterCover(taken, this.granularity, this.alignBase)), this.granularity, this.alignBase);
  }

  /** This pool with `added` (source runs) in it too. */
  with(added: readonly ByteRun[]): Pool {
    return new Pool(this.disk, unionRuns(this.runs, added), this.granularity, this.alignBase);
  }
}

/** Runs widened to whole clusters. */
function clusterCover(runs: readonly ByteRun[], g: number, base: number): ByteRun[] {
  return runs
    .filter((r) => r.length > 0)
    .map((r) => {
      const from = base + Math.floor((r.offset - base) / g) * g;
      const to = base + Math.ceil((r.offset + r.length - base) / g) * g;
      return { offset: from, length: to - from };
    });
}

function sortedRuns(runs: readonly ByteRun[]): ByteRun[] {
  const out: ByteRun[] = [];
  for (const r of [...runs].sort((a, b) => a.offset - b.offset)) {
    const last = out[out.length - 1];
    if (last && r.offset <= last.offset + last.length) last.length = Math.max(last.length, r.offset + r.length - last.offset);
    else out.push({ ...r });
  }
  return out;
}

/** `runs` (ascending, disjoint) minus `cut`. */
export function subtractRuns(runs: readonly ByteRun[], cut: readonly ByteRun[]): ByteRun[] {
  const cuts = sortedRuns(cut);
  const out: ByteRun[] = [];
  let j = 0;
  for (const r of runs) {
    let from = r.offset;
    const end = r.offset + r.length;
    while (j < cuts.length && cuts[j].offset + cuts[j].length <= from) j++;
    for (let k = j; k < cuts.length && cuts[k].offset < end; k++) {
      if (cuts[k].offset > from) out.push({ offset: from, length: cuts[k].offset - from });
      from = Math.max(from, cuts[k].offset + cuts[k].length);
    }
    if (from < end) out.push({ offset: from, length: end - from });
  }
  return out;
}

function unionRuns(a: readonly ByteRun[], b: readonly ByteRun[]): ByteRun[] {
  return sortedRuns([...a, ...b]);
}

const isJpegHead = (h: Buffer) => h.length >= 3 && h[0] === 0xff && h[1] === 0xd8 && h[2] === 0xff;

/**
 * Rebuild the JPEGs of one carving region that broke. `outcome` is what carving found in
 * the region; `plan` the volume's plan when it has a file system (its lost entries are
 * candidates, its ownership map takes the rebuilt files' clusters); `planFiles` the files
 * already recovered from metadata (damaged JPEG guesses among them are candidates under
 * keepPartial).
 */
export function reassembleRegion(
  disk: Reader,
  region: CarveRegion,
  outcome: CarveOutcome,
  plan: VolumePlan | undefined,
  planFiles: readonly RecoveredFile[],
  options: ReassembleOptions = {},
): ReassembleResult {
  const stats: ReassembleStats = { candidates: 0, reassembled: 0, partial: 0, dropped: 0, trials: 0 };
  const kept: RecoveredFile[] = [];
  const candidates: Candidate[] = [];

  // Carved JPEGs: keep those whose entropy-coded data decodes; the rest are candidates.
  for (const f of outcome.files) {
    const isJpeg = f.format === 'jpeg' || f.format === 'mpo';
    if (!isJpeg || options.verifyCarved === false) {
      kept.push(f);
      continue;
    }
    if (f.status === 'damaged') {
      candidates.push({ offset: f.runs[0].offset, carved: f, why: 'partial carve' });
      continue;
    }
    const check = validateJpegFile(new RunsReader(disk, f.runs), 0, f.size);
    if (check.ok) kept.push(f);
    else candidates.push({ offset: f.runs[0].offset, carved: f, why: `carved, but ${describe(check)}` });
  }
  // Starts whose walk failed.
  const seen = new Set(candidates.map((c) => c.offset));
  for (const r of outcome.rejected) {
    if (r.carver !== 'jpeg' || seen.has(r.offset)) continue;
    seen.add(r.offset);
    candidates.push({ offset: r.offset, why: `walk failed (${r.reason})` });
  }

  let pool = new Pool(disk, region.runs, region.granularity, region.alignBase).without(kept.flatMap((f) => f.runs));

  // Lost entries with a size: they go first, and take over a carved candidate at the same start.
  const entryCandidates: Candidate[] = [];
  if (plan) {
    const fs = plan.fs;
    const at = (c: number) => plan.volume.offset + fs.clusterOffset(c);
    for (const e of plan.unplaced) {
      if (e.size <= 0) continue;
      const firsts = (e.firstClusterCandidates ?? [e.firstCluster]).filter((c) => c >= 2 && c <= fs.geometry.clusterCount + 1).map(at);
      const heads = firsts.filter((o) => isJpegHead(disk.read(o, 3)));
      if (heads.length === 0) continue;
      entryCandidates.push({ offset: heads[0], alternatives: heads.slice(1), size: e.size, entry: e, why: 'lost directory entry whose contiguous guess failed' });
    }
    if (options.keepPartial) {
      for (const f of planFiles) {
        if (f.volume !== region.volume || f.status !== 'damaged' || f.basis !== 'contiguous-guess') continue;
        if (f.provenance !== 'deleted' && f.provenance !== 'orphan') continue;
        if (f.validation?.by !== 'jpeg' || !isJpegHead(disk.read(f.runs[0]?.offset ?? 0, 3))) continue;
        const e: FsEntry | undefined = plan.unplaced.find((x) => x.name === f.name && x.folder.join('/') === f.folder.join('/'));
        entryCandidates.push({ offset: f.runs[0].offset, size: f.size, planned: f, entry: e, why: 'damaged contiguous guess' });
        pool = pool.with(f.runs);
      }
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

  const replaced: RecoveredFile[] = [];
  const out: RecoveredFile[] = [...kept];
  for (const cand of ordered) {
    stats.candidates++;
    let built: Built | null = null;
    let partial: Partial | null = null;
    for (const offset of [cand.offset, ...(cand.alternatives ?? [])]) {
      const pos = pool.toStream(offset);
      if (pos < 0) continue; // taken by a file rebuilt before
      const r = rebuild(pool, pos, cand.size, options, stats);
      if (r.built) {
        built = r.built;
        break;
      }
      if (r.partial && (!partial || r.partial.validUpTo > partial.validUpTo)) partial = r.partial;
    }
    if (built) {
      const file = record(region.volume, cand, built);
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
    if (cand.planned) continue; // stays as the plan wrote it (damaged)
    if (options.keepPartial && partial && partial.validUpTo > 0) {
      const file = record(region.volume, cand, partial);
      file.status = 'damaged';
      file.validation = { ok: false, by: 'jpeg', reason: partial.reason, validUpTo: partial.validUpTo };
      out.push(file);
      stats.partial++;
      pool = pool.without(file.runs);
      claim(plan, file.runs);
    } else if (cand.carved) stats.dropped++;
  }
  return { files: out, replaced, stats };
}

interface Built {
  runs: ByteRun[];
  size: number;
  format: string;
  ext: string;
  camera?: string;
  date?: string;
  notes: string[];
}

interface Partial extends Built {
  validUpTo: number;
  reason: string;
}

function describe(v: JpegValidation): string {
  return `its entropy-coded data breaks at byte ${v.validUpTo} (${v.reason})`;
}

/** A reader over spans of the pool stream, in file order. */
function spans(pool: Pool, parts: { from: number; length: number }[]): RunsReader {
  return new RunsReader(
    pool.reader,
    parts.filter((p) => p.length > 0).map((p) => ({ offset: p.from, length: p.length })),
  );
}

/**
 * The file starting at stream position `pos`: whole in the pool stream already, or as two
 * fragments with a gap between them; or the longest part that decodes.
 */
function rebuild(pool: Pool, pos: number, size: number | undefined, options: ReassembleOptions, stats: ReassembleStats): { built?: Built; partial?: Partial } {
  const limit = Math.min(size ?? MAX_JPEG_SIZE, MAX_JPEG_SIZE, pool.total - pos);
  const whole = spans(pool, [{ from: pos, length: limit }]);
  const first = validateJpegFile(whole, 0, size !== undefined ? Math.min(size, limit) : undefined);
  if (first.ok) {
    const done = finish(whole, size, limit);
    if (done) {
      const runs = pool.spanToRuns(pos, done.length);
      return { built: { ...done, runs, notes: runs.length > 1 ? ['reassembled by skipping clusters owned by other files (exclusion)'] : [] } };
    }
  }
  const partialOf = (v: JpegValidation, parts: { from: number; length: number }[], note: string): Partial => {
    const runs: ByteRun[] = [];
    let left = v.validUpTo;
    for (const p of parts) {
      if (left <= 0) break;
      const take = Math.min(p.length, left);
      runs.push(...pool.spanToRuns(p.from, take));
      left -= take;
    }
    return { runs, size: v.validUpTo, format: 'jpeg', ext: 'jpg', notes: [`partial: ${note}; decodes to byte ${v.validUpTo} (${v.reason})`], validUpTo: v.validUpTo, reason: v.reason ?? 'does not decode' };
  };
  let best = partialOf(first, [{ from: pos, length: limit }], 'the entropy-coded data breaks');
  if (first.ok || first.validUpTo < 2) return { partial: best };
  // The primary image decodes whole and an MPF image after it breaks: only those are retried.
  const primaryEnd = first.images ? primaryLength(first) : Infinity;

  // ---- where the first fragment may end ------------------------------------------------
  const g = pool.granularity;
  const failedAt = first.failedAt ?? first.validUpTo;
  // With restart markers the damage is after the last one that came in sequence.
  const floor = first.syncedTo !== undefined && first.syncedTo > 0 ? Math.max(0, first.syncedTo - g) : 0;
  const splits: number[] = [];
  for (const q of pool.boundariesBefore(pos + Math.min(failedAt + 2, limit), pos + floor)) {
    if (splits.length >= MAX_SPLIT_CANDIDATES) break;
    splits.push(q - pos);
  }
  if (splits.length === 0) return { partial: best };

  // One pass over the first fragment, pausing before each split (ascending), keeps the
  // decoder's state there: each trial then decodes only from the split on.
  const snaps = new Map<number, JpegSnapshot | null>();
  {
    const v = new JpegValidator(whole, 0, { maxLength: limit });
    for (const b of [...splits].sort((x, y) => x - y)) {
      const r = v.runUntil(b);
      if ('result' in r) break;
      snaps.set(b, r.snapshot);
    }
  }

  const maxGap = options.maxGap ?? MAX_GAP_CLUSTERS;
  const maxTrials = options.maxCandidates ?? MAX_REASSEMBLY_CANDIDATES;
  let trials = 0;
  let work = 0;
  for (const b of splits) {
    const snap = snaps.get(b) ?? null;
    let gap = 0;
    for (const c of pool.boundariesAfter(pos + b)) {
      gap++;
      if (gap > maxGap || trials >= maxTrials || work >= MAX_REASSEMBLY_WORK) break;
      const head = pool.reader.read(c, 64);
      // A continuation of entropy-coded data neither starts a JPEG nor is blank.
      if (isJpegHead(head) || head.every((x) => x === 0) || head.every((x) => x === 0xff)) continue;
      const rest = size !== undefined ? size - b : Math.min(MAX_JPEG_SIZE - b, pool.total - c);
      if (rest <= 0 || c + rest > pool.total) break;
      const parts = [
        { from: pos, length: b },
        { from: c, length: rest },
      ];
      const joined = spans(pool, parts);
      let r: JpegValidation;
      trials++;
      stats.trials++;
      if (b >= primaryEnd) {
        r = validateMpfImages(joined, first, b, b + rest);
        work += 4096;
      } else {
        const v = new JpegValidator(joined, 0, { maxLength: b + rest, chunk: 4096 });
        if (snap) v.restore(snap, joined, { maxLength: b + rest, chunk: 4096 });
        try {
          r = v.run();
        } catch (err) {
          r = { ok: false, validUpTo: 0, reason: (err as Error).message, mcus: 0, expectedMcus: 0 };
        }
        work += v.bytesRead;
      }
      if (!r.ok) {
        if (r.validUpTo > best.validUpTo + g) best = partialOf(r, parts, `first fragment ${b} bytes, then ${gap} cluster(s) further`);
        continue;
      }
      const mpf = r.mpf ? validateJpegFile(joined, 0, b + rest) : r;
      if (!mpf.ok) continue;
      const done = finish(joined, size, b + rest);
      if (!done || done.length <= b) continue;
      const runs = [...pool.spanToRuns(pos, b), ...pool.spanToRuns(c, done.length - b)];
      const gapBytes = c - (pos + b);
      return {
        built: {
          ...done,
          runs,
          notes: [
            `reassembled (bifragment gap carving): first fragment ${b} bytes, then a gap of ${gap} free cluster(s) (${gapBytes} bytes of the pool), second fragment ${done.length - b} bytes; every MCU decodes and the EOI follows the last one`,
          ],
        },
      };
    }
  }
  return { partial: best };
}

/** Where the primary image of a file whose MPF images were validated ends. */
function primaryLength(v: JpegFileValidation): number {
  const firstImage = Math.min(...(v.images ?? []).map((i) => i.offset));
  return Number.isFinite(firstImage) ? firstImage : Infinity;
}

/** The MPF images of `first` that reach past `from`, on `reader` (the primary is known good). */
function validateMpfImages(reader: Reader, first: JpegFileValidation, from: number, length: number): JpegValidation {
  for (const img of first.images ?? []) {
    if (img.offset + img.size <= from) continue;
    if (img.offset + img.size > length) return { ...first, ok: false, validUpTo: img.offset, reason: 'MPF image outside the file' };
    const r = validateJpeg(reader, img.offset, { maxLength: img.size, chunk: 4096 });
    if (!r.ok) return { ...r, validUpTo: img.offset + r.validUpTo, failedAt: img.offset + (r.failedAt ?? r.validUpTo) };
  }
  return { ...first, ok: true, reason: undefined };
}

/** The walker's view of a file whose primary image validated: its full length and metadata. */
function finish(reader: Reader, size: number | undefined, limit: number): Omit<Built, 'runs' | 'notes'> & { length: number } | null {
  const w = jpegCarver.walk(reader, 0, size !== undefined ? { maxLength: size, expectedSize: size } : { maxLength: limit });
  if (!w.ok) return null;
  if (size !== undefined && w.length !== size) return null;
  return { length: w.length, size: w.length, format: w.format, ext: w.ext, camera: w.meta?.camera, date: w.meta?.date };
}

function record(volume: number, cand: Candidate, b: Built): RecoveredFile {
  const e = cand.entry;
  const offset = b.runs[0]?.offset ?? cand.offset;
  const notes = [...(e?.notes ?? []), ...b.notes];
  if (cand.why) notes.push(`candidate: ${cand.why}`);
  if (b.date) notes.push(`date in the file: ${b.date}`);
  const file: RecoveredFile = {
    volume,
    provenance: e ? (e.orphan ? 'orphan' : 'deleted') : cand.planned?.provenance ?? 'carved',
    name: e?.name ?? cand.planned?.name ?? `f${offset}.${b.ext}`,
    folder: e?.folder ?? cand.planned?.folder ?? [b.format],
    runs: b.runs,
    size: b.size,
    format: b.format,
    camera: b.camera,
    mtime: e?.mtime ?? cand.planned?.mtime ?? (b.date ? parseExifDate(b.date) : undefined),
    ctime: e?.ctime ?? cand.planned?.ctime,
    atime: e?.atime ?? cand.planned?.atime,
    basis: 'reassembled',
    status: 'ok',
    validation: { ok: true, by: 'jpeg' },
    notes,
  };
  if (e || cand.planned) file.originalPath = originalPathOf(file.folder, file.name);
  return file;
}

/** Mark the clusters of a rebuilt file owned in the volume's map. */
function claim(plan: VolumePlan | undefined, runs: readonly ByteRun[]): void {
  if (!plan) return;
  const g = plan.fs.geometry;
  for (const r of runs) {
    const rel = r.offset - plan.volume.offset - g.dataOffset;
    if (rel < 0) continue;
    const first = Math.floor(rel / g.clusterSize) + 2;
    const last = Math.floor((rel + r.length - 1) / g.clusterSize) + 2;
    for (let c = first; c <= last; c++) plan.owned.claim(c);
  }
}
