import { describe, expect, it } from 'vitest';
import { OwnershipMap } from '../src/ownership.js';
import { seededRandom } from './support/random.js';

/** The free runs, one cluster at a time: what freeSpans must give. */
function naiveSpans(map: OwnershipMap, from: number, to: number): [number, number][] {
  const out: [number, number][] = [];
  for (let c = from; c <= to; c++) {
    if (map.isOwned(c)) continue;
    const last = out[out.length - 1];
    if (last && last[1] === c) last[1] = c + 1;
    else out.push([c, c + 1]);
  }
  return out;
}

describe('the cluster ownership map', () => {
  it('gives the free runs a cluster-by-cluster walk gives, byte-sized stretches and odd edges alike', () => {
    const rnd = seededRandom(3);
    let spans = 0;
    for (let round = 0; round < 200; round++) {
      const limit = 1 + rnd(600);
      const map = new OwnershipMap(limit);
      // Long owned and free stretches (whole bytes of bits), and single clusters.
      for (let c = 0; c < limit; ) {
        const n = 1 + rnd(rnd(2) ? 40 : 3);
        if (rnd(2)) map.claimExtents([{ first: c, count: n }]);
        c += n;
      }
      const from = rnd(3);
      const to = Math.max(from, limit - 1 - rnd(3) + rnd(12)); // sometimes past the map's end
      const got = [...map.freeSpans(from, to)];
      expect(got).toEqual(naiveSpans(map, from, to));
      spans += got.length;
    }
    expect(spans).toBeGreaterThan(200);
  });

  it('gives the same free runs on card-sized maps, whose long stretches are skipped a block of bytes at a time', () => {
    const rnd = seededRandom(5);
    for (let round = 0; round < 40; round++) {
      const limit = 1 + rnd(300_000);
      const map = new OwnershipMap(limit);
      // Stretches longer than a compared block (32 768 clusters), ending anywhere in a byte.
      for (let c = rnd(50); c < limit; ) {
        const n = 1 + rnd(rnd(2) ? 100_000 : 9);
        if (rnd(2)) map.claimExtents([{ first: c, count: n }]);
        c += n + rnd(rnd(2) ? 80_000 : 5);
      }
      const from = rnd(10);
      const to = Math.max(from, limit - 1 - rnd(40) + rnd(60));
      expect([...map.freeSpans(from, to)]).toEqual(naiveSpans(map, from, to));
    }
    // A stretch that ends right at, before or after a block's edge, free and owned alike.
    const block = 32_768;
    for (const edge of [block, 2 * block, 3 * block]) {
      for (let d = -9; d <= 9; d++) {
        const free = new OwnershipMap(4 * block + 100);
        free.claimExtents([{ first: edge + d, count: 1 }]);
        expect([...free.freeSpans(2, 4 * block)]).toEqual(naiveSpans(free, 2, 4 * block));
        const owned = new OwnershipMap(4 * block + 100);
        owned.claimExtents([{ first: 0, count: edge + d }]);
        expect([...owned.freeSpans(2, 4 * block)]).toEqual(naiveSpans(owned, 2, 4 * block));
      }
    }
  });

  it('claims and finds conflicts a byte at a time exactly as a cluster-by-cluster walk does, past the map\'s end too', () => {
    const rnd = seededRandom(11);
    let conflicts = 0;
    for (let round = 0; round < 300; round++) {
      const limit = 1 + rnd(500);
      const fast = new OwnershipMap(limit);
      const slow = new OwnershipMap(limit);
      for (let k = rnd(6); k > 0; k--) {
        const e = { first: rnd(limit + 20), count: 1 + rnd(rnd(2) ? 70 : 5) };
        fast.claimExtents([e]);
        for (let c = e.first; c < e.first + e.count; c++) slow.claim(c);
      }
      for (let c = 0; c < limit + 30; c++) expect(fast.isOwned(c)).toBe(slow.isOwned(c));
      const probe = Array.from({ length: 1 + rnd(3) }, () => ({ first: rnd(limit + 20), count: 1 + rnd(90) }));
      let naive = -1;
      for (const e of probe) {
        for (let c = e.first; c < e.first + e.count && naive < 0; c++) if (slow.isOwned(c)) naive = c;
        if (naive >= 0) break;
      }
      expect(fast.firstConflict(probe)).toBe(naive);
      if (naive >= 0) conflicts++;
    }
    // Both outcomes are exercised.
    expect(conflicts).toBeGreaterThan(50);
    expect(conflicts).toBeLessThan(280);
  });
});
