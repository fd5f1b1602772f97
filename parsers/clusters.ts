import { readIntoAny, type Reader } from '../src/reader.js';
import type { ClusterExtent } from './types.js';

/** Append a cluster to extents, merging with the last one when consecutive. */
export function pushCluster(extents: ClusterExtent[], cluster: number): void {
  pushRun(extents, cluster, 1);
}

/** Append `count` clusters from `first` to extents, merging with the last one when consecutive. */
export function pushRun(extents: ClusterExtent[], first: number, count: number): void {
  const last = extents[extents.length - 1];
  if (last && last.first + last.count === first) last.count += count;
  else extents.push({ first, count });
}

export function clustersIn(extents: readonly ClusterExtent[]): number {
  let n = 0;
  for (const e of extents) n += e.count;
  return n;
}

/**
 * The contiguous guess shared by FAT and exFAT: a deleted file continues in the next
 * clusters the allocation does not mark used. `maxCluster` is the last valid cluster.
 */
export function contiguousGuess(
  firstCluster: number,
  size: number,
  clusterSize: number,
  maxCluster: number,
  isAllocated: (c: number) => boolean,
  /**
   * The first cluster in [from, to) that is allocated, or `to`. By default asked of
   * `isAllocated` one cluster at a time; a file system that can answer faster (FAT: a scan of
   * its table) passes its own. A card of 4 KiB clusters has ~400 per photo.
   */
  freeRunEnd = (from: number, to: number): number => {
    let c = from;
    while (c < to && !isAllocated(c)) c++;
    return c;
  },
): ClusterExtent[] {
  const need = Math.ceil(size / clusterSize);
  const extents: ClusterExtent[] = [];
  let taken = 0;
  // The first cluster is the entry's, taken whether or not it is marked.
  let c = firstCluster;
  if (taken < need && c <= maxCluster) {
    pushCluster(extents, c++);
    taken++;
  }
  while (taken < need && c <= maxCluster) {
    const end = freeRunEnd(c, Math.min(maxCluster + 1, c + need - taken));
    if (end === c) {
      c++;
      continue;
    }
    pushRun(extents, c, end - c);
    taken += end - c;
    c = end;
  }
  return extents;
}

/**
 * How far past a deleted folder's last cluster its next one is looked for (FAT and exFAT):
 * the data of the file written before the folder grew lies between (a photo, a short video).
 */
export const MAX_FOLDER_GAP = 64 * 1024 * 1024;
/** How much a volume's deleted folders may read in all, looking for their later clusters. */
export const FOLDER_GAP_BUDGET = 512 * 1024 * 1024;

/** What a volume's deleted folders may still read, looking past file data for their later clusters. */
export interface FolderGapBudget {
  bytesLeft: number;
}

/**
 * A deleted folder's next cluster (FAT and exFAT; their chains are gone). A folder takes a new
 * cluster when it fills, the next free one: right after its last (`last`), or, when it grew
 * between files, after the data of the file written before; the caller says where that ends
 * (`from`). The cluster after the last is tried first, then the candidates from `from` on,
 * within MAX_FOLDER_GAP and what is left of `budget`, in 8 MiB reads: the first that
 * `continues` accepts (told whether it is the adjacent one), with its own copy of the bytes.
 */
export function findFolderContinuation(
  volume: Reader,
  geometry: { clusterSize: number; clusterOffset(cluster: number): number },
  maxCluster: number,
  last: number,
  from: number,
  budget: FolderGapBudget,
  isCandidate: (cluster: number) => boolean,
  continues: (cluster: number, bytes: Buffer, adjacent: boolean) => boolean,
): { cluster: number; bytes: Buffer } | undefined {
  const cs = geometry.clusterSize;
  if (last + 1 >= 2 && last + 1 <= maxCluster && isCandidate(last + 1)) {
    const bytes = volume.read(geometry.clusterOffset(last + 1), cs);
    if (continues(last + 1, bytes, true)) return { cluster: last + 1, bytes };
  }
  from = Math.max(from, last + 2);
  const to = Math.min(maxCluster, from + Math.floor(Math.min(MAX_FOLDER_GAP, budget.bytesLeft) / cs) - 1);
  if (to < from) return undefined;
  let found: { cluster: number; bytes: Buffer } | undefined;
  let lastSeen = from;
  sweepClusters(volume, geometry, from, to, isCandidate, (c, bytes) => {
    lastSeen = c;
    if (!continues(c, bytes, false)) return false;
    found = { cluster: c, bytes: Buffer.from(bytes) };
    return true;
  });
  budget.bytesLeft -= (lastSeen - from + 1) * cs;
  return found;
}

/** How much of the volume one read of the orphan sweep covers. */
const SWEEP_CHUNK = 8 * 1024 * 1024;

/**
 * Visit the candidate clusters from `first` to `last` in order, each with its bytes. Runs of
 * consecutive candidates are read in chunks of several MiB into one reused buffer, so the
 * sweep is one sequential pass with few system calls rather than a read per cluster: on a
 * large card that is the difference between seconds and a page cache thrashed by probes.
 * The bytes handed to `visit` are only valid during the call; copy what must be kept.
 * A visit that returns true ends the sweep.
 */
export function sweepClusters(
  volume: Reader,
  geometry: { clusterSize: number; clusterOffset(cluster: number): number },
  first: number,
  last: number,
  isCandidate: (cluster: number) => boolean,
  visit: (cluster: number, bytes: Buffer) => boolean | void,
): void {
  const cs = geometry.clusterSize;
  const perChunk = Math.max(1, Math.floor(SWEEP_CHUNK / cs));
  const buffer = Buffer.allocUnsafe(perChunk * cs);
  let c = first;
  while (c <= last) {
    // A hostile boot sector may count far more clusters than the source holds.
    if (geometry.clusterOffset(c) >= volume.size) return;
    if (!isCandidate(c)) {
      c++;
      continue;
    }
    let n = 1;
    while (n < perChunk && c + n <= last && isCandidate(c + n)) n++;
    const got = readIntoAny(volume, buffer.subarray(0, n * cs), geometry.clusterOffset(c));
    const whole = Math.floor(got / cs);
    for (let i = 0; i < whole; i++) if (visit(c + i, buffer.subarray(i * cs, (i + 1) * cs)) === true) return;
    // A short read: the source ends inside the run; what is left of the last cluster is still worth a look.
    if (whole < n) {
      if (got > whole * cs) visit(c + whole, buffer.subarray(whole * cs, got));
      return;
    }
    c += n;
  }
}
