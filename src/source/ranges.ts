import type { ByteRun } from '../reader.js';

/**
 * Sorted, merged byte ranges: the unreadable areas of a source. Adjacent and
 * overlapping ranges become one, so the list stays short on a card with a bad area.
 */
export class RangeSet {
  private readonly items: ByteRun[] = [];

  /** The ranges, sorted by offset, none touching another. Do not modify. */
  get ranges(): readonly ByteRun[] {
    return this.items;
  }

  get totalBytes(): number {
    return this.items.reduce((n, r) => n + r.length, 0);
  }

  add(offset: number, length: number): void {
    if (length <= 0) return;
    let start = offset;
    let end = offset + length;
    // First range that ends at or after `start` (touching counts: they merge).
    const i = this.firstEndingAtOrAfter(start);
    let j = i;
    while (j < this.items.length && this.items[j].offset <= end) {
      start = Math.min(start, this.items[j].offset);
      end = Math.max(end, this.items[j].offset + this.items[j].length);
      j++;
    }
    this.items.splice(i, j - i, { offset: start, length: end - start });
  }

  /** The parts of [offset, offset + length) that lie in the set, in order. */
  within(offset: number, length: number): ByteRun[] {
    const out: ByteRun[] = [];
    const end = offset + length;
    for (let i = this.firstEndingAfter(offset); i < this.items.length && this.items[i].offset < end; i++) {
      const r = this.items[i];
      const s = Math.max(offset, r.offset);
      const e = Math.min(end, r.offset + r.length);
      if (e > s) out.push({ offset: s, length: e - s });
    }
    return out;
  }

  /** Does any range overlap [offset, offset + length)? */
  overlaps(offset: number, length: number): boolean {
    const i = this.firstEndingAfter(offset);
    return i < this.items.length && this.items[i].offset < offset + length;
  }

  /** Index of the first range whose end is > offset. */
  private firstEndingAfter(offset: number): number {
    let lo = 0;
    let hi = this.items.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.items[mid].offset + this.items[mid].length <= offset) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Index of the first range whose end is >= offset. */
  private firstEndingAtOrAfter(offset: number): number {
    let lo = 0;
    let hi = this.items.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.items[mid].offset + this.items[mid].length < offset) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}

/** Sort and merge ranges (touching ones too). */
export function mergeRanges(ranges: readonly ByteRun[]): ByteRun[] {
  const set = new RangeSet();
  for (const r of ranges) set.add(r.offset, r.length);
  return [...set.ranges];
}

/**
 * The unreadable parts of a file: where its runs (absolute ranges on the source, in file
 * order) meet the source's bad ranges. Absolute source offsets, in file order.
 */
export function unreadableParts(runs: readonly ByteRun[], bad: readonly ByteRun[]): ByteRun[] {
  if (bad.length === 0) return [];
  const set = setOf(bad);
  return runs.flatMap((r) => set.within(r.offset, r.length));
}

/** The offset within the file (0 = its first byte) of its first unreadable byte, or -1. */
export function firstUnreadableAt(runs: readonly ByteRun[], bad: readonly ByteRun[]): number {
  if (bad.length === 0) return -1;
  const set = setOf(bad);
  let pos = 0;
  for (const r of runs) {
    const hit = set.within(r.offset, r.length)[0];
    if (hit) return pos + (hit.offset - r.offset);
    pos += r.length;
  }
  return -1;
}

function setOf(ranges: readonly ByteRun[]): RangeSet {
  const set = new RangeSet();
  for (const r of ranges) set.add(r.offset, r.length);
  return set;
}

/**
 * A reader that knows where its source could not be read (ByteSource does): duck-typed so
 * parsers, carvers and the planner keep taking a plain Reader.
 */
export interface BadRangeAware {
  readonly badRanges: readonly ByteRun[];
}

export function badRangesOf(reader: unknown): readonly ByteRun[] {
  const list = (reader as Partial<BadRangeAware> | null)?.badRanges;
  return Array.isArray(list) ? list : [];
}
