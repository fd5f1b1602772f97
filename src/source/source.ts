import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import type { Reader, ByteRun } from '../reader.js';
import { ExitCode, UserError } from '../errors.js';

export type SourceKind = 'image' | 'block-device';

/** Flags every source is opened with. Read-only, always: tests assert this. */
export const SOURCE_OPEN_FLAGS = fs.constants.O_RDONLY;

const SECTOR = 512;

/**
 * A card or its image, opened read-only. Reads past unreadable sectors:
 * a failing read is retried sector by sector, what cannot be read comes
 * back as zeros and its range is remembered.
 */
export class ByteSource implements Reader {
  readonly badRanges: ByteRun[] = [];
  private constructor(
    readonly path: string,
    readonly kind: SourceKind,
    readonly size: number,
    private readonly fd: number,
    /** st_rdev for block devices, st_dev for images: used to refuse writing onto the source. */
    readonly device: { dev: number; rdev: number },
  ) {}

  static open(sourcePath: string): ByteSource {
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
    return new ByteSource(sourcePath, kind, size, fd, { dev: st.dev, rdev: st.rdev });
  }

  read(offset: number, length: number): Buffer {
    if (offset >= this.size || length <= 0) return Buffer.alloc(0);
    const n = Math.min(length, this.size - offset);
    const buf = Buffer.allocUnsafe(n);
    try {
      readFully(this.fd, buf, 0, n, offset);
    } catch (err) {
      if (!isReadError(err)) throw err;
      this.readSectorBySector(buf, offset, n);
    }
    return buf;
  }

  close(): void {
    fs.closeSync(this.fd);
  }

  /** Total unreadable bytes seen so far. */
  get badBytes(): number {
    return this.badRanges.reduce((sum, r) => sum + r.length, 0);
  }

  private readSectorBySector(buf: Buffer, offset: number, n: number): void {
    for (let pos = 0; pos < n; ) {
      const sectorEnd = Math.min(n, pos + SECTOR - ((offset + pos) % SECTOR));
      try {
        readFully(this.fd, buf, pos, sectorEnd - pos, offset + pos);
      } catch (err) {
        if (!isReadError(err)) throw err;
        buf.fill(0, pos, sectorEnd);
        this.recordBad(offset + pos, sectorEnd - pos);
      }
      pos = sectorEnd;
    }
  }

  private recordBad(offset: number, length: number): void {
    const last = this.badRanges[this.badRanges.length - 1];
    if (last && last.offset + last.length === offset) last.length += length;
    else if (!this.badRanges.some((r) => r.offset <= offset && offset < r.offset + r.length)) {
      this.badRanges.push({ offset, length });
    }
  }
}

function readFully(fd: number, buf: Buffer, at: number, length: number, position: number): void {
  let done = 0;
  while (done < length) {
    const got = fs.readSync(fd, buf, at + done, length - done, position + done);
    if (got === 0) {
      buf.fill(0, at + done, at + length);
      return;
    }
    done += got;
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
