import type { ClusterExtent } from '../parsers/types.js';
import { isFilledWith } from '../carvers/bytes.js';

/**
 * Which clusters of one volume a recovered file already owns. One bit per cluster:
 * a 1 TB card at 32 KiB clusters is 4 MiB. Owned clusters leave the carving pool and
 * are never written twice.
 */
export class OwnershipMap {
  private readonly bits: Uint8Array;
  /** The bits as a Buffer, for runOfBytes's native compares. */
  private readonly bytes: Buffer;
  constructor(readonly clusterLimit: number) {
    this.bits = new Uint8Array((clusterLimit >> 3) + 1);
    this.bytes = Buffer.from(this.bits.buffer, this.bits.byteOffset, this.bits.length);
  }
  isOwned(c: number): boolean {
    return c < this.clusterLimit && (this.bits[c >> 3] & (1 << (c & 7))) !== 0;
  }
  claim(c: number): void {
    if (c < this.clusterLimit) this.bits[c >> 3] |= 1 << (c & 7);
  }
  /** A byte (8 clusters) at a time where the extent covers it whole: a card's files claim millions of clusters. */
  claimExtents(extents: readonly ClusterExtent[]): void {
    for (const e of extents) {
      const end = Math.min(e.first + e.count, this.clusterLimit);
      let c = Math.max(e.first, 0);
      for (; c < end && (c & 7) !== 0; c++) this.claim(c);
      for (; c + 8 <= end; c += 8) this.bits[c >> 3] = 0xff;
      for (; c < end; c++) this.claim(c);
    }
  }
  /**
   * The runs of clusters in [from, to] nobody owns, each as [first, end): a card's worth of
   * clusters is walked a byte (8 clusters) at a time where the bits allow. (The bits of the
   * last byte past clusterLimit are never set, so a whole byte reads the same as isOwned on
   * each of its clusters, on both sides of the limit.)
   */
  *freeSpans(from: number, to: number): Generator<[number, number]> {
    let c = from;
    while (c <= to) {
      while (c <= to && this.isOwned(c)) c = (c & 7) === 0 ? Math.min(this.runOfBytes(c, 0xff), to + 1) : c + 1;
      if (c > to) return;
      const start = c;
      while (c <= to && !this.isOwned(c)) c = (c & 7) === 0 ? Math.min(this.runOfBytes(c, 0), to + 1) : c + 1;
      yield [start, c];
    }
  }

  /**
   * From byte-aligned cluster c, past the bytes that are all `value` (a byte that is not
   * moves c by one cluster only, to be looked at bit by bit). Whole blocks are compared
   * natively: a fresh card's map is one long run of zeros, which a byte at a time took
   * ~5 ms of every scan's start for a 2 GiB card, in code not yet optimized.
   */
  private runOfBytes(c: number, value: 0 | 0xff): number {
    const bits = this.bits;
    let i = c >> 3;
    if (bits[i] !== value) return c + 1;
    while (i + BLOCK <= bits.length && isFilledWith(this.bytes.subarray(i, i + BLOCK), value)) i += BLOCK;
    while (i < bits.length && bits[i] === value) i++;
    return i << 3;
  }

  /** The first owned cluster among extents, or -1. */
  firstConflict(extents: readonly ClusterExtent[]): number {
    for (const e of extents) {
      const end = e.first + e.count;
      for (let c = e.first; c < end; ) {
        // A byte with no bit set clears its 8 clusters at once (bits past clusterLimit are never set).
        if ((c & 7) === 0 && c + 8 <= end && c >= 0 && this.bits[c >> 3] === 0) {
          c += 8;
          continue;
        }
        if (this.isOwned(c)) return c;
        c++;
      }
    }
    return -1;
  }
}

/** Bytes of the map compared at once by runOfBytes (32 768 clusters). */
const BLOCK = 4096;
