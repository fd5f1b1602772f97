import type { FatType } from './boot.js';

/** What a FAT entry means, whatever the FAT width. */
export const enum Link {
  Free = 0,
}

/**
 * One FAT copy decoded into 32-bit entries, so FAT12/16/32 share one interface.
 * End-of-chain and bad-cluster markers are normalised to the FAT32 values.
 */
export class FatTable {
  static readonly EOC = 0x0ffffff8;
  static readonly BAD = 0x0ffffff7;

  private constructor(readonly entries: Uint32Array, readonly type: FatType) {}

  /**
   * `consume`: the caller owns `raw` and gives it up (not a view a reader handed out: that
   * would change the reader's bytes), and a FAT32 is decoded where it lies (a big card's FAT
   * is megabytes, and fresh memory costs a page fault per 4 KiB).
   */
  static decode(raw: Buffer, type: FatType, clusterCount: number, consume = false): FatTable {
    const n = clusterCount + 2;
    if (consume && type === 'FAT32' && LITTLE_ENDIAN && raw.byteOffset % 4 === 0 && raw.length >= n * 4) {
      const entries = new Uint32Array(raw.buffer, raw.byteOffset, n);
      normaliseFat32(raw, entries, n);
      return new FatTable(entries, type);
    }
    const entries = new Uint32Array(n);
    if (type === 'FAT12') {
      for (let c = 0; c < n; c++) {
        const at = c + (c >> 1);
        if (at + 1 >= raw.length) break;
        const pair = raw[at] | (raw[at + 1] << 8);
        entries[c] = normalise(c & 1 ? pair >> 4 : pair & 0xfff, 0xff7);
      }
    } else if (type === 'FAT16') {
      const limit = Math.min(n, raw.length >> 1);
      for (let c = 0; c < limit; c++) entries[c] = normalise(raw.readUInt16LE(c * 2), 0xfff7);
    } else {
      const limit = Math.min(n, raw.length >> 2);
      // A FAT32 of a big card has millions of entries: read them as words where the host's order allows.
      if (LITTLE_ENDIAN && raw.byteOffset % 4 === 0) {
        entries.set(new Uint32Array(raw.buffer, raw.byteOffset, limit));
        normaliseFat32(raw, entries, limit);
      } else {
        for (let c = 0; c < limit; c++) entries[c] = normalise(raw.readUInt32LE(c * 4) & 0x0fffffff, 0x0ffffff7);
      }
    }
    return new FatTable(entries, type);
  }

  get maxCluster(): number {
    return this.entries.length - 1;
  }

  next(cluster: number): number {
    return this.entries[cluster];
  }

  isFree(cluster: number): boolean {
    return this.entries[cluster] === Link.Free;
  }

  /** The first cluster in [from, to) that is not free (isFree false, past the table too), or `to`. */
  freeRunEnd(from: number, to: number): number {
    const entries = this.entries;
    const limit = Math.min(to, entries.length);
    let c = from;
    while (c < limit && entries[c] === Link.Free) c++;
    return c;
  }

  isEnd(value: number): boolean {
    return value >= FatTable.EOC;
  }

  /** Links that point outside the volume: a measure of how damaged a copy is. */
  countInvalidLinks(): number {
    let bad = 0;
    const max = this.maxCluster;
    for (let c = 2; c <= max; c++) {
      const v = this.entries[c];
      if (v === 1 || (v > max && v < FatTable.BAD)) bad++;
    }
    return bad;
  }

  countDifferences(other: FatTable): number {
    let diff = 0;
    for (let c = 2; c < this.entries.length; c++) if (this.entries[c] !== other.entries[c]) diff++;
    return diff;
  }
}

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** FAT32 entries a block compare clears at once (4 KiB of the table). */
const ZERO_RUN = 1024;
const ZERO_BYTES = Buffer.alloc(ZERO_RUN * 4);

/**
 * FAT32 words as they lie in `raw` (little-endian) to the table's values: the top four bits
 * dropped, end and bad markers made one. Free entries (zero) need nothing, and a block of them
 * is skipped by a native compare: a fresh or quick-formatted card's table is nearly all zeros,
 * and a word at a time took 10-15 ms of every run on a 2 GiB card (524 288 entries), in code
 * not yet optimized.
 */
function normaliseFat32(raw: Buffer, entries: Uint32Array, n: number): void {
  for (let c = 0; c < n; c++) {
    if ((c & (ZERO_RUN - 1)) === 0 && c + ZERO_RUN <= n && raw.compare(ZERO_BYTES, 0, ZERO_BYTES.length, c * 4, c * 4 + ZERO_BYTES.length) === 0) {
      c += ZERO_RUN - 1;
      continue;
    }
    const v = entries[c] & 0x0fffffff;
    entries[c] = v < 0x0ffffff7 ? v : normalise(v, 0x0ffffff7);
  }
}

function normalise(value: number, badMarker: number): number {
  if (value > badMarker) return FatTable.EOC;
  if (value === badMarker) return FatTable.BAD;
  return value;
}
