import fs from 'node:fs';
import type { Reader } from '../reader.js';

/**
 * A Reader over a file on disk, by offset (pread): a preview is read where the file's
 * structure says it is, never by loading a whole (possibly multi-GiB) recovered file.
 */
export class FileReader implements Reader {
  private constructor(
    private readonly fd: number,
    readonly size: number,
  ) {}

  static open(p: string): FileReader {
    const fd = fs.openSync(p, 'r');
    try {
      return new FileReader(fd, fs.fstatSync(fd).size);
    } catch (err) {
      fs.closeSync(fd);
      throw err;
    }
  }

  read(offset: number, length: number): Buffer {
    if (offset < 0 || offset >= this.size || length <= 0) return Buffer.alloc(0);
    const n = Math.min(length, this.size - offset);
    const buf = Buffer.allocUnsafe(n);
    let done = 0;
    while (done < n) {
      const got = fs.readSync(this.fd, buf, done, n - done, offset + done);
      if (got === 0) break;
      done += got;
    }
    return done === n ? buf : buf.subarray(0, done);
  }

  close(): void {
    fs.closeSync(this.fd);
  }
}

/** Run `fn` with the file open; closes it whatever happens. */
export function withFile<T>(p: string, fn: (reader: Reader) => T): T {
  const reader = FileReader.open(p);
  try {
    return fn(reader);
  } finally {
    reader.close();
  }
}
