import type { Reader } from '../../src/reader.js';
import { directoryStart } from './orphans.js';
import { parseDirectory, isDirectory } from './dirent.js';

const SECTOR = 512;
const SCAN_CHUNK = 4 * 1024 * 1024;
const MAX_DIRS = 4096;

/** A folder found by its '.' entry: where it sits and which cluster it says it is. */
export interface FoundDirectory {
  offset: number;
  self: number;
  parent: number;
}

/** Every sector of `volume` that opens a FAT subdirectory. */
export function findDirectoryStarts(volume: Reader): FoundDirectory[] {
  const found: FoundDirectory[] = [];
  for (let pos = 0; pos < volume.size && found.length < MAX_DIRS; pos += SCAN_CHUNK) {
    const buf = volume.read(pos, SCAN_CHUNK);
    for (let at = 0; at + 64 <= buf.length; at += SECTOR) {
      if (buf[at] !== 0x2e || buf[at + 32] !== 0x2e) continue;
      const dots = directoryStart(buf.subarray(at, at + 64), true);
      if (dots && dots.self >= 2) found.push({ offset: pos + at, ...dots });
    }
  }
  return found;
}

export interface SolvedGeometry {
  clusterSize: number;
  /** Byte offset of cluster 2. */
  dataOffset: number;
  /** How many found folders agree with it. */
  agreeing: number;
  found: number;
}

/**
 * Each folder's '.' entry says "I am cluster c" and we see it at byte X, so
 * X = dataOffset + (c − 2) × clusterSize. The cluster size that makes the most
 * folders agree on one data offset is the old geometry. Two agreeing folders at least.
 */
export function solveGeometry(dirs: FoundDirectory[]): SolvedGeometry | null {
  // FAT16 folders keep a zero high word; reading it as FAT32 may misread garbage there, so try both.
  let best: SolvedGeometry | null = null;
  for (let cs = SECTOR; cs <= 256 * 1024; cs *= 2) {
    for (const mask of [0xffffffff, 0xffff]) {
      const votes = new Map<number, number>();
      for (const d of dirs) {
        const self = d.self & mask;
        if (self < 2) continue;
        const base = d.offset - (self - 2) * cs;
        if (base >= 0) votes.set(base, (votes.get(base) ?? 0) + 1);
      }
      for (const [dataOffset, agreeing] of votes) {
        if (agreeing >= 2 && (!best || agreeing > best.agreeing)) best = { clusterSize: cs, dataOffset, agreeing, found: dirs.length };
      }
    }
  }
  return best && best.agreeing >= Math.ceil(dirs.length * 0.6) ? best : null;
}

/** Does this run of entries name one of the root-level folders we found? Then it is the root directory. */
export function looksLikeRoot(bytes: Buffer, rootLevel: Set<number>): boolean {
  const parsed = parseDirectory(bytes, true);
  return parsed.entries.some((e) => isDirectory(e) && !e.isDot && rootLevel.has(e.firstCluster));
}
