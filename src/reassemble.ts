import type { Reader, ByteRun } from './reader.js';
import { RunsReader } from './reader.js';
import type { CarveOutcome, CarveRegion } from './carve.js';
import { parseExifDate } from './carve.js';
import type { VolumePlan } from './plan.js';
import type { FsEntry } from '../parsers/types.js';
import { originalPathOf, type RecoveredFile, type SkippedEntry } from './record.js';
import { jpegCarver } from '../carvers/jpeg.js';
import { JpegValidator, validateJpeg, validateJpegFile, type JpegFileValidation, type JpegSnapshot, type JpegValidation } from '../carvers/jpeg-validate.js';
import { MAX_GAP_CLUSTERS, MAX_JPEG_SIZE, MAX_REASSEMBLY_CANDIDATES, MAX_REASSEMBLY_REGION_WORK, MAX_REASSEMBLY_WORK, MAX_SPLIT_CANDIDATES } from '../carvers/limits.js';

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
  /**
   * Which carved JPEGs get their entropy-coded data decoded (and rebuilt when it breaks):
   * 'needed' (default) those the walk found suspect or that span several runs; 'all' every
   * one (about 65 MB/s); 'none'.
   */
  verifyCarved?: 'needed' | 'all' | 'none';
  /** Bytes the validator may decode searching this region, over all files (MAX_REASSEMBLY_REGION_WORK). */
  maxWork?: number;
}

export interface ReassembleResult {
  /** The region's carved files after reassembly: kept, rebuilt, or added. */
  files: RecoveredFile[];
  /** Files of the plan that a reassembly replaces, or that turned out broken (not written without keepPartial). */
  replaced: RecoveredFile[];
  /** Entries not written after all, and why. */
  skipped: SkippedEntry[];
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
  /** Candidates not searched because the region's decoding budget was spent. */
  unsearched: number;
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
  /** A file of the plan (a damaged guess, or one whose data breaks) this replaces. */
  planned?: RecoveredFile;
  /** Why a guess the walker passed is broken. */
  suspect?: JpegValidation;
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
  const stats: ReassembleStats = { candidates: 0, reassembled: 0, partial: 0, dropped: 0, trials: 0, unsearched: 0 };
  const budget = { left: options.maxWork ?? MAX_REASSEMBLY_REGION_WORK };
  const kept: RecoveredFile[] = [];
  const candidates: Candidate[] = [];

  // Carved JPEGs: keep those whose entropy-coded data decodes; the rest are candidates.
  for (const f of outcome.files) {
    const isJpeg = f.format === 'jpeg' || f.format === 'mpo';
    const mode = options.verifyCarved ?? 'needed';
    const worth = mode === 'all' || (mode === 'needed' && (f.suspect !== undefined || f.runs.length > 1 || f.status === 'damaged'));
    if (!isJpeg || !worth) {
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

  // Clusters of carved JPEGs that broke may hold the starts of other files (carving resumed after them).
  for (const c of [...candidates]) {
    if (!c.carved) continue;
    for (const r of c.carved.runs) {
      for (let o = alignUp(r.offset + 1, region.granularity, region.alignBase); o + 3 <= r.offset + r.length; o += region.granularity) {
        if (seen.has(o) || !isJpegHead(disk.read(o, 3))) continue;
        seen.add(o);
        candidates.push({ offset: o, why: 'JPEG start inside a carved file whose data broke' });
      }
    }
  }

  let pool = new Pool(disk, region.runs, region.granularity, region.alignBase).without(kept.flatMap((f) => f.runs));

  // Lost entries with a size go first, and take over a carved candidate at the same start.
  const entryCandidates: Candidate[] = [];
  const skipped: SkippedEntry[] = [];
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
    // JPEGs placed on a contiguous guess: the walker follows markers only, so a gap of text
    // or of another JPEG's scan data inside the guess can pass it. Their entropy-coded data
    // must decode too; those that break are rebuilt from their clusters and the pool.
    for (const f of planFiles) {
      if (f.volume !== region.volume || f.basis !== 'contiguous-guess' || f.runs.length === 0) continue;
      if (f.provenance !== 'deleted' && f.provenance !== 'orphan') continue;
      if (f.validation?.by !== 'jpeg') continue;
      // Only those worth a look are read (a camera card holds thousands of guesses that are fine).
      const mode = options.verifyCarved ?? 'needed';
      const worth = f.status === 'damaged' ? options.keepPartial : mode === 'all' || (mode === 'needed' && f.suspect !== undefined);
      if (!worth || !isJpegHead(disk.read(f.runs[0].offset, 3))) continue;
      if (f.status === 'damaged') {
        entryCandidates.push({ offset: f.runs[0].offset, size: f.size, planned: f, why: 'damaged contiguous guess' });
      } else {
        // A guess whose walk reached the entry's size with nothing odd on the way is right:
        // foreign clusters inside it would have broken the markers or moved the EOI.
        const check = validateJpegFile(new RunsReader(disk, f.runs), 0, f.size);
        if (check.ok) continue;
        entryCandidates.push({ offset: f.runs[0].offset, size: f.size, planned: f, suspect: check, why: `contiguous guess, but ${describe(check)}` });
      }
      pool = pool.with(clusterCover(f.runs, region.granularity, region.alignBase));
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
  const keptPlanned: RecoveredFile[] = [];
  const out: RecoveredFile[] = [...kept];
  for (const cand of ordered) {
    stats.candidates++;
    let built: Built | null = null;
    let partial = null as Partial | null;
    const attempt = (from: Pool) => {
      for (const offset of [cand.offset, ...(cand.alternatives ?? [])]) {
        const pos = from.toStream(offset);
        if (pos < 0) continue; // taken by a file rebuilt before
        const r = rebuild(from, pos, cand.size, options, stats, budget);
        if (r.built) return r.built;
        if (r.partial && (!partial || r.partial.validUpTo > partial.validUpTo)) partial = r.partial;
      }
      return null;
    };
    built = attempt(pool);
    // A lost entry's file may have been cut where its next fragment starts like a JPEG of
    // its own: an MPF image (Sony), or bytes FF D8 FF DB that happen to sit on a cluster
    // boundary (Kodak's FlashPix data ends so). Carving kept that piece as a file. With the
    // entry's size to confirm, such nameless carved files after it are lent to the rebuild;
    // those it takes in were pieces of it, not files.
    if (!built && cand.entry && cand.size !== undefined) {
      const reach = cand.offset + cand.size + (options.maxGap ?? MAX_GAP_CLUSTERS) * region.granularity;
      const lent = out.filter((f) => f.provenance === 'carved' && !f.originalPath && f.runs[0].offset >= cand.offset && f.runs[0].offset < reach);
      if (lent.length) {
        const wider = pool.with(lent.flatMap((f) => clusterCover(f.runs, region.granularity, region.alignBase)));
        built = attempt(wider);
        if (built) {
          const pieces = lent.filter((f) => firstOverlap(f.runs, built!.runs) >= 0);
          for (const f of pieces) out.splice(out.indexOf(f), 1);
          built.notes.push(`took back ${pieces.length} cluster run(s) carving had kept as separate JPEG(s): pieces of this file`);
          pool = wider.without(lent.filter((f) => !pieces.includes(f)).flatMap((f) => f.runs));
        }
      }
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
    if (cand.planned) {
      // A guess the walker passed but whose data breaks: damaged, and like any failed guess
      // written only with keepPartial.
      const f = cand.planned;
      if (cand.suspect) {
        f.status = 'damaged';
        f.validation = { ok: false, by: 'jpeg', reason: cand.suspect.reason, validUpTo: cand.suspect.validUpTo };
        f.notes.push(`content check: ${describe(cand.suspect)}; no second fragment found`);
        if (!options.keepPartial) {
          replaced.push(f);
          skipped.push({ volume: f.volume, provenance: f.provenance, originalPath: f.originalPath ?? originalPathOf(f.folder, f.name), size: f.size, reason: `contiguous guess: ${describe(cand.suspect)}, and no second fragment was found` });
        }
      }
      if (!replaced.includes(f)) keptPlanned.push(f);
      continue;
    }
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
  // A damaged guess left as the plan wrote it gives up the clusters a rebuilt file took.
  const keptSet = new Set(kept);
  const taken = out.filter((f) => !keptSet.has(f)).flatMap((f) => f.runs);
  for (const f of keptPlanned) {
    const cut = firstOverlap(f.runs, taken);
    if (cut < 0) continue;
    if (cut === 0) {
      replaced.push(f);
      continue;
    }
    f.runs = cutRuns(f.runs, cut);
    f.size = cut;
    f.notes.push(`cut to ${cut} bytes: the clusters after belong to a file rebuilt from fragments`);
  }
  return { files: out, replaced, skipped, stats };
}

/** File offset of the first byte of `runs` that lies in `taken`, or -1. */
function firstOverlap(runs: readonly ByteRun[], taken: readonly ByteRun[]): number {
  let at = 0;
  let best = -1;
  for (const r of runs) {
    for (const t of taken) {
      const from = Math.max(r.offset, t.offset);
      if (from < Math.min(r.offset + r.length, t.offset + t.length)) {
        const x = at + from - r.offset;
        if (best < 0 || x < best) best = x;
      }
    }
    at += r.length;
  }
  return best;
}

/** The first `length` bytes of `runs`. */
function cutRuns(runs: readonly ByteRun[], length: number): ByteRun[] {
  const out: ByteRun[] = [];
  for (const r of runs) {
    if (length <= 0) break;
    out.push({ offset: r.offset, length: Math.min(r.length, length) });
    length -= r.length;
  }
  return out;
}

/** The first offset at or after `o` that lies on a cluster boundary. */
function alignUp(o: number, g: number, base: number): number {
  return base + Math.ceil((o - base) / g) * g;
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
function rebuild(pool: Pool, pos: number, size: number | undefined, options: ReassembleOptions, stats: ReassembleStats, budget: { left: number }): { built?: Built; partial?: Partial } {
  const limit = Math.min(size ?? MAX_JPEG_SIZE, MAX_JPEG_SIZE, pool.total - pos);
  const whole = spans(pool, [{ from: pos, length: limit }]);
  // The first validation also keeps how each MCU row continues the one above it.
  const tracker = new JpegValidator(whole, 0, { maxLength: limit });
  tracker.trackJumps();
  let first: JpegFileValidation;
  try {
    first = tracker.run();
  } catch (err) {
    first = { ok: false, validUpTo: 0, reason: (err as Error).message, mcus: 0, expectedMcus: 0 };
  }
  if (first.ok && first.mpf) first = validateJpegFile(whole, 0, size !== undefined ? Math.min(size, limit) : undefined);
  if (first.ok) {
    const done = finish(whole, size, limit);
    if (done) {
      const runs = pool.spanToRuns(pos, done.length);
      // The pool ran out before the walk's end: a piece, not the file.
      if (runs.reduce((n, r) => n + r.length, 0) !== done.length) return { partial: { runs, size: done.length, format: done.format, ext: done.ext, notes: ['partial: the pool ends inside the file'], validUpTo: 0, reason: 'the pool ends inside the file' } };
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

  // This file's share of decoding: its own bound, and what the region has left.
  const allowance = Math.min(MAX_REASSEMBLY_WORK, budget.left);
  if (allowance <= 0) {
    stats.unsearched++;
    return { partial: best };
  }

  // ---- where the first fragment may end ------------------------------------------------
  const g = pool.granularity;
  const failedAt = first.failedAt ?? first.validUpTo;
  // With restart markers the damage is after the last one that came in sequence.
  const floor = first.syncedTo !== undefined && first.syncedTo > 0 ? Math.max(0, first.syncedTo - g) : 0;
  const nearFailure: number[] = [];
  for (const q of pool.boundariesBefore(pos + Math.min(failedAt + 2, limit), pos + floor)) {
    if (nearFailure.length >= MAX_SPLIT_CANDIDATES) break;
    nearFailure.push(q - pos);
  }
  // The decoder may run on through data that decodes (text, another photo's scan) for a
  // while; the picture shows where: an MCU row that jumps far more than every row before it.
  // The boundaries around the two most outstanding such rows go first.
  const rows = tracker.rows;
  const outstanding: { r: number; excess: number }[] = [];
  let roughest = 0;
  for (let r = 0; r < rows.length; r++) {
    const excess = rows[r].jump - (2 * roughest + 8);
    if (r >= 8 && excess > 0) outstanding.push({ r, excess });
    roughest = Math.max(roughest, rows[r].jump);
  }
  const suspect: number[] = [];
  for (const { r } of outstanding.sort((x, y) => y.excess - x.excess).slice(0, 2)) {
    const from = rows[r - 1].start;
    const to = r + 1 < rows.length ? rows[r + 1].start : failedAt;
    let n = 0;
    for (const q of pool.boundariesBefore(pos + Math.min(to, limit), pos + Math.max(floor, from - g))) {
      if (n++ >= MAX_SPLIT_CANDIDATES / 8) break;
      if (!suspect.includes(q - pos)) suspect.push(q - pos);
    }
  }
  const splits = [...new Set([...suspect, ...nearFailure])];
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
  // The picture's own continuity before a split: the mean and the roughest of its MCU rows
  // that end before it.
  const continuity = (b: number) => {
    let sum = 0;
    let max = 0;
    let n = 0;
    for (let r = 0; r + 1 < rows.length && rows[r + 1].start <= b; r++) {
      sum += rows[r].jump;
      max = Math.max(max, rows[r].jump);
      n++;
    }
    return {
      // A junction that continues the picture as well as its rows do on average is decoded to the end at once.
      excellent: 2 * (sum / Math.max(1, n)) + 1,
      // Beyond this a junction is a jump the picture never made: not accepted even if the
      // count of MCUs happens to come out right (the tail of another photo of the same size
      // can). Over the 72 camera samples, 0.3% of rows (after the first 8) jump more than
      // twice the roughest row before them plus 8; with fewer rows to go by, nothing is ruled out.
      plausible: n >= 8 ? 2 * max + 8 : Infinity,
    };
  };

  const maxGap = options.maxGap ?? MAX_GAP_CLUSTERS;
  const maxTrials = options.maxCandidates ?? MAX_REASSEMBLY_CANDIDATES;
  let trials = 0;
  let work = 0;
  const addWork = (n: number) => {
    work += n;
    budget.left -= n;
  };

  interface Trial {
    b: number;
    c: number;
    gap: number;
    rest: number;
    parts: { from: number; length: number }[];
    joined: RunsReader;
  }
  /** A trial that validated: accepted when the file's structure holds too. */
  const accept = (t: Trial, r: JpegValidation): Built | null => {
    const mpf = r.mpf ? validateJpegFile(t.joined, 0, t.b + t.rest) : r;
    if (!mpf.ok) return null;
    const done = finish(t.joined, size, t.b + t.rest);
    if (!done || done.length <= t.b) return null;
    const runs = [...pool.spanToRuns(pos, t.b), ...pool.spanToRuns(t.c, done.length - t.b)];
    return {
      ...done,
      runs,
      notes: [
        `reassembled (bifragment gap carving): first fragment ${t.b} bytes, then a gap of ${t.gap} free cluster(s) (${t.c - (pos + t.b)} bytes of the pool), second fragment ${done.length - t.b} bytes; every MCU decodes and the EOI follows the last one`,
      ],
    };
  };
  const failed = (t: Trial, r: JpegValidation) => {
    if (r.validUpTo > best.validUpTo + g) best = partialOf(r, t.parts, `first fragment ${t.b} bytes, then ${t.gap} cluster(s) further`);
  };

  // Phase 1: every (split, gap) decodes one MCU row past the junction. Most fail there; the
  // others are ranked by how well the luma DC of that row continues the row above it (the
  // right continuation is the same picture, a wrong one a jump), and only the best few are
  // decoded to the end (phase 2). Without a resumable state (progressive files, splits in
  // the headers) each trial decodes to the end at once.
  const ranked: { score: number; t: Trial; v: JpegValidator; row: number }[] = [];
  /** Decode a phase-1 survivor to the end. */
  const finishTrial = (t: Trial, v: JpegValidator): Built | null => {
    const before = v.bytesRead;
    let r: JpegValidation;
    try {
      r = v.run();
    } catch (err) {
      r = { ok: false, validUpTo: 0, reason: (err as Error).message, mcus: 0, expectedMcus: 0 };
    }
    addWork(v.bytesRead - before);
    if (!r.ok) {
      failed(t, r);
      return null;
    }
    return accept(t, r);
  };
  const budgetLeft = () => trials < maxTrials && work < allowance;

  // Splits nearest the failure first (the decoder mostly notices a break within a few
  // hundred bytes); for each tier of splits, gaps in increasing order (Garfinkel).
  const tiers = [suspect, nearFailure.slice(0, 4), nearFailure.slice(4, 12), nearFailure.slice(12)]
    .map((t, i, all) => t.filter((b) => !all.slice(0, i).some((x) => x.includes(b))))
    .filter((x) => x.length > 0);
  for (let ti = 0; ti < tiers.length; ti++) {
    const tier = tiers[ti];
    // Each tier may spend up to its share of the allowance (and what earlier tiers left).
    const tierBudget = (allowance * (ti + 1)) / tiers.length;
    const tierLeft = () => budgetLeft() && work < tierBudget;
    const gapIters = tier.map((b) => ({ b, snap: snaps.get(b) ?? null, it: pool.boundariesAfter(pos + b), gap: 0, done: false, ...continuity(b) }));
    for (let g1 = 1; g1 <= maxGap && tierLeft() && gapIters.some((x) => !x.done); g1++) {
      for (const gi of gapIters) {
        if (gi.done || !tierLeft()) continue;
        const next = gi.it.next();
        if (next.done) {
          gi.done = true;
          continue;
        }
        const c = next.value;
        const b = gi.b;
        gi.gap++;
        const head = pool.reader.read(c, 64);
        // A continuation of entropy-coded data neither starts a JPEG nor is blank.
        if (isJpegHead(head) || head.every((x) => x === 0) || head.every((x) => x === 0xff)) continue;
        const rest = size !== undefined ? size - b : Math.min(MAX_JPEG_SIZE - b, pool.total - c);
        if (rest <= 0 || c + rest > pool.total) {
          gi.done = true;
          continue;
        }
        const parts = [
          { from: pos, length: b },
          { from: c, length: rest },
        ];
        const t: Trial = { b, c, gap: gi.gap, rest, parts, joined: spans(pool, parts) };
        trials++;
        stats.trials++;
        let r: JpegValidation;
        if (b >= primaryEnd) {
          const m = validateMpfImages(t.joined, first, b, b + rest);
          r = m.result;
          // What it decoded: MPF previews can be large, and each trial decodes them again.
          addWork(Math.max(4096, m.work));
        } else {
          const v = new JpegValidator(t.joined, 0, { maxLength: b + rest, chunk: 4096 });
          if (gi.snap) v.restore(gi.snap, t.joined, { maxLength: b + rest, chunk: 4096 });
          const row = gi.snap ? Math.min(v.mcusPerRow, MAX_ROW_MCUS) : 0;
          try {
            if (row > 0) {
              // A few MCUs first: most wrong continuations fail there, cheaply.
              let s1 = v.runScored(b, Math.min(row, QUICK_MCUS));
              if ('score' in s1) s1 = v.runScored(b, row, false);
              addWork(v.bytesRead);
              if ('score' in s1) {
                if (s1.score <= gi.excellent) {
                  const built = finishTrial(t, v);
                  if (built) return { built };
                } else if (s1.score <= gi.plausible) insertRanked(ranked, { score: s1.score, t, v, row }, RANKED_KEPT);
                continue;
              }
              r = s1.result;
            } else {
              r = v.run();
              addWork(v.bytesRead);
            }
          } catch (err) {
            r = { ok: false, validUpTo: 0, reason: (err as Error).message, mcus: 0, expectedMcus: 0 };
          }
        }
        if (!r.ok) {
          failed(t, r);
          continue;
        }
        const built = accept(t, r);
        if (built) return { built };
      }
    }
    // Phase 2: the best-continuing candidates so far, a few more rows each (most wrong ones
    // fail there), then to the end, best first.
    for (const x of [...ranked]) {
      if (work >= allowance) break;
      const before = x.v.bytesRead;
      let r: ReturnType<JpegValidator['runScored']>;
      try {
        r = x.v.runScored(x.t.b, DEEPEN_ROWS * x.row, false);
      } catch (err) {
        r = { result: { ok: false, validUpTo: 0, reason: (err as Error).message, mcus: 0, expectedMcus: 0 } };
      }
      addWork(x.v.bytesRead - before);
      if ('score' in r) continue;
      ranked.splice(ranked.indexOf(x), 1);
      if (!r.result.ok) failed(x.t, r.result);
      else {
        const built = accept(x.t, r.result);
        if (built) return { built };
      }
    }
    while (ranked.length > 0 && work < allowance) {
      const { t, v } = ranked.shift()!;
      const built = finishTrial(t, v);
      if (built) return { built };
    }
  }
  return { partial: best };
}

/** MCUs past the junction every trial decodes first. */
const QUICK_MCUS = 16;
/** A phase-1 trial then decodes and scores one MCU row, at most this many MCUs. */
const MAX_ROW_MCUS = 256;
/** Rows more each phase-1 survivor decodes before any is decoded to the end. */
const DEEPEN_ROWS = 4;
/** How many phase-1 survivors are kept, best score first. */
const RANKED_KEPT = 64;

function insertRanked<T extends { score: number }>(list: T[], item: T, keep: number): void {
  if (list.length >= keep && item.score >= list[list.length - 1].score) return;
  let i = list.length;
  while (i > 0 && list[i - 1].score > item.score) i--;
  list.splice(i, 0, item);
  if (list.length > keep) list.pop();
}

/** Where the primary image of a file whose MPF images were validated ends. */
function primaryLength(v: JpegFileValidation): number {
  const firstImage = Math.min(...(v.images ?? []).map((i) => i.offset));
  return Number.isFinite(firstImage) ? firstImage : Infinity;
}

/** The MPF images of `first` that reach past `from`, on `reader` (the primary is known good). */
function validateMpfImages(reader: Reader, first: JpegFileValidation, from: number, length: number): { result: JpegValidation; work: number } {
  let work = 0;
  for (const img of first.images ?? []) {
    if (img.offset + img.size <= from) continue;
    if (img.offset + img.size > length) return { result: { ...first, ok: false, validUpTo: img.offset, reason: 'MPF image outside the file' }, work };
    const r = validateJpeg(reader, img.offset, { maxLength: img.size, chunk: 4096 });
    work += r.ok ? img.size : Math.max(r.failedAt ?? r.validUpTo, 4096);
    if (!r.ok) return { result: { ...r, validUpTo: img.offset + r.validUpTo, failedAt: img.offset + (r.failedAt ?? r.validUpTo) }, work };
  }
  return { result: { ...first, ok: true, reason: undefined }, work };
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
  // The size is what the runs hold: a (damaged) entry's size never stands in for missing bytes.
  const held = b.runs.reduce((n, r) => n + r.length, 0);
  if (held !== b.size) {
    file.size = held;
    file.status = 'damaged';
    file.validation = { ok: false, by: 'jpeg', reason: `${b.size} bytes expected, ${held} placed`, validUpTo: held };
    file.notes.push(`only ${held} of ${b.size} bytes could be placed`);
  }
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
