import type { Reader } from './reader.js';
import type { Carver } from '../carvers/types.js';
import { carvers as allCarvers, carverForType } from '../carvers/registry.js';
import { bmffCarver, createBmffCarver, type BmffOptions } from '../carvers/bmff.js';
import { analyse, planGeometryChange, type Analysis } from './analyse.js';
import { carveRegion, type CarveOptions, type CarveOutcome } from './carve.js';
import { OrphanFolderSweep, settleOrphans } from './deferred-orphans.js';
import { carveRegions } from './pool.js';
import { OwnershipMap } from './ownership.js';
import { contentValidator, fileStartTest } from './validate.js';
import { originalPathOf, type RecoveredFile, type SkippedEntry } from './record.js';
import { placeOrphansBySweep, type PlanOptions, type VolumePlan } from './plan.js';
import { ExitCode, UserError } from './errors.js';
import { reassembleRegion, type ReassembleStats } from './reassemble.js';
import { reassembleBmffRegion } from './reassemble-bmff.js';
import type { ProgressEvent } from './progress.js';
import { mark, tallyScan } from './timing.js';

export interface PipelineOptions {
  volume?: number;
  /** --types: carve only these (jpg, cr3, mov, ...). */
  types?: string[];
  carve?: boolean;
  carveOnly?: boolean;
  keepPartial?: boolean;
  /** recovercr3's options for ISO BMFF files: the box that ends a file, how many boxes at most. */
  lastchunk?: string;
  maxchunks?: number;
  /** List each carved ISO BMFF file's boxes in its notes. */
  verbose?: boolean;
  /** Rebuild JPEGs split in two fragments, and MP4 / MOV / CR3 through their sample tables, after carving (default on). */
  reassemble?: boolean;
  /** Decode every carved JPEG's scan data, not only the suspect ones (slower: ~65 MB/s). */
  verifyJpeg?: boolean;
  /** Reassembly: pool clusters tried between two fragments (default MAX_GAP_CLUSTERS). */
  maxGap?: number;
  /** Reassembly: (split, gap) pairs tried per file (default MAX_REASSEMBLY_CANDIDATES). */
  maxCandidates?: number;
  /**
   * Let the orphan-folder sweep ride along the carving scan (default), so a card is read once;
   * false sweeps before carving, as a separate read. Both give the same files (a test holds them to it).
   */
  sweepDuringScan?: boolean;
  /** Scanner progress: bytes of the carving pool scanned, and files found so far by provenance. */
  onProgress?: (event: ProgressEvent) => void;
}

export interface PipelineResult {
  analysis: Analysis;
  files: RecoveredFile[];
  skipped: SkippedEntry[];
  carving: { bytesScanned: number; rejected: CarveOutcome['rejected']; reassembly?: ReassembleStats; reassemblyBmff?: ReassembleStats };
}

export function selectCarvers(types?: string[], bmff: BmffOptions = {}): Carver[] {
  const tuned = bmff.lastChunk || bmff.maxChunks || bmff.listBoxes ? createBmffCarver(bmff) : bmffCarver;
  const list = allCarvers.map((c) => (c === bmffCarver ? tuned : c));
  if (!types || types.length === 0) return list;
  const chosen = new Set<Carver>();
  for (const t of types) {
    const c = carverForType(t.trim().toLowerCase(), list);
    if (!c) throw new UserError(`--types: unknown type '${t}' (known: ${list.flatMap((x) => x.types).join(', ')})`, ExitCode.usage);
    chosen.add(c);
  }
  return [...chosen];
}

/** --types names a carver family (cr3 selects the ISO BMFF walker); only the named formats are kept. */
function formatFilter(types?: string[]): ((format: string, ext: string) => boolean) | undefined {
  if (!types || types.length === 0) return undefined;
  const wanted = new Set(types.map((t) => t.trim().toLowerCase()).map((t) => (t === 'jpg' ? 'jpeg' : t)));
  return (format, ext) => wanted.has(format) || wanted.has(ext) || (ext === 'jpg' && wanted.has('jpeg'));
}

/** source → volumes → file systems → plan → carve the rest. Reads only; writes nothing. */
export function runPipeline(disk: Reader, options: PipelineOptions = {}): PipelineResult {
  const carvers = selectCarvers(options.types, { lastChunk: options.lastchunk, maxChunks: options.maxchunks, listBoxes: options.verbose });
  // With carving on, the orphan-folder sweep rides along the carving scan: one read of the card.
  const planOptions: PlanOptions = { validate: contentValidator(), startsFile: fileStartTest(), keepPartial: options.keepPartial, orphans: options.carve === false || options.carveOnly || options.sweepDuringScan === false ? true : 'defer' };
  mark('pipeline start');
  const analysis = analyse(disk, { volume: options.volume, plan: planOptions });
  mark('file systems read');
  if (options.carveOnly) for (const va of analysis.volumes) if (va.plan) forgetMetadata(va.plan);
  const files = analysis.volumes.flatMap((v) => v.plan?.files ?? []);
  const skipped = analysis.volumes.flatMap((v) => v.plan?.skipped ?? []);
  const carving: PipelineResult['carving'] = { bytesScanned: 0, rejected: [] };
  if (options.carve === false) return { analysis, files, skipped, carving };

  // Space outside the volumes is only ours to scan when the whole card is.
  const regions = carveRegions(disk, analysis, carvers, options.volume === undefined);
  const bytesTotal = regions.reduce((n, r) => n + r.runs.reduce((m, x) => m + x.length, 0), 0);
  let before = 0;
  let carvedSoFar = 0;
  // Announce the stage before the first chunk, so rates are measured from its real start.
  options.onProgress?.({ stage: 'scan', done: 0, total: bytesTotal, found: countByProvenance(files) });
  for (const region of regions) {
    const plan = analysis.volumes.find((v) => v.volume.index === region.volume)?.plan;
    const sweep = plan?.orphansDeferred ? new OrphanFolderSweep(plan) : undefined;
    const carveOptions: CarveOptions = { carvers, keepPartial: options.keepPartial, accept: formatFilter(options.types) };
    const scanStart = performance.now();
    // The files known from metadata do not change while a region is scanned: counted once, not per chunk.
    const known = countByProvenance(files);
    let outcome = carveRegion(disk, region, {
      ...carveOptions,
      onHead: sweep?.visit,
      onProgress: (done, found) => options.onProgress?.({ stage: 'scan', done: before + done, total: bytesTotal, found: { ...known, carved: carvedSoFar + found } }),
    });
    tallyScan((performance.now() - scanStart) / 1000, outcome.bytesScanned, outcome.bytesInHoles ?? 0);
    mark('scan done');
    let carved = region;
    if (plan && sweep) {
      const skippedBefore = plan.skipped.length;
      const settled = settleOrphans(disk, region, outcome, plan, sweep, carveOptions, planOptions, () => planGeometryChange(disk, plan, planOptions));
      files.push(...settled.added);
      skipped.push(...plan.skipped.slice(skippedBefore));
      outcome = settled.outcome;
      carved = settled.region;
      mark('old folders settled');
    }
    before += outcome.bytesScanned;
    carvedSoFar += outcome.files.length;
    // The old folders' files are known only now: say so before the next stage.
    if (sweep) options.onProgress?.({ stage: 'scan', done: before, total: bytesTotal, found: { ...countByProvenance(files), carved: carvedSoFar } });
    carving.bytesScanned += outcome.bytesScanned;
    carving.rejected.push(...outcome.rejected);
    let found = outcome.files;
    if (options.reassemble !== false) {
      const r = reassembleRegion(disk, carved, outcome, plan, files, { keepPartial: options.keepPartial, maxGap: options.maxGap, maxCandidates: options.maxCandidates, verifyCarved: options.verifyJpeg ? 'all' : 'needed' });
      found = r.files;
      for (const f of r.replaced) if (files.includes(f)) files.splice(files.indexOf(f), 1);
      skipped.push(...r.skipped);
      const total = (carving.reassembly ??= { candidates: 0, reassembled: 0, partial: 0, dropped: 0, trials: 0, unsearched: 0 });
      for (const k of Object.keys(total) as (keyof ReassembleStats)[]) total[k] += r.stats[k];
      mark('JPEG reassembly');
      // MP4 / MOV / CR3 through their sample tables (src/reassemble-bmff.ts).
      const v = reassembleBmffRegion(disk, carved, found, outcome.rejected, plan, files, { keepPartial: options.keepPartial, maxGap: options.maxGap, maxCandidates: options.maxCandidates, verifyCarved: options.verifyJpeg ? 'all' : 'needed' });
      found = v.files;
      for (const f of v.replaced) if (files.includes(f)) files.splice(files.indexOf(f), 1);
      skipped.push(...v.skipped);
      const bmff = (carving.reassemblyBmff ??= { candidates: 0, reassembled: 0, partial: 0, dropped: 0, trials: 0, unsearched: 0 });
      for (const k of Object.keys(bmff) as (keyof ReassembleStats)[]) bmff[k] += v.stats[k];
      mark('BMFF reassembly');
    }
    if (plan) for (const f of found) if (f.provenance === 'carved') borrowName(f, plan);
    files.push(...found);
  }
  // A volume the scan did not cover (no carving region) still gets its sweep.
  for (const va of analysis.volumes) {
    if (!va.plan?.orphansDeferred) continue;
    const skippedBefore = va.plan.skipped.length;
    files.push(...placeOrphansBySweep(disk, va.plan, planOptions));
    planGeometryChange(disk, va.plan, planOptions);
    skipped.push(...va.plan.skipped.slice(skippedBefore));
  }
  // An entry skipped on one look and recovered on another is not skipped. (A Set: a card can hold tens of thousands of both.)
  const recovered = new Set(files.filter((f) => f.originalPath !== undefined).map((f) => `${f.volume}\u0000${f.originalPath}`));
  return { analysis, files, skipped: skipped.filter((s) => !recovered.has(`${s.volume}\u0000${s.originalPath}`)), carving };
}

function countByProvenance(files: RecoveredFile[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const f of files) if (f.provenance !== 'carved') out[f.provenance] = (out[f.provenance] ?? 0) + 1;
  return out;
}

function forgetMetadata(plan: VolumePlan): void {
  plan.files = [];
  plan.skipped = [];
  plan.unplaced = [];
  plan.owned = new OwnershipMap(plan.fs.geometry.clusterCount + 2);
}

/**
 * A carved file that starts where a lost directory entry said its file started, and is
 * exactly as long, is that file: it takes the entry's name, folder and time.
 */
function borrowName(file: RecoveredFile, plan: VolumePlan): void {
  const fs = plan.fs;
  const first = file.runs[0];
  if (!first) return;
  const rel = first.offset - plan.volume.offset - fs.geometry.dataOffset;
  if (rel < 0 || rel % fs.geometry.clusterSize !== 0) return;
  const cluster = rel / fs.geometry.clusterSize + 2;
  const i = plan.unplaced.findIndex((e) => e.size === file.size && (e.firstCluster === cluster || e.firstClusterCandidates?.includes(cluster)));
  if (i < 0) return;
  const e = plan.unplaced[i];
  plan.unplaced.splice(i, 1);
  file.name = e.name;
  file.folder = e.folder;
  file.originalPath = originalPathOf(e.folder, e.name);
  file.mtime = e.mtime ?? file.mtime;
  file.ctime = e.ctime;
  file.notes.push(`matches the deleted entry ${file.originalPath} (same first cluster and size): name and time taken from it`);
}
