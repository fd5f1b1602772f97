import type { ByteRun } from './reader.js';
import type { RunBasis } from '../parsers/types.js';

export type Provenance = 'allocated' | 'deleted' | 'orphan' | 'carved';
export type Basis = RunBasis | 'structure' | 'reassembled';
export type Status = 'ok' | 'unverified' | 'damaged';

export interface Validation {
  ok: boolean;
  /** Which walker judged it ('jpeg', 'bmff', ...). */
  by?: string;
  reason?: string;
  /** Bytes that are structurally valid from the start, when the walker could tell. */
  validUpTo?: number;
  /** Reassembled through sample tables: the fraction of the file's bytes whose place the checks settle (0–1). */
  confidence?: number;
}

/** A file we will write, whatever its origin. See docs/report.md. */
export interface RecoveredFile {
  /** Volume index (0 = no partition table), or -1 for space outside every volume. */
  volume: number;
  provenance: Provenance;
  name: string;
  /** Folder components where the file system put it. */
  folder: string[];
  /** '/DCIM/100CANON/IMG_0001.JPG' when a directory entry named it. */
  originalPath?: string;
  mtime?: Date;
  ctime?: Date;
  atime?: Date;
  /** Byte ranges on the source, in file order. */
  runs: ByteRun[];
  size: number;
  /** Format from the content, when a walker recognised it. */
  format?: string;
  camera?: string;
  basis: Basis;
  status: Status;
  validation?: Validation;
  notes: string[];
  /** Internal: the walk crossed data that does not look like its format (see entropyGap); worth a deep check. */
  suspect?: string;
  /** Filled in by the writer. */
  path?: string;
  sha256?: string;
}

/** A directory entry we found but did not write, and why. */
export interface SkippedEntry {
  volume: number;
  provenance: Provenance;
  originalPath: string;
  size: number;
  reason: string;
}

export function originalPathOf(folder: string[], name: string): string {
  return '/' + [...folder, name].join('/');
}
