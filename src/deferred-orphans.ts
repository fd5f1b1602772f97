import type { Reader, ByteRun } from './reader.js';
import { carveRegion, type CarveOptions, type CarveOutcome, type CarveRegion } from './carve.js';
import { placeOrphans, type ContentCheck, type PlanOptions, type VolumePlan } from './plan.js';
import { subtractRuns } from './reassemble.js';
import { carverForType } from '../carvers/registry.js';
import { describeTail } from '../carvers/jpeg.js';
import { tailSuspect } from './validate.js';
import type { RecoveredFile } from './record.js';

/**
 * The orphan-folder sweep, riding along the carving scan. A quick-formatted card is mostly
 * free clusters; sweeping them for old folders before carving, and then carving them, reads
 * the card twice. Instead the scan hands every cluster head of the volume's pool to `visit`,
 * which keeps the clusters that may be old folders; `settleOrphans` then places their files
 * and reconciles what the scan carved with the clusters those files now own.
 */
export class OrphanFolderSweep {
  readonly clusters: number[] = [];
  private readonly base: number;
  private readonly clusterSize: number;
  private readonly lastCluster: number;

  constructor(private readonly plan: VolumePlan) {
    const g = plan.fs.geometry;
    this.base = plan.volume.offset + g.dataOffset;
    this.clusterSize = g.clusterSize;
    this.lastCluster = g.clusterCount + 1;
  }

  readonly visit = (offset: number, bytes: Buffer, at: number): void => {
    const rel = offset - this.base;
    if (rel < 0 || rel % this.clusterSize !== 0) return;
    const c = rel / this.clusterSize + 2;
    if (c > this.lastCluster) return;
    if (!this.plan.fs.mayBeOrphanFolder?.(c, bytes, at)) return;
    this.clusters.push(c);
    // Keep a copy while the scan has the cluster in hand: settling reads it, and on a card
    // not in the page cache each of those reads is a trip to the disk.
    if (at + this.clusterSize <= bytes.length && this.keptBytes + this.clusterSize <= MAX_KEPT_BYTES) {
      this.kept.set(c, Buffer.from(bytes.subarray(at, at + this.clusterSize)));
      this.keptBytes += this.clusterSize;
    }
  };

  /** A cluster's bytes, when the scan kept them. */
  readonly bytesOf = (cluster: number): Buffer | undefined => this.kept.get(cluster);
  private readonly kept = new Map<number, Buffer>();
  private keptBytes = 0;
}

/** Copies of candidate folder clusters kept during the scan, at most (the rest are read again). */
const MAX_KEPT_BYTES = 64 * 1024 * 1024;

export interface SettledOrphans {
  /** The region without the clusters the old folders' files now own. */
  region: CarveRegion;
  /** What carving that region finds: the scan's files and rejections, reconciled. */
  outcome: CarveOutcome;
  /** Files the old folders gave (already in plan.files). */
  added: RecoveredFile[];
}

/**
 * Place the files of the old folders the sweep found, then make the scan's outcome what
 * carving after them would have found: carved files on clusters they now own are dropped
 * (most are the very same files, which keep their names this way), and the ground those
 * covered is carved again without the owned clusters, as are the starts whose walk failed
 * (a walk that crossed an old folder's file may hold now that the file is out of the way).
 * Nothing is read twice but what that second look needs.
 */
export function settleOrphans(
  disk: Reader,
  region: CarveRegion,
  outcome: CarveOutcome,
  plan: VolumePlan,
  sweep: OrphanFolderSweep,
  carveOptions: CarveOptions,
  planOptions: PlanOptions,
  afterOrphans?: () => void,
): SettledOrphans {
  const before = plan.files.length;
  placeOrphans(disk, plan, sweep.clusters, sweep.bytesOf, { ...planOptions, known: knownFromCarving(disk, outcome.files) });
  afterOrphans?.();
  const added = plan.files.slice(before);
  if (added.length === 0) return { region, outcome, added };

  // Files own whole clusters: the slack after a file's last byte leaves the pool with it.
  const taken = mergeRuns(added.flatMap((f) => f.runs).map((r) => clusterCover(r, region)));
  const inTaken = overlapTest(taken);
  const dropped = outcome.files.filter((f) => f.runs.some((r) => inTaken(r.offset, r.length)));
  const droppedSet = new Set(dropped);
  const kept = outcome.files.filter((f) => !droppedSet.has(f));
  const retry = outcome.rejected.filter((r) => !inTaken(r.offset, 1));
  const reduced: CarveRegion = { ...region, runs: subtractRuns(region.runs, taken) };

  const areas = mergeRuns([...subtractRuns(mergeRuns(dropped.flatMap((f) => f.runs)), taken), ...retry.map((r) => ({ offset: r.offset, length: 1 }))]);
  if (areas.length === 0) return { region: reduced, outcome: { ...outcome, files: kept, rejected: retry }, added };

  const again = carveRegion(disk, reduced, { ...carveOptions, onHead: undefined, onProgress: undefined, startsIn: areas });
  // The scan went on after each file it kept; a new find that runs into one of them loses.
  const inKept = overlapTest(mergeRuns(kept.flatMap((f) => f.runs)));
  const files = [...kept];
  const rejected = [...again.rejected];
  for (const f of again.files) {
    if (!f.runs.some((r) => inKept(r.offset, r.length))) files.push(f);
    else {
      const was = retry.find((r) => r.offset === f.runs[0]?.offset);
      if (was) rejected.push(was);
    }
  }
  files.sort((a, b) => (a.runs[0]?.offset ?? 0) - (b.runs[0]?.offset ?? 0));
  rejected.sort((a, b) => a.offset - b.offset);
  return { region: reduced, outcome: { files, rejected, bytesScanned: outcome.bytesScanned }, added };
}

/**
 * The verdict of the scan's walk for an old folder's file whose guessed clusters are exactly
 * what a carved file covers: the same walk over the same bytes, so no need to read them again.
 */
function knownFromCarving(disk: Reader, carved: readonly RecoveredFile[]): PlanOptions['known'] {
  const byStart = new Map<number, RecoveredFile>();
  for (const f of carved) if (f.status === 'ok' && f.runs.length > 0) byStart.set(f.runs[0].offset, f);
  return (runs: readonly ByteRun[], size: number): ContentCheck | undefined => {
    const f = runs.length > 0 ? byStart.get(runs[0].offset) : undefined;
    if (!f) return undefined;
    const ext = f.name.slice(f.name.lastIndexOf('.') + 1);
    const check: ContentCheck = { ok: true, by: carverForType(ext)?.id ?? f.format, format: f.format, camera: f.camera };
    if (f.suspect) check.suspect = f.suspect;
    if (f.size === size && sameRuns(f.runs, runs)) return check;
    // A photo whose entry keeps bytes after its last image (a camera's trailer): the entry's
    // check walks the same images to the same end, then looks at those bytes. Only they are read.
    const plainJpeg = (f.format === 'jpeg' || f.format === 'mpo') && !f.notes.some((n) => n.includes('pad their JPEGs'));
    if (!plainJpeg || f.size >= size || runs.length !== 1 || f.runs.length !== 1) return undefined;
    const tailKept = size - f.size;
    check.tailKept = tailKept;
    check.tailKind = describeTail(disk, runs[0].offset + f.size, runs[0].offset + size);
    check.suspect ??= tailSuspect(tailKept);
    return check;
  };
}

function clusterCover(r: ByteRun, region: CarveRegion): ByteRun {
  const g = region.granularity;
  const start = region.alignBase + Math.floor((r.offset - region.alignBase) / g) * g;
  const end = region.alignBase + Math.ceil((r.offset + r.length - region.alignBase) / g) * g;
  return { offset: start, length: end - start };
}

function sameRuns(a: readonly ByteRun[], b: readonly ByteRun[]): boolean {
  return a.length === b.length && a.every((r, i) => r.offset === b[i].offset && r.length === b[i].length);
}

/** Sorted, disjoint, touching runs joined. */
function mergeRuns(runs: readonly ByteRun[]): ByteRun[] {
  const out: ByteRun[] = [];
  for (const r of [...runs].sort((a, b) => a.offset - b.offset)) {
    const last = out[out.length - 1];
    if (last && r.offset <= last.offset + last.length) last.length = Math.max(last.length, r.offset + r.length - last.offset);
    else out.push({ offset: r.offset, length: r.length });
  }
  return out;
}

/** Does [offset, offset + length) overlap any of these sorted, disjoint runs? */
function overlapTest(runs: readonly ByteRun[]): (offset: number, length: number) => boolean {
  return (offset, length) => {
    let lo = 0;
    let hi = runs.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (runs[mid].offset + runs[mid].length <= offset) lo = mid + 1;
      else hi = mid;
    }
    return lo < runs.length && runs[lo].offset < offset + length;
  };
}
