import { describe, expect, it } from 'vitest';
import { contiguousGuess } from '../parsers/clusters.js';
import { FatTable } from '../parsers/fat/table.js';
import type { ClusterExtent } from '../parsers/types.js';
import { seededRandom } from './support/random.js';

/** The guess one cluster at a time: the first cluster, then every one not allocated, until the size is covered. */
function naiveGuess(first: number, size: number, clusterSize: number, maxCluster: number, isAllocated: (c: number) => boolean): ClusterExtent[] {
  const extents: ClusterExtent[] = [];
  let taken = 0;
  for (let c = first; taken < Math.ceil(size / clusterSize) && c <= maxCluster; c++) {
    if (c !== first && isAllocated(c)) continue;
    const last = extents[extents.length - 1];
    if (last && last.first + last.count === c) last.count++;
    else extents.push({ first: c, count: 1 });
    taken++;
  }
  return extents;
}

describe('the contiguous guess of a deleted file\'s clusters', () => {
  it('takes free stretches whole (FatTable.freeRunEnd) and gives what the cluster-by-cluster guess gives, with the table\'s own search and without', () => {
    const rnd = seededRandom(7);
    let skippedSome = 0;
    for (let round = 0; round < 300; round++) {
      const clusterCount = 10 + rnd(400);
      // A FAT16 with long free and used stretches, and single used clusters in between.
      const raw = Buffer.alloc((clusterCount + 2) * 2);
      for (let c = 2; c < clusterCount + 2; ) {
        const n = 1 + rnd(rnd(2) ? (rnd(3) ? 30 : 200) : 3);
        if (rnd(3) === 0) for (let k = c; k < Math.min(c + n, clusterCount + 2); k++) raw.writeUInt16LE(k + 1, k * 2);
        c += n;
      }
      const fat = FatTable.decode(raw, 'FAT16', clusterCount);
      for (let c = 0; c < clusterCount + 10; c++) {
        // Short asks, and long ones that span whole 64-entry blocks (compared at once).
        const to = c + rnd(rnd(2) ? 50 : 400);
        let naive = c;
        while (naive < to && fat.isFree(naive)) naive++;
        expect(fat.freeRunEnd(c, to)).toBe(naive);
      }
      // Sometimes a volume says it has more clusters than the table holds: those read as used.
      const maxCluster = clusterCount + 1 + (rnd(4) === 0 ? rnd(20) : 0);
      const isAllocated = (c: number) => !fat.isFree(c);
      for (let k = 0; k < 10; k++) {
        const first = 2 + rnd(clusterCount + 5);
        const size = rnd(3) === 0 ? 0 : 1 + rnd(512 * 120);
        const slow = naiveGuess(first, size, 512, maxCluster, isAllocated);
        expect(contiguousGuess(first, size, 512, maxCluster, isAllocated)).toEqual(slow);
        expect(contiguousGuess(first, size, 512, maxCluster, isAllocated, (from, to) => fat.freeRunEnd(from, to))).toEqual(slow);
        if (slow.length > 1) skippedSome++;
      }
    }
    // Guesses that had to step over used clusters are among them.
    expect(skippedSome).toBeGreaterThan(200);
  });
});
