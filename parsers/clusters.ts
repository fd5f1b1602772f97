import type { ClusterExtent } from './types.js';

/** Append a cluster to extents, merging with the last one when consecutive. */
export function pushCluster(extents: ClusterExtent[], cluster: number): void {
  const last = extents[extents.length - 1];
  if (last && last.first + last.count === cluster) last.count++;
  else extents.push({ first: cluster, count: 1 });
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
): ClusterExtent[] {
  const need = Math.ceil(size / clusterSize);
  const extents: ClusterExtent[] = [];
  let taken = 0;
  for (let c = firstCluster; taken < need && c <= maxCluster; c++) {
    if (c !== firstCluster && isAllocated(c)) continue;
    pushCluster(extents, c);
    taken++;
  }
  return extents;
}
