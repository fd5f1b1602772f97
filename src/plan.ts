import type { Reader, ByteRun } from './reader.js';
import { RunsReader } from './reader.js';
import type { ClusterExtent, FileSystem, FsEntry } from '../parsers/types.js';
import type { RecoveredFile, SkippedEntry, Validation } from './record.js';
import { originalPathOf } from './record.js';
import { OwnershipMap } from './ownership.js';
import type { Volume } from './volumes.js';
import { badRangesOf, firstUnreadableAt } from './source/ranges.js';
import { markUnreadable } from './badmap.js';

/** What a format walker says of a file's bytes; null when no walker knows the format. */
export interface ContentCheck extends Validation {
  format?: string;
  camera?: string;
  /** The walk passed, but saw something that a deeper check of the content should look at. */
  suspect?: string;
  /** Bytes after the picture's end that the entry's size keeps (a camera trailer, or another file's tail). */
  tailKept?: number;
  /** What they look like ('zero padding', '0xFF padding', 'Samsung SEF trailer', 'unrecognised trailer'). */
  tailKind?: string;
}

/**
 * Most trailers that are neither padding nor Samsung's are a few bytes to a few KiB (HP,
 * Olympus, Panasonic); HTC's dual-camera data is megabytes, but on a live file.
 */
const MAX_UNRECOGNISED_TRAILER_DELETED = 64 * 1024;
/** Names cameras give JPEG files (a Canon .THM is a JPEG thumbnail). */
const JPEG_NAME = /\.(jpe?g|jpe|jfif|mpo|thm)$/i;
/**
 * A file's format check. `claimedName`, for a deleted or lost entry: when its extension names
 * a format a walker knows and the bytes do not start like it, the clusters hold something
 * else now (overwritten), which is a failed check rather than no verdict.
 */
export type Validator = (file: Reader, expectedSize: number, claimedName?: string) => ContentCheck | null;

export interface VolumePlan {
  volume: Volume;
  fs: FileSystem;
  files: RecoveredFile[];
  skipped: SkippedEntry[];
  owned: OwnershipMap;
  /** Deleted entries whose guessed clusters failed their format check: carving may find them and borrow their names. */
  unplaced: FsEntry[];
  /**
   * The orphan-folder sweep was left to ride along the carving scan (`orphans: 'defer'`):
   * the scan collects the clusters that pass `fs.mayBeOrphanFolder`, then `placeOrphans`.
   */
  orphansDeferred?: boolean;
}

export interface PlanOptions {
  validate?: Validator;
  /** Write deleted files that fail their format check anyway, marked damaged. */
  keepPartial?: boolean;
  /**
   * Sweep free clusters for folders a format left behind (default on). 'defer': not now; the
   * carving scan looks at the same clusters and hands over the candidates (see VolumePlan).
   */
  orphans?: boolean | 'defer';
  /** A verdict already known for these bytes (the carving scan walked them): saves reading them again. */
  known?: (runs: readonly ByteRun[], size: number) => ContentCheck | undefined;
  /** Do these bytes start like a file some carver knows? (the cheap header test) */
  startsFile?: (head: Buffer) => boolean;
}

/**
 * First clusters of the files that were live together in the lost folders: no two of them
 * shared a cluster, so a contiguous guess that runs over another one's first cluster is
 * wrong (the file was fragmented there), however well its format walk went.
 */
interface LiveStarts {
  byCluster: Map<number, FsEntry>;
  /** The same first clusters, ascending: a guess is checked by a search, not cluster by cluster. */
  sorted: number[];
}

function liveStartsOf(entries: readonly FsEntry[]): LiveStarts {
  const byCluster = new Map<number, FsEntry>();
  for (const e of entries) if (!e.isDirectory && !e.deleted && e.size > 0 && e.firstCluster >= 2) byCluster.set(e.firstCluster, e);
  return { byCluster, sorted: [...byCluster.keys()].sort((a, b) => a - b) };
}

/** The cluster after a guessed run is another live file's first, or starts like a file. */
function endsWhereAFileBegins(disk: Reader, plan: VolumePlan, extents: readonly ClusterExtent[], starts: LiveStarts, startsFile?: (head: Buffer) => boolean): boolean {
  const last = extents[extents.length - 1];
  if (!last) return false;
  const next = last.first + last.count;
  if (starts.byCluster.has(next)) return true;
  if (!startsFile || next > plan.fs.geometry.clusterCount + 1) return false;
  return startsFile(disk.read(plan.volume.offset + plan.fs.clusterOffset(next), 64));
}

/** Another live file's first cluster inside a guessed run (past its own first cluster). */
function foreignStartIn(extents: readonly ClusterExtent[], first: number, starts: LiveStarts | undefined): FsEntry | undefined {
  if (!starts?.sorted.length) return undefined;
  const { sorted } = starts;
  for (const x of extents) {
    // The first start at or after the extent's first cluster, skipping the file's own.
    let lo = 0;
    let hi = sorted.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (sorted[mid] < x.first) lo = mid + 1;
      else hi = mid;
    }
    if (sorted[lo] === first) lo++;
    if (lo < sorted.length && sorted[lo] < x.first + x.count) return starts.byCluster.get(sorted[lo]);
  }
  return undefined;
}

/** Where folders whose parent is lost are hung, under the orphaned/ output folder. */
export const LOST_FOLDERS = '_lost_folders';

/** Byte runs on the source behind cluster extents, cut to the file size. */
export function extentsToRuns(fs: FileSystem, volumeOffset: number, extents: readonly ClusterExtent[], size: number): ByteRun[] {
  const runs: ByteRun[] = [];
  let left = size;
  const cs = fs.geometry.clusterSize;
  for (const e of extents) {
    if (left <= 0) break;
    const length = Math.min(e.count * cs, left);
    const offset = volumeOffset + fs.clusterOffset(e.first);
    const last = runs[runs.length - 1];
    if (last && last.offset + last.length === offset) last.length += length;
    else runs.push({ offset, length });
    left -= length;
  }
  return runs;
}

function runsLength(runs: readonly ByteRun[]): number {
  return runs.reduce((n, r) => n + r.length, 0);
}

/**
 * Merge what the metadata says into files to write. Live files claim their chains first;
 * deleted entries then claim the clusters of their best guess, checked by their format
 * when a walker knows it.
 */
export function planVolume(disk: Reader, volume: Volume, fs: FileSystem, options: PlanOptions = {}): VolumePlan {
  const { validate } = options;
  const owned = new OwnershipMap(fs.geometry.clusterCount + 2);
  const files: RecoveredFile[] = [];
  const skipped: SkippedEntry[] = [];
  const unplaced: FsEntry[] = [];
  // Folders' own clusters hold directory entries, not file data: out of the carving pool.
  for (const d of fs.entries) if (d.isDirectory) owned.claimExtents(d.extents);
  const plain = fs.entries.filter((e) => !e.isDirectory);

  for (const e of plain.filter((x) => !x.deleted && !x.orphan)) {
    owned.claimExtents(e.extents);
    const runs = extentsToRuns(fs, volume.offset, e.extents, e.size);
    const whole = runsLength(runs) === e.size;
    const file = baseRecord(volume, e, 'allocated', runs);
    file.status = whole ? 'ok' : 'damaged';
    if (!whole) file.notes.push(`only ${runsLength(runs)} of ${e.size} bytes are reachable through the chain`);
    check(disk, file, validate);
    files.push(file);
  }

  const plan: VolumePlan = { volume, fs, files, skipped, owned, unplaced };
  // Validated guesses first: a file that proves itself keeps its clusters from an unverifiable one.
  for (const e of plain.filter((x) => x.deleted && !x.orphan)) placeLost(disk, plan, e, 'deleted', options);
  placeOrphanBatch(disk, plan, plain.filter((x) => x.orphan), options);
  if (options.orphans === 'defer' && fs.mayBeOrphanFolder && fs.findOrphansAmong) plan.orphansDeferred = true;
  else if (options.orphans !== false && fs.findOrphans) {
    placeOrphanBatch(disk, plan, fs.findOrphans((c) => !owned.isOwned(c) && !fs.isAllocated(c), LOST_FOLDERS), options);
  }
  for (const f of files) clipToSource(f, disk.size);
  // Unreadable sectors met so far (read errors, --bad-map): those files are damaged, not fragmented.
  markUnreadable(files, badRangesOf(disk));
  return plan;
}

/**
 * The deferred half of the orphan sweep: place the files of the old folders found in
 * `clusters` (those that passed `fs.mayBeOrphanFolder` during the carving scan) as the
 * sweep in planVolume would have. Returns the files it added.
 */
export function placeOrphans(disk: Reader, plan: VolumePlan, clusters: readonly number[], bytesOf?: (cluster: number) => Buffer | undefined, options: PlanOptions = {}): RecoveredFile[] {
  const { fs } = plan;
  plan.orphansDeferred = false;
  if (!fs.findOrphansAmong) return [];
  const candidates = clusters.filter((c) => !plan.owned.isOwned(c) && !fs.isAllocated(c));
  const before = plan.files.length;
  placeOrphanBatch(disk, plan, fs.findOrphansAmong(candidates, LOST_FOLDERS, bytesOf), options);
  const added = plan.files.slice(before);
  for (const f of added) clipToSource(f, disk.size);
  markUnreadable(added, badRangesOf(disk));
  return added;
}

/** The sweep in planVolume, run later for a plan whose sweep was deferred but never ridden along. */
export function placeOrphansBySweep(disk: Reader, plan: VolumePlan, options: PlanOptions = {}): RecoveredFile[] {
  const { fs, owned } = plan;
  plan.orphansDeferred = false;
  if (!fs.findOrphans) return [];
  const before = plan.files.length;
  placeOrphanBatch(disk, plan, fs.findOrphans((c) => !owned.isOwned(c) && !fs.isAllocated(c), LOST_FOLDERS), options);
  const added = plan.files.slice(before);
  for (const f of added) clipToSource(f, disk.size);
  markUnreadable(added, badRangesOf(disk));
  return added;
}

/** Files of lost folders, placed knowing where each of their live neighbours began. */
function placeOrphanBatch(disk: Reader, plan: VolumePlan, entries: readonly FsEntry[], options: PlanOptions): void {
  const starts = liveStartsOf(entries);
  // Entries that were live when their folder was lost first: one deleted before may name clusters reused since.
  const ordered = [...entries.filter((e) => !e.deleted), ...entries.filter((e) => e.deleted)];
  for (const e of ordered) placeLost(disk, plan, e, 'orphan', options, starts);
}

function placeLost(disk: Reader, plan: VolumePlan, e: FsEntry, provenance: 'deleted' | 'orphan', options: PlanOptions, liveStarts?: LiveStarts): void {
  const { volume, fs, owned, files, skipped, unplaced } = plan;
  const original = originalPathOf(e.folder, e.name);
  if (e.overwritten) {
    skipped.push({ volume: volume.index, provenance, originalPath: original, size: e.size, reason: 'overwritten: its first cluster belongs to another file now' });
    return;
  }
  const choice = chooseDeletedRun(disk, volume, fs, e, owned, options.validate, options.known, liveStarts);
  if (!choice) {
    skipped.push({ volume: volume.index, provenance, originalPath: original, size: e.size, reason: 'its clusters are already recovered as another file' });
    return;
  }
  // A check that did not see all of the guess's bytes says nothing of it: keep the file, damaged.
  if (choice.check && !choice.check.ok && !options.keepPartial && !bytesMissing(disk, choice.runs)) {
    skipped.push({ volume: volume.index, provenance, originalPath: original, size: e.size, reason: `content check failed on the contiguous guess (${choice.check.reason}); clusters returned to the carving pool` });
    unplaced.push(e);
    return;
  }
  owned.claimExtents(choice.extents);
  const file = baseRecord(volume, e, provenance, choice.runs);
  if (choice.check?.ok && choice.check.tailKept && liveStarts && endsWhereAFileBegins(disk, plan, choice.extents, liveStarts, options.startsFile)) {
    // A wrong guess keeps another file's tail only when it ran into foreign clusters; one that
    // ends where the next file begins left little room for any (the start rule already
    // refused guesses with a live start inside): nothing to decode.
    choice.check = { ...choice.check, suspect: undefined };
    file.notes.push('its guessed clusters end where the next file begins');
  }
  if (e.firstCluster !== choice.first) file.notes.push(`start cluster ${choice.first} chosen among the candidates`);
  applyCheck(file, choice.check);
  if (runsLength(choice.runs) < e.size) {
    file.status = 'damaged';
    file.notes.push(`only ${runsLength(choice.runs)} of ${e.size} bytes could be placed`);
  }
  files.push(file);
}

/**
 * Whether some of these bytes are not to be had: unreadable sectors (read as zeros), or past
 * the end of an image cut short (clipToSource then says how much is there).
 */
function bytesMissing(disk: Reader, runs: readonly ByteRun[]): boolean {
  return runs.some((r) => r.offset + r.length > disk.size) || firstUnreadableAt(runs, badRangesOf(disk)) >= 0;
}

/** A truncated image ends before the volume does: runs past its end are cut, the file marked damaged. */
function clipToSource(file: RecoveredFile, size: number): void {
  if (file.runs.every((r) => r.offset + r.length <= size)) return;
  const before = runsLength(file.runs);
  file.runs = file.runs.filter((r) => r.offset < size).map((r) => ({ offset: r.offset, length: Math.min(r.length, size - r.offset) }));
  file.status = 'damaged';
  file.notes.push(`only ${runsLength(file.runs)} of ${before} bytes lie within the source, which ends at byte ${size} (a truncated image?)`);
}

interface RunChoice {
  first: number;
  extents: ClusterExtent[];
  runs: ByteRun[];
  check: ContentCheck | null;
}

/** Among the possible start clusters, the first whose content validates; else the parser's default. */
function chooseDeletedRun(disk: Reader, volume: Volume, fs: FileSystem, e: FsEntry, owned: OwnershipMap, validate?: Validator, known?: PlanOptions['known'], liveStarts?: LiveStarts): RunChoice | null {
  const firsts = e.firstClusterCandidates ?? [e.firstCluster];
  let fallback: RunChoice | null = null;
  for (const first of firsts) {
    const extents = first === e.firstCluster ? e.extents : fs.guessRun(first, e.size);
    if (e.size > 0 && extents.length === 0) continue;
    if (owned.firstConflict(extents) >= 0) continue;
    const runs = extentsToRuns(fs, volume.offset, extents, e.size);
    const other = e.basis === 'contiguous-guess' ? foreignStartIn(extents, first, liveStarts) : undefined;
    if (other) {
      fallback ??= { first, extents, runs, check: { ok: false, by: 'layout', reason: `the contiguous guess runs over the first cluster of ${originalPathOf(other.folder, other.name)}, a file of the same folders: this one is fragmented` } };
      continue;
    }
    let check = validate && e.size > 0 ? (known?.(runs, e.size) ?? validate(new RunsReader(disk, runs), e.size, e.name)) : null;
    // A deleted entry's clusters may have been reused: when its name does not even say JPEG, a
    // picture followed by a long run of bytes no camera writes after one is a picture that
    // landed in its slot. (HTC writes megabytes after its JPEGs: a .JPG keeps them.)
    if (e.deleted && !JPEG_NAME.test(e.name) && check?.ok && check.tailKind === 'unrecognised trailer' && (check.tailKept ?? 0) > MAX_UNRECOGNISED_TRAILER_DELETED) {
      check = { ok: false, by: check.by, format: check.format, reason: `the picture ends ${check.tailKept} bytes before the size the deleted entry gives, and those bytes are no padding or trailer a camera writes`, validUpTo: e.size - check.tailKept! };
    }
    const choice = { first, extents, runs, check };
    if (check?.ok) return choice;
    fallback ??= choice;
  }
  return fallback;
}

function baseRecord(volume: Volume, e: FsEntry, provenance: RecoveredFile['provenance'], runs: ByteRun[]): RecoveredFile {
  return {
    volume: volume.index,
    provenance,
    name: e.name,
    folder: e.folder,
    originalPath: originalPathOf(e.folder, e.name),
    mtime: e.mtime,
    ctime: e.ctime,
    atime: e.atime,
    runs,
    size: e.size,
    basis: e.basis,
    status: e.basis === 'contiguous-guess' ? 'unverified' : 'ok',
    notes: [...e.notes],
  };
}

function check(disk: Reader, file: RecoveredFile, validate?: Validator): void {
  if (!validate || file.size === 0) return;
  const result = validate(new RunsReader(disk, file.runs), file.size);
  if (result) {
    file.validation = { ok: result.ok, by: result.by, reason: result.reason, validUpTo: result.validUpTo };
    file.format = result.format;
    file.camera = result.camera;
    if (result.suspect) file.suspect = result.suspect;
    if (!result.ok) file.notes.push(`content check: ${result.reason}`);
  }
}

function applyCheck(file: RecoveredFile, result: ContentCheck | null): void {
  if (!result) return;
  file.validation = { ok: result.ok, by: result.by, reason: result.reason, validUpTo: result.validUpTo };
  file.format = result.format;
  file.camera = result.camera;
  if (result.suspect) file.suspect = result.suspect;
  if (result.ok) file.status = 'ok';
  else {
    file.status = 'damaged';
    file.notes.push(`content check failed: ${result.reason}`);
  }
}

/**
 * A card formatted again with another cluster size or data start: its old folders name
 * clusters of the old geometry. List their files through `old` (the geometry rebuilt from
 * those folders), keep the ones no live or recovered file overlaps and whose format check
 * does not fail, and take their bytes out of today's carving pool.
 */
export function planPreviousGeometry(disk: Reader, plan: VolumePlan, old: FileSystem, options: PlanOptions = {}): void {
  const { volume, fs } = plan;
  const taken: ByteRun[] = plan.files.flatMap((f) => f.runs);
  const overlaps = (runs: ByteRun[]) => runs.some((r) => taken.some((t) => r.offset < t.offset + t.length && t.offset < r.offset + r.length));
  const lostEntries = [...old.entries.filter((e) => !e.isDirectory), ...(old.findOrphans?.(() => true, LOST_FOLDERS) ?? [])];
  for (const e of lostEntries) {
    if (e.isDirectory || e.size === 0) continue;
    const runs = extentsToRuns(old, volume.offset, e.extents, e.size);
    const original = originalPathOf(e.folder, e.name);
    if (runsLength(runs) < e.size || overlaps(runs)) {
      plan.skipped.push({ volume: volume.index, provenance: 'orphan', originalPath: original, size: e.size, reason: 'listed in a folder of the previous format; its clusters are used by other files now' });
      continue;
    }
    const check = options.validate ? options.validate(new RunsReader(disk, runs), e.size, e.name) : null;
    if (check && !check.ok && !options.keepPartial) {
      plan.skipped.push({ volume: volume.index, provenance: 'orphan', originalPath: original, size: e.size, reason: `listed in a folder of the previous format; content check failed (${check.reason})` });
      continue;
    }
    const file = baseRecord(volume, e, 'orphan', runs);
    file.notes.push(`found through the previous format's geometry (cluster size ${old.geometry.clusterSize}, data area at byte ${volume.offset + old.geometry.dataOffset})`);
    applyCheck(file, check);
    plan.files.push(file);
    taken.push(...runs);
    claimBytes(plan, runs);
  }
}

/** Claim today's clusters that hold any of these bytes. */
function claimBytes(plan: VolumePlan, runs: ByteRun[]): void {
  const g = plan.fs.geometry;
  for (const r of runs) {
    const rel = r.offset - plan.volume.offset - g.dataOffset;
    const first = Math.max(2, Math.floor(rel / g.clusterSize) + 2);
    const last = Math.floor((rel + r.length - 1) / g.clusterSize) + 2;
    for (let c = first; c <= last; c++) plan.owned.claim(c);
  }
}
