import type { DirEntry } from './dirent.js';
import { isDirectory, parseDirectory } from './dirent.js';

/**
 * A quick format rewrites the boot sector, the FATs and the root directory, but old
 * folders usually survive in the data area. A folder's first cluster starts with its
 * '.' entry (pointing at itself) and its '..' entry (pointing at its parent, 0 for the
 * root): that is how we find them and how we link them back into a tree.
 */
export interface DotEntries {
  self: number;
  parent: number;
}

/** The '.' and '..' entries that open every FAT subdirectory; null when `head` is not one. */
export function directoryStart(head: Buffer, fat32: boolean): DotEntries | null {
  if (head.length < 64) return null;
  if (head.toString('latin1', 0, 11) !== '.          ' || head.toString('latin1', 32, 43) !== '..         ') return null;
  if (!(head[11] & 0x10) || !(head[43] & 0x10)) return null;
  const cluster = (e: number) => (fat32 ? (head.readUInt16LE(e + 20) << 16) >>> 0 : 0) + head.readUInt16LE(e + 26);
  return { self: cluster(0), parent: cluster(32) };
}

export interface OrphanDirectory {
  /** Cluster where the folder was found. */
  cluster: number;
  dots: DotEntries;
  entries: DirEntry[];
}

/** DCF folder names: 100CANON, 101NIKON, 102_PANA. */
const DCF_FOLDER = /^[1-9]\d\d[0-9A-Z_]{5}$/i;

/**
 * Give every orphaned folder a path. A folder's name is in its parent's entry that points
 * at it. A root-level folder (parent 0) lost its name with the root directory: a folder
 * holding DCF folders is DCIM (noted as a guess), else it is named by its cluster. A
 * folder whose parent cannot be found hangs under `lostRoot`.
 */
export function orphanPaths(
  dirs: OrphanDirectory[],
  lostRoot: string,
  livePath: (cluster: number) => string[] | undefined = () => undefined,
): Map<number, { path: string[]; guessed: boolean }> {
  const byCluster = new Map(dirs.map((d) => [d.dots.self, d]));
  const nameOf = new Map<number, string>();
  for (const d of dirs) {
    for (const e of d.entries) {
      if (isDirectory(e) && !e.isDot && byCluster.has(e.firstCluster)) nameOf.set(e.firstCluster, e.longName ?? e.shortName);
    }
  }
  const out = new Map<number, { path: string[]; guessed: boolean }>();
  const resolve = (self: number, depth: number): { path: string[]; guessed: boolean } => {
    const known = out.get(self);
    if (known) return known;
    const d = byCluster.get(self)!;
    let result: { path: string[]; guessed: boolean };
    const own = nameOf.get(self);
    if (depth > 64) result = { path: [lostRoot, `FOLDER${self}`], guessed: true };
    else if (d.dots.parent === 0) {
      const holdsDcf = d.entries.some((e) => isDirectory(e) && !e.isDot && DCF_FOLDER.test(e.shortName));
      result = own ? { path: [own], guessed: false } : { path: [holdsDcf ? 'DCIM' : `${lostRoot}/FOLDER${self}`].flatMap((p) => p.split('/')), guessed: true };
    } else if (byCluster.has(d.dots.parent) && d.dots.parent !== self) {
      const parent = resolve(d.dots.parent, depth + 1);
      result = { path: [...parent.path, own ?? `FOLDER${self}`], guessed: parent.guessed || !own };
    } else if (livePath(d.dots.parent)) {
      // The parent's cluster now holds a live folder: cameras recreate the same tree in the same place.
      result = { path: [...livePath(d.dots.parent)!, own ?? `FOLDER${self}`], guessed: true };
    } else {
      result = { path: [lostRoot, own ?? `FOLDER${self}`], guessed: true };
    }
    out.set(self, result);
    return result;
  };
  for (const d of dirs) resolve(d.dots.self, 0);
  return out;
}

export { parseDirectory };
