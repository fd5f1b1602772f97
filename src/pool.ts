import type { Reader, ByteRun } from './reader.js';
import type { Carver } from '../carvers/types.js';
import { buildSignatureTable, candidatesAt } from '../carvers/registry.js';
import { readIntoAny } from './reader.js';
import { isFilledWith } from '../carvers/bytes.js';
import type { Analysis } from './analyse.js';
import type { CarveRegion } from './carve.js';

const SECTOR = 512;
/** How much of a region the geometry inference looks at: enough headers, bounded time. */
const INFER_SPAN = 256 * 1024 * 1024;
const INFER_MAX_HITS = 400;
const INFER_MIN_HITS = 6;
/** Below this many headers, every one must agree: a chance alignment of a few is too likely. */
const INFER_STRICT_BELOW = 20;
/** exFAT allows larger clusters, but cards use at most this; a coarser guess would only lose files. */
const INFER_MAX_STEP = 256 * 1024;

/**
 * The carving pool: for each volume with a file system the clusters no recovered file owns;
 * for a volume without one, the whole volume; and the space outside every volume.
 */
export function carveRegions(disk: Reader, analysis: Analysis, carvers: Carver[], includeGaps: boolean): CarveRegion[] {
  const regions: CarveRegion[] = [];
  for (const va of analysis.volumes) {
    const { volume, fs, plan } = va;
    if (fs && plan) {
      const g = fs.geometry;
      const runs: ByteRun[] = [];
      const last = g.clusterCount + 1;
      const heapEnd = volume.offset + Math.min(volume.length, g.dataOffset + g.clusterCount * g.clusterSize);
      for (const [first, end] of plan.owned.freeSpans(2, last)) {
        const offset = volume.offset + fs.clusterOffset(first);
        const length = Math.min(volume.offset + fs.clusterOffset(end - 1) + g.clusterSize, heapEnd) - offset;
        if (length <= 0) break;
        const prev = runs[runs.length - 1];
        if (prev && prev.offset + prev.length === offset) prev.length += length;
        else runs.push({ offset, length });
      }
      regions.push({ volume: volume.index, runs, granularity: g.clusterSize, alignBase: volume.offset + g.dataOffset });
    } else {
      const run = { offset: volume.offset, length: volume.length };
      regions.push({ volume: volume.index, runs: [run], ...inferGeometry(disk, run, carvers) });
    }
  }
  if (includeGaps) {
    for (const gap of analysis.layout.gaps) regions.push({ volume: -1, runs: [gap], ...inferGeometry(disk, gap, carvers) });
  }
  // In the card's order: one pass from start to end. The space before the first partition
  // (small, read by the scan itself) then goes while the reading thread for the partition boots.
  return regions.sort((a, b) => (a.runs[0]?.offset ?? Infinity) - (b.runs[0]?.offset ?? Infinity));
}

/**
 * What inferGeometry reads at a time, into one small buffer: fresh memory costs a page fault
 * per 4 KiB, which on a VM took longer than the look itself (13 ms for the 4 MiB before a
 * card's partition, read through a fresh 4 MiB buffer; 1 MiB pieces still made 256 faults).
 */
export const INFER_PIECE = 128 * 1024;

export interface InferredGeometry {
  granularity: number;
  alignBase: number;
  /** How many file headers the inference saw, and how many agreed. */
  evidence?: { headers: number; agreeing: number };
}

/**
 * Without a file system, find the cluster size and data start the way a person would:
 * file headers all fall on multiples of some power of two past some base. Falls back
 * to 512-byte sectors when there is too little evidence.
 */
export function inferGeometry(disk: Reader, run: ByteRun, carvers: Carver[]): InferredGeometry {
  const table = buildSignatureTable(carvers);
  const hits: number[] = [];
  const span = Math.min(run.length, INFER_SPAN);
  const piece = Buffer.allocUnsafe(INFER_PIECE + 64);
  for (let pos = 0; pos < span && hits.length < INFER_MAX_HITS; pos += INFER_PIECE) {
    const buf = piece.subarray(0, readIntoAny(disk, piece.subarray(0, Math.min(INFER_PIECE + 64, span - pos + 64)), run.offset + pos));
    // No header starts in zeros (candidatesAt says so a sector at a time): a native compare
    // clears a piece at once. The space before a card's partition is mostly zeros, and its
    // sector-by-sector look took ~10 ms of every run, in code not yet optimized.
    if (isFilledWith(buf.subarray(0, Math.min(INFER_PIECE, buf.length)), 0)) continue;
    for (let at = 0; at < Math.min(INFER_PIECE, buf.length); at += SECTOR) {
      const bucket = candidatesAt(table, buf, at);
      if (!bucket) continue;
      const head = buf.subarray(at, at + 64);
      if (bucket.some((c) => c.detect(head))) hits.push(run.offset + pos + at);
    }
  }
  const fallback: InferredGeometry = { granularity: SECTOR, alignBase: run.offset, evidence: { headers: hits.length, agreeing: hits.length } };
  if (hits.length < INFER_MIN_HITS) return fallback;
  // The largest step that at least 90% of the headers agree on.
  for (let g = INFER_MAX_STEP; g > SECTOR; g >>= 1) {
    const byResidue = new Map<number, number>();
    for (const h of hits) byResidue.set(h % g, (byResidue.get(h % g) ?? 0) + 1);
    const [residue, agreeing] = [...byResidue.entries()].sort((a, b) => b[1] - a[1])[0];
    const needed = hits.length < INFER_STRICT_BELOW ? hits.length : Math.ceil(hits.length * 0.9);
    if (agreeing >= needed) {
      return { granularity: g, alignBase: residue, evidence: { headers: hits.length, agreeing } };
    }
  }
  return fallback;
}
