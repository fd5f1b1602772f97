import fs from 'node:fs';
import { createRequire } from 'node:module';
import type { ByteRun } from '../reader.js';

/** lseek's whence values for holes (Linux, since 3.1). */
const SEEK_DATA = 3;
const SEEK_HOLE = 4;

/**
 * The holes of a sparse image file (`ddrescue --sparse`, `dd conv=sparse`, `cp --sparse`):
 * ranges of at least `minLength` bytes that the file system keeps no data for, and that read
 * as zeros. Found with lseek's SEEK_HOLE and SEEK_DATA through fs-ext (Node has no such seek),
 * only when the file has fewer blocks than bytes. Empty for a block device, a file that is not
 * sparse, or when anything fails (fs-ext did not build, the file system cannot tell): the
 * caller then reads everything, as always.
 */
export function holesOf(fd: number, size: number, minLength: number): ByteRun[] {
  if (process.platform !== 'linux') return [];
  let seek: (fd: number, offset: number, whence: number) => number;
  try {
    const st = fs.fstatSync(fd);
    if (!st.isFile() || st.blocks * 512 >= size) return [];
    seek = (createRequire(import.meta.url)('fs-ext') as { seekSync: typeof seek }).seekSync;
  } catch {
    return [];
  }
  const holes: ByteRun[] = [];
  try {
    for (let pos = 0; pos < size; ) {
      const hole = seek(fd, pos, SEEK_HOLE);
      if (hole >= size) break;
      const data = nextData(seek, fd, hole, size);
      if (data - hole >= minLength) holes.push({ offset: hole, length: data - hole });
      pos = data;
    }
  } catch {
    return [];
  }
  return holes;
}

/** Where data starts again at or after `from`: the end of the file when it does not (ENXIO). */
function nextData(seek: (fd: number, offset: number, whence: number) => number, fd: number, from: number, size: number): number {
  try {
    return Math.min(size, seek(fd, from, SEEK_DATA));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENXIO') return size;
    throw err;
  }
}
