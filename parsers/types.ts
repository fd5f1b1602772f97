import type { Reader } from '../src/reader.js';
import type { Diagnostic } from '../src/diagnostics.js';

/** How sure we are of the clusters behind an entry. */
export type RunBasis = 'chain' | 'no-fat-chain' | 'contiguous-guess';

/** A run of consecutive clusters, in file order. */
export interface ClusterExtent {
  first: number;
  count: number;
}

export interface FsGeometry {
  bytesPerSector: number;
  sectorsPerCluster: number;
  clusterSize: number;
  /** Number of data clusters; valid cluster numbers are 2 .. clusterCount + 1. */
  clusterCount: number;
  /** Byte offset of cluster 2 from the start of the volume. */
  dataOffset: number;
  /** Byte offset of the first FAT from the start of the volume. */
  fatOffset: number;
  fatCount: number;
  /** Bytes of one FAT. */
  fatSize: number;
  /** Bytes the boot sector says the volume spans. */
  volumeSize: number;
  rootCluster?: number;
  label?: string;
  serial?: string;
  /** Which boot sector we trusted: 'main', 'backup', or none ('rebuilt' from surviving folders). */
  bootSector: 'main' | 'backup' | 'rebuilt';
  /** Which FAT copy we used (0-based), when there is a choice. */
  activeFat?: number;
}

export interface FsEntry {
  /** Path components of the containing folder, from the root ('' parts never appear). */
  folder: string[];
  name: string;
  isDirectory: boolean;
  /** The entry was marked deleted (FAT 0xE5, exFAT in-use bit clear), or lies under a deleted folder. */
  deleted: boolean;
  /** When the entry came from a directory cluster no live directory references. */
  orphan?: boolean;
  size: number;
  firstCluster: number;
  /** Clusters holding the file's bytes, in order; empty for empty files. */
  extents: ClusterExtent[];
  basis: RunBasis;
  mtime?: Date;
  ctime?: Date;
  atime?: Date;
  attributes: number;
  /** The first letter of a deleted 8.3 name had to be guessed. */
  nameGuessed?: boolean;
  /** A deleted entry whose first cluster the file system has since given to another file. */
  overwritten?: boolean;
  /**
   * Other first clusters this entry may really have had (FAT32 entries whose high word was
   * zeroed on delete): the planner picks the one whose content validates.
   */
  firstClusterCandidates?: number[];
  /** Facts and doubts about this entry, in words, for the report. */
  notes: string[];
}

export type FsType = 'FAT12' | 'FAT16' | 'FAT32' | 'exFAT';

export interface FileSystem {
  type: FsType;
  geometry: FsGeometry;
  /** Byte offset of a cluster from the start of the volume. */
  clusterOffset(cluster: number): number;
  /** Does the file system's own allocation (FAT / bitmap) mark this cluster used? */
  isAllocated(cluster: number): boolean;
  /**
   * Clusters a deleted file most likely occupied: `size` bytes from `firstCluster` on,
   * skipping clusters the file system has allocated to others.
   */
  guessRun(firstCluster: number, size: number): ClusterExtent[];
  entries: FsEntry[];
  diagnostics: Diagnostic[];
  /**
   * Sweep the clusters `isCandidate` offers for directories no live directory references
   * (left by a quick format) and list their files, with `orphan: true` and folder paths
   * rebuilt as far as possible; folders whose parent is lost go under `lostRoot`.
   */
  findOrphans?(isCandidate: (cluster: number) => boolean, lostRoot: string): FsEntry[];
  /**
   * The same sweep in two halves, so that it can ride along another pass over the clusters
   * (the carving scan) instead of reading the card once more: the cheap test on a free
   * cluster's first 64 bytes (bytes[at...]), then findOrphans over the clusters that passed it.
   */
  mayBeOrphanFolder?(cluster: number, bytes: Buffer, at?: number): boolean;
  findOrphansAmong?(clusters: readonly number[], lostRoot: string, bytesOf?: (cluster: number) => Buffer | undefined): FsEntry[];
}

export interface FsDriver {
  name: FsType | 'FAT';
  /** Cheap test; never throws. */
  probe(volume: Reader): boolean;
  /** Parse geometry and walk every directory; malformed structures become diagnostics. */
  open(volume: Reader): FileSystem;
}
