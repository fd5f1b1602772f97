/**
 * The one way bytes reach parsers and carvers: an offset/length read over something
 * of known size. Parsers and carvers never open paths; they get a Reader.
 */
export interface Reader {
  /** Total readable bytes. */
  readonly size: number;
  /**
   * Read `length` bytes at `offset`. Returns fewer bytes only at the end of the
   * reader; unreadable sectors come back zero-filled (the source records them).
   */
  read(offset: number, length: number): Buffer;
  /**
   * Optional: fill `target` from `offset` (as many bytes as fit, fewer at the end) and
   * return how many were read. Lets the scan reuse one buffer instead of allocating per read.
   */
  readInto?(target: Buffer, offset: number): number;
  /**
   * Optional: the file whose plain reads give these bytes (offset 0 here is `offset` there),
   * for a read-ahead thread; undefined when reads need this reader's care (unreadable
   * sectors met or known, reads injected by a test).
   */
  directFile?(): { path: string; offset: number } | undefined;
  /**
   * Optional: ranges known to read as zeros without being read (the holes of a sparse image
   * file), sorted. A scan need not read or look at them: no file starts in zeros.
   */
  holes?(): readonly ByteRun[];
  /**
   * Optional: up to `length` bytes at `offset`, fewer when more would cost a copy (at least
   * 64 unless the reader ends sooner). For searches that take their input in any slices.
   */
  readSome?(offset: number, length: number): Buffer;
}

/** readInto when the reader has it, else a copy of read(). */
export function readIntoAny(reader: Reader, target: Buffer, offset: number): number {
  if (reader.readInto) return reader.readInto(target, offset);
  const got = reader.read(offset, target.length);
  got.copy(target);
  return got.length;
}

/** readSome when the reader has it (a view of what it holds, no copy), else read(). */
export function readSomeAny(reader: Reader, offset: number, length: number): Buffer {
  return reader.readSome ? reader.readSome(offset, length) : reader.read(offset, length);
}

/** A window onto another reader: a partition inside a disk, a file inside a volume. */
export class SliceReader implements Reader {
  readonly size: number;
  constructor(private readonly base: Reader, readonly offset: number, size: number) {
    this.size = Math.max(0, Math.min(size, base.size - offset));
  }
  read(offset: number, length: number): Buffer {
    if (offset >= this.size || length <= 0) return Buffer.alloc(0);
    const n = Math.min(length, this.size - offset);
    return this.base.read(this.offset + offset, n);
  }

  readInto(target: Buffer, offset: number): number {
    if (offset >= this.size) return 0;
    const n = Math.min(target.length, this.size - offset);
    return readIntoAny(this.base, n === target.length ? target : target.subarray(0, n), this.offset + offset);
  }

  directFile(): { path: string; offset: number } | undefined {
    const base = this.base.directFile?.();
    return base && { path: base.path, offset: base.offset + this.offset };
  }
}

export interface ByteRun {
  /** Byte offset on the underlying reader. */
  offset: number;
  length: number;
}

/** Presents byte runs scattered over a reader as one contiguous file. */
export class RunsReader implements Reader {
  readonly size: number;
  private readonly starts: number[] = [];
  constructor(private readonly base: Reader, private readonly runs: readonly ByteRun[]) {
    let total = 0;
    for (const r of runs) {
      this.starts.push(total);
      total += r.length;
    }
    this.size = total;
  }
  read(offset: number, length: number): Buffer {
    if (offset >= this.size || length <= 0) return Buffer.alloc(0);
    const end = Math.min(this.size, offset + length);
    const parts: Buffer[] = [];
    let i = upperBound(this.starts, offset) - 1;
    let pos = offset;
    while (pos < end && i < this.runs.length) {
      const run = this.runs[i];
      const within = pos - this.starts[i];
      const take = Math.min(run.length - within, end - pos);
      parts.push(this.base.read(run.offset + within, take));
      pos += take;
      i++;
    }
    return parts.length === 1 ? parts[0] : Buffer.concat(parts);
  }

  readInto(target: Buffer, offset: number): number {
    if (offset >= this.size) return 0;
    const end = Math.min(this.size, offset + target.length);
    let i = upperBound(this.starts, offset) - 1;
    let pos = offset;
    while (pos < end && i < this.runs.length) {
      const run = this.runs[i];
      const within = pos - this.starts[i];
      const take = Math.min(run.length - within, end - pos);
      const got = readIntoAny(this.base, target.subarray(pos - offset, pos - offset + take), run.offset + within);
      pos += got;
      if (got < take) break;
      i++;
    }
    return pos - offset;
  }
}

/**
 * Small reads near each other through a few cached blocks; counts what it fetched (the
 * sample-table reassembly's trials). What a read returned stays valid: a block is never
 * overwritten, only dropped.
 */
export class CachedReader implements Reader {
  fetched = 0;
  private readonly blocks = new Map<number, Buffer>();
  constructor(
    private readonly base: Reader,
    private readonly block = 256 * 1024,
    private readonly keep = 16,
  ) {}
  get size(): number {
    return this.base.size;
  }
  read(offset: number, length: number): Buffer {
    if (offset >= this.base.size || length <= 0) return Buffer.alloc(0);
    const end = Math.min(this.base.size, offset + length);
    const first = Math.floor(offset / this.block);
    const last = Math.floor((end - 1) / this.block);
    if (first === last) return this.get(first).subarray(offset - first * this.block, end - first * this.block);
    if (last - first > 4) {
      this.fetched += end - offset;
      return this.base.read(offset, end - offset);
    }
    const parts: Buffer[] = [];
    for (let i = first; i <= last; i++) {
      const b = this.get(i);
      const from = i === first ? offset - first * this.block : 0;
      const to = i === last ? end - last * this.block : b.length;
      parts.push(b.subarray(from, to));
    }
    return Buffer.concat(parts);
  }
  private get(i: number): Buffer {
    let b = this.blocks.get(i);
    if (b) {
      this.blocks.delete(i);
      this.blocks.set(i, b);
      return b;
    }
    b = this.base.read(i * this.block, this.block);
    this.fetched += b.length;
    this.blocks.set(i, b);
    if (this.blocks.size > this.keep) this.blocks.delete(this.blocks.keys().next().value!);
    return b;
  }
}

/** Index of the first element greater than `value` in a sorted array. */
function upperBound(sorted: number[], value: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (sorted[mid] <= value) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** A reader over an in-memory buffer: tests, and small structures already read. */
export class BufferReader implements Reader {
  constructor(private readonly buf: Buffer) {}
  get size(): number {
    return this.buf.length;
  }
  read(offset: number, length: number): Buffer {
    if (offset >= this.buf.length || length <= 0) return Buffer.alloc(0);
    return this.buf.subarray(offset, Math.min(this.buf.length, offset + length));
  }
}
