import type { Reader } from '../../src/reader.js';

/** FAT entry values (exFAT specification, section 4.1). */
export const FAT_BAD = 0xfffffff7;
export const FAT_END = 0xffffffff;
/** Media descriptor entry FAT[0]; FAT[1] is FFFFFFFF. */
export const FAT_MEDIA = 0xfffffff8;

/** Bytes of FAT read at a time: a card's FAT can be tens of MiB and most of it is never needed. */
const PAGE_BYTES = 256 * 1024;

/**
 * One exFAT FAT: 32-bit entries, read in pages on first use. Unlike FAT32, an entry's value
 * means nothing for a free cluster or a NoFatChain file: the allocation bitmap is what says
 * "in use".
 */
export class ExfatFat {
  private readonly pages = new Map<number, Buffer>();

  constructor(
    private readonly volume: Reader,
    /** Byte offset of this FAT copy on the volume. */
    readonly offset: number,
    readonly clusterCount: number,
  ) {}

  get maxCluster(): number {
    return this.clusterCount + 1;
  }

  /** The entry for `cluster`: the next cluster, FAT_END, FAT_BAD, or something invalid. */
  next(cluster: number): number {
    const byte = cluster * 4;
    const page = Math.floor(byte / PAGE_BYTES);
    let buf = this.pages.get(page);
    if (!buf) {
      buf = this.volume.read(this.offset + page * PAGE_BYTES, PAGE_BYTES);
      this.pages.set(page, buf);
    }
    const at = byte - page * PAGE_BYTES;
    // A truncated image reads as free (zero) past its end.
    return at + 4 <= buf.length ? buf.readUInt32LE(at) : 0;
  }

  /** A value that points at a real cluster. */
  isLink(value: number): boolean {
    return value >= 2 && value <= this.maxCluster;
  }
}

/** The allocation bitmap: bit n (LSB first) of byte n/8 says whether cluster n + 2 is in use. */
export class AllocationBitmap {
  constructor(
    private readonly bits: Uint8Array,
    readonly clusterCount: number,
  ) {}

  isAllocated(cluster: number): boolean {
    const i = cluster - 2;
    if (i < 0 || i >= this.clusterCount) return false;
    const byte = i >>> 3;
    if (byte >= this.bits.length) return false;
    return (this.bits[byte] & (1 << (i & 7))) !== 0;
  }

  /** Clusters marked in use; for the report and sanity checks. */
  countAllocated(): number {
    let n = 0;
    const full = this.clusterCount >>> 3;
    for (let i = 0; i < full && i < this.bits.length; i++) {
      let b = this.bits[i];
      while (b) {
        b &= b - 1;
        n++;
      }
    }
    for (let c = full * 8; c < this.clusterCount; c++) if (this.isAllocated(c + 2)) n++;
    return n;
  }
}

/** One bit per cluster, allocated in pages as clusters are touched: a damaged ClusterCount costs nothing. */
export class SparseBits {
  private static readonly PAGE_BITS = 1 << 19;
  private readonly pages = new Map<number, Uint8Array>();

  /** Set the bit; returns whether it was already set. */
  testAndSet(n: number): boolean {
    const p = Math.floor(n / SparseBits.PAGE_BITS);
    let page = this.pages.get(p);
    if (!page) {
      page = new Uint8Array(SparseBits.PAGE_BITS / 8);
      this.pages.set(p, page);
    }
    const i = n - p * SparseBits.PAGE_BITS;
    const bit = 1 << (i & 7);
    const was = (page[i >>> 3] & bit) !== 0;
    page[i >>> 3] |= bit;
    return was;
  }
}
