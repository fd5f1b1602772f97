import type { Reader, ByteRun } from './reader.js';
import { SliceReader } from './reader.js';
import type { Diagnostic } from './diagnostics.js';
import { parseMbr, partitionsPastEnd } from '../parsers/partitions/mbr.js';
import { parseGpt } from '../parsers/partitions/gpt.js';
import type { Partition } from '../parsers/partitions/types.js';
import { detectFileSystem } from './filesystems.js';

export type TableScheme = 'mbr' | 'gpt' | 'none';

export interface Volume {
  /** 1-based partition number, or 0 for a card with no partition table. */
  index: number;
  offset: number;
  length: number;
  partition?: Partition;
  reader: Reader;
}

export interface VolumeLayout {
  scheme: TableScheme;
  volumes: Volume[];
  /** Space outside every volume (before, between and after partitions): carving territory. */
  gaps: ByteRun[];
  diagnostics: Diagnostic[];
  /** Sector 0 holds a partition table, but none of its partitions lies inside the source: read as one volume. */
  tableUnusable?: boolean;
}

/** Gaps smaller than this are alignment slack, not lost space worth listing. */
const MIN_GAP = 64 * 1024;

/**
 * Partition table or none. A sector 0 that is itself a FAT/exFAT boot sector is a
 * "superfloppy" (many CF cards), even though it also ends in 55 AA like an MBR.
 */
export function detectVolumes(disk: Reader): VolumeLayout {
  const diagnostics: Diagnostic[] = [];
  const whole = (tableUnusable = false): VolumeLayout => ({
    scheme: 'none',
    volumes: [{ index: 0, offset: 0, length: disk.size, reader: disk }],
    gaps: [],
    diagnostics,
    ...(tableUnusable ? { tableUnusable } : {}),
  });
  if (detectFileSystem(disk).driver) return whole();

  const pastEnd = partitionsPastEnd(disk);
  for (const p of pastEnd) {
    diagnostics.push({
      code: 'table.partition-past-end',
      severity: 'warning',
      message: `the partition table puts partition ${p.number} at byte ${p.offset}, past the end of this ${disk.size}-byte source: the image looks cut short (or the reader reports the wrong size)`,
    });
  }
  const mbr = parseMbr(disk);
  let partitions: Partition[] | null = null;
  let scheme: TableScheme = 'none';
  if (mbr?.protective || (!mbr && disk.read(512, 8).toString('latin1') === 'EFI PART')) {
    const gpt = parseGpt(disk);
    if (gpt) {
      partitions = gpt.partitions;
      scheme = 'gpt';
      diagnostics.push(...gpt.diagnostics.items);
    }
  } else if (mbr) {
    partitions = mbr.partitions;
    scheme = 'mbr';
    diagnostics.push(...mbr.diagnostics.items);
  }
  if (!partitions || partitions.length === 0) return whole(pastEnd.length > 0);

  const volumes = partitions.map((p) => ({
    index: p.number,
    offset: p.offset,
    length: p.length,
    partition: p,
    reader: new SliceReader(disk, p.offset, p.length),
  }));
  return { scheme, volumes, gaps: gapsBetween(volumes, disk.size), diagnostics };
}

function gapsBetween(volumes: Volume[], diskSize: number): ByteRun[] {
  const sorted = [...volumes].sort((a, b) => a.offset - b.offset);
  const gaps: ByteRun[] = [];
  // The first MiB holds the table itself; anything before the first partition past it may hold old data.
  let pos = 512;
  for (const v of sorted) {
    if (v.offset - pos >= MIN_GAP) gaps.push({ offset: pos, length: v.offset - pos });
    pos = Math.max(pos, v.offset + v.length);
  }
  if (diskSize - pos >= MIN_GAP) gaps.push({ offset: pos, length: diskSize - pos });
  return gaps;
}
