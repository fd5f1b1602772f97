import type { Reader } from '../src/reader.js';

/**
 * Small reads over a Reader through one cached window. Structure walkers (IFDs, boxes,
 * marker segments) read a few bytes at a time near each other; going to the Reader for
 * each would cost a system call on a device. Reads past the end come back short, never throw.
 */
export class ByteSource {
  private winStart = 0;
  private win: Buffer = Buffer.alloc(0);

  constructor(
    readonly reader: Reader,
    private readonly windowSize = 64 * 1024,
  ) {}

  get size(): number {
    return this.reader.size;
  }

  /** Up to `length` bytes at `offset` (fewer at the end of the reader). */
  bytes(offset: number, length: number): Buffer {
    if (offset < 0 || length <= 0 || !Number.isFinite(offset) || offset >= this.reader.size) return Buffer.alloc(0);
    if (offset >= this.winStart && offset + length <= this.winStart + this.win.length) {
      return this.win.subarray(offset - this.winStart, offset - this.winStart + length);
    }
    if (length > this.windowSize / 2) return this.reader.read(offset, length);
    this.winStart = offset;
    this.win = this.reader.read(offset, this.windowSize);
    return this.win.subarray(0, Math.min(length, this.win.length));
  }

  u8(offset: number): number | undefined {
    const b = this.bytes(offset, 1);
    return b.length === 1 ? b[0] : undefined;
  }

  u16(offset: number, le: boolean): number | undefined {
    const b = this.bytes(offset, 2);
    if (b.length < 2) return undefined;
    return le ? b.readUInt16LE(0) : b.readUInt16BE(0);
  }

  u32(offset: number, le: boolean): number | undefined {
    const b = this.bytes(offset, 4);
    if (b.length < 4) return undefined;
    return le ? b.readUInt32LE(0) : b.readUInt32BE(0);
  }

  /** A 64-bit unsigned value, or undefined when it does not fit a safe integer. */
  u64(offset: number, le: boolean): number | undefined {
    const b = this.bytes(offset, 8);
    if (b.length < 8) return undefined;
    const v = le ? b.readBigUInt64LE(0) : b.readBigUInt64BE(0);
    return v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : undefined;
  }

  ascii(offset: number, length: number): string {
    return this.bytes(offset, length).toString('latin1');
  }
}

/** Four bytes that can be a FourCC: printable ASCII (space allowed, as in 'qt  '). */
export function isFourCC(b: Buffer, at = 0): boolean {
  if (b.length < at + 4) return false;
  for (let i = at; i < at + 4; i++) if (b[i] < 0x20 || b[i] > 0x7e) return false;
  return true;
}

/** Text of a NUL-terminated field, trimmed: EXIF strings carry padding and NULs. */
export function cString(b: Buffer): string {
  const nul = b.indexOf(0);
  return (nul >= 0 ? b.subarray(0, nul) : b).toString('latin1').trim();
}

const FILL_REFERENCE = 64 * 1024;
const zeros = Buffer.alloc(FILL_REFERENCE, 0x00);
const ones = Buffer.alloc(FILL_REFERENCE, 0xff);

/** Is every byte of `b` equal to `value` (0x00 or 0xFF)? A native compare, for padding checks on large tails. */
export function isFilledWith(b: Buffer, value: 0x00 | 0xff): boolean {
  const ref = value === 0 ? zeros : ones;
  for (let at = 0; at < b.length; at += FILL_REFERENCE) {
    const n = Math.min(FILL_REFERENCE, b.length - at);
    if (!b.subarray(at, at + n).equals(ref.subarray(0, n))) return false;
  }
  return true;
}
