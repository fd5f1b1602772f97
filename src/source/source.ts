import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import type { Reader, ByteRun } from '../reader.js';
import { ExitCode, UserError } from '../errors.js';
import { RangeSet } from './ranges.js';
import { holesOf } from './holes.js';

export type SourceKind = 'image' | 'block-device';

/** Flags every source is opened with. Read-only, always: tests assert this. */
export const SOURCE_OPEN_FLAGS = fs.constants.O_RDONLY;

const SECTOR = 512;
/** A failed large read is retried in pieces of this size first, then sector by sector only where a piece fails. */
const PIECE = 64 * 1024;
/** Holes shorter than this are not worth listing: the scan skips only whole chunks of zeros. */
const MIN_HOLE = 1024 * 1024;

/** fs.readSync's shape: tests inject read failures through it. */
export type ReadSyncFn = (fd: number, buffer: Buffer, offset: number, length: number, position: number) => number;

export interface SourceOptions {
  /** Ranges already known to be unreadable (a ddrescue map): never read, zeros, reported. */
  knownBad?: readonly ByteRun[];
  /** The read system call (default fs.readSync). */
  readSync?: ReadSyncFn;
}

/**
 * A card or its image, opened read-only. Reads past unreadable sectors: a failing read
 * is retried in 64 KiB pieces, a failing piece sector by sector; what cannot be read
 * comes back as zeros and its range is remembered (merged), and is not read again.
 */
export class ByteSource implements Reader {
  private readonly bad = new RangeSet();
  /** Read system calls made, and how many of them failed: what a bad area cost. */
  readonly stats = { calls: 0, failed: 0 };
  private constructor(
    readonly path: string,
    readonly kind: SourceKind,
    readonly size: number,
    private readonly fd: number,
    /** st_rdev for block devices, st_dev for images: used to refuse writing onto the source. */
    readonly device: { dev: number; rdev: number },
    private readonly readSync: ReadSyncFn,
  ) {}

  static open(sourcePath: string, options: SourceOptions = {}): ByteSource {
    const st = statSource(sourcePath);
    let fd: number;
    try {
      fd = fs.openSync(sourcePath, SOURCE_OPEN_FLAGS);
    } catch (err) {
      throw sourceError(sourcePath, err);
    }
    const kind: SourceKind = st.isBlockDevice() ? 'block-device' : 'image';
    const size = kind === 'block-device' ? blockDeviceSize(fd, sourcePath) : st.size;
    if (size === 0) {
      fs.closeSync(fd);
      throw new UserError(`${sourcePath}: the ${kind === 'image' ? 'file' : 'device'} is empty (0 bytes); nothing to recover from`, ExitCode.source);
    }
    const source = new ByteSource(sourcePath, kind, size, fd, { dev: st.dev, rdev: st.rdev }, options.readSync ?? fs.readSync);
    for (const r of options.knownBad ?? []) {
      const end = Math.min(size, r.offset + r.length);
      if (r.offset < end) source.bad.add(r.offset, end - r.offset);
    }
    return source;
  }

  /** Unreadable ranges seen so far (and those a bad-sector map gave), sorted and merged. */
  get badRanges(): readonly ByteRun[] {
    return this.bad.ranges;
  }

  /** Total unreadable bytes seen so far. */
  get badBytes(): number {
    return this.bad.totalBytes;
  }

  read(offset: number, length: number): Buffer {
    if (offset >= this.size || length <= 0) return Buffer.alloc(0);
    const n = Math.min(length, this.size - offset);
    return this.fill(Buffer.allocUnsafe(n), offset, n);
  }

  /** The holes of a sparse image file: read as zeros without being read (src/source/holes.ts). */
  holes(): readonly ByteRun[] {
    if (this.readSync !== fs.readSync) return [];
    this.holeRuns ??= holesOf(this.fd, this.size, MIN_HOLE);
    return this.holeRuns;
  }

  private holeRuns?: ByteRun[];

  directFile(): { path: string; offset: number } | undefined {
    if (this.readSync !== fs.readSync || this.bad.totalBytes > 0 || this.stats.failed > 0) return undefined;
    return { path: this.path, offset: 0 };
  }

  /** Read into a buffer the caller reuses (the scan's chunks): no fresh 8 MiB allocation per read. */
  readInto(target: Buffer, offset: number): number {
    if (offset >= this.size) return 0;
    const n = Math.min(target.length, this.size - offset);
    this.fill(target, offset, n);
    return n;
  }

  private fill(buf: Buffer, offset: number, n: number): Buffer {
    let pos = offset;
    // Known bad areas are not read again: on a failing card every failed read can take seconds.
    for (const known of this.bad.within(offset, n)) {
      if (known.offset > pos) this.readSpan(buf, offset, pos, known.offset);
      buf.fill(0, known.offset - offset, known.offset + known.length - offset);
      pos = known.offset + known.length;
    }
    if (pos < offset + n) this.readSpan(buf, offset, pos, offset + n);
    return buf;
  }

  close(): void {
    fs.closeSync(this.fd);
  }

  /** Fill buf[pos - base, end - base) from the source, working around read errors. */
  private readSpan(buf: Buffer, base: number, pos: number, end: number): void {
    while (pos < end) {
      const want = end - pos;
      const got = this.tryRead(buf, base, pos, want);
      pos += got;
      if (pos >= end) return;
      // A read that returned nothing says only that something in it failed: find the failing piece.
      // (Linux returns the bytes before a bad page first, so then the failure is right at `pos`.)
      if (got === 0 && want > PIECE) {
        pos = this.firstFailingPiece(buf, base, pos, end);
        if (pos >= end) return;
      }
      const pieceEnd = Math.min(end, (Math.floor(pos / PIECE) + 1) * PIECE);
      this.sectorBySector(buf, base, pos, pieceEnd);
      pos = pieceEnd;
    }
  }

  private firstFailingPiece(buf: Buffer, base: number, pos: number, end: number): number {
    while (pos < end) {
      const pieceEnd = Math.min(end, (Math.floor(pos / PIECE) + 1) * PIECE);
      const got = this.tryRead(buf, base, pos, pieceEnd - pos);
      if (got < pieceEnd - pos) return pos + got;
      pos = pieceEnd;
    }
    return end;
  }

  private sectorBySector(buf: Buffer, base: number, pos: number, end: number): void {
    while (pos < end) {
      const sectorStart = pos - (pos % SECTOR);
      const sectorEnd = Math.min(end, sectorStart + SECTOR);
      const got = this.tryRead(buf, base, pos, sectorEnd - pos);
      if (got < sectorEnd - pos) {
        // The whole sector is lost, not only the bytes asked for: later reads of it give the same zeros.
        buf.fill(0, Math.max(sectorStart, base) - base, sectorEnd - base);
        this.bad.add(sectorStart, Math.min(this.size, sectorStart + SECTOR) - sectorStart);
      }
      pos = sectorEnd;
    }
  }

  /** Read until `length` bytes or the first read error; returns the bytes read. Past the end reads as zeros. */
  private tryRead(buf: Buffer, base: number, position: number, length: number): number {
    const at = position - base;
    let done = 0;
    while (done < length) {
      let got: number;
      this.stats.calls++;
      try {
        got = this.readSync(this.fd, buf, at + done, length - done, position + done);
      } catch (err) {
        if (!isReadError(err)) throw err;
        this.stats.failed++;
        return done;
      }
      if (got === 0) {
        buf.fill(0, at + done, at + length);
        return length;
      }
      done += got;
    }
    return done;
  }
}

function isReadError(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException)?.code;
  return code === 'EIO' || code === 'ENXIO' || code === 'EREMOTEIO' || code === 'EILSEQ';
}

function statSource(sourcePath: string): fs.Stats {
  let st: fs.Stats;
  try {
    st = fs.statSync(sourcePath);
  } catch (err) {
    throw sourceError(sourcePath, err);
  }
  if (st.isDirectory()) {
    throw new UserError(`${sourcePath} is a directory; give a card image file or a device such as /dev/sdX`, ExitCode.source);
  }
  if (!st.isFile() && !st.isBlockDevice()) {
    throw new UserError(`${sourcePath} is neither a regular file nor a block device`, ExitCode.source);
  }
  if (st.isFile() && st.size === 0) {
    throw new UserError(`${sourcePath}: the file is empty (0 bytes); nothing to recover from`, ExitCode.source);
  }
  return st;
}

function sourceError(sourcePath: string, err: unknown): UserError {
  const code = (err as NodeJS.ErrnoException)?.code;
  if (code === 'ENOENT') return new UserError(`${sourcePath}: no such file or device`, ExitCode.source);
  if (code === 'EACCES' || code === 'EPERM') {
    return new UserError(
      `${sourcePath}: permission denied. Run as root (sudo) or add yourself to the 'disk' group (sudo usermod -aG disk $USER, then log in again)`,
      ExitCode.source,
    );
  }
  if (code === 'ENOMEDIUM') return new UserError(`${sourcePath}: no medium in the reader; insert the card`, ExitCode.source);
  return new UserError(`${sourcePath}: cannot open (${code ?? String(err)})`, ExitCode.source);
}

/**
 * fstat reports 0 for block devices; seeking to the end gives the size.
 * fs-ext is a native addon: if it did not build, sysfs still knows the size.
 */
function blockDeviceSize(fd: number, devicePath: string): number {
  const SEEK_END = 2;
  try {
    const require = createRequire(import.meta.url);
    const fsExt = require('fs-ext') as { seekSync(fd: number, offset: number, whence: number): number };
    const size = fsExt.seekSync(fd, 0, SEEK_END);
    fsExt.seekSync(fd, 0, 0);
    if (size > 0) return size;
  } catch {
    // fall through to sysfs
  }
  return sysfsSize(devicePath);
}

export function sysfsSize(devicePath: string): number {
  const name = path.basename(fs.realpathSync(devicePath));
  const text = fs.readFileSync(`/sys/class/block/${name}/size`, 'utf8');
  return Number.parseInt(text.trim(), 10) * 512;
}
