import { describe, expect, it } from 'vitest';
import { OwnershipMap } from '../src/ownership.js';

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
    let seed = 3;
    const rnd = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed % n);
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
});
