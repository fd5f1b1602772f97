import { Parser } from 'binary-parser';
import type { Reader } from '../../src/reader.js';
import { Diagnostics } from '../../src/diagnostics.js';
import type { Partition } from './types.js';

/** One 16-byte entry of the partition table at byte 446 of sector 0 (and of each EBR). */
interface MbrEntry {
  status: number;
  chsFirst: number[];
  type: number;
  chsLast: number[];
  lbaFirst: number;
  sectorCount: number;
}

const entryParser = new Parser()
  .endianness('little')
  .uint8('status')
  .array('chsFirst', { type: 'uint8', length: 3 })
  .uint8('type')
  .array('chsLast', { type: 'uint8', length: 3 })
  .uint32('lbaFirst')
  .uint32('sectorCount');

const tableParser = new Parser().array('entries', { type: entryParser, length: 4 });

const SECTOR = 512;
const EXTENDED_TYPES = new Set([0x05, 0x0f, 0x85]);
export const GPT_PROTECTIVE_TYPE = 0xee;
const MAX_LOGICAL = 128;

const TYPE_NAMES: Record<number, string> = {
  0x01: 'FAT12',
  0x04: 'FAT16 <32M',
  0x06: 'FAT16',
  0x07: 'exFAT/NTFS',
  0x0b: 'FAT32 (CHS)',
  0x0c: 'FAT32 (LBA)',
  0x0e: 'FAT16 (LBA)',
  0x83: 'Linux',
  0xee: 'GPT protective',
};

export function hasBootSignature(sector: Buffer): boolean {
  return sector.length >= 512 && sector[510] === 0x55 && sector[511] === 0xaa;
}

function readEntries(sector: Buffer): MbrEntry[] {
  return (tableParser.parse(sector.subarray(446, 510)) as { entries: MbrEntry[] }).entries;
}

/** Entries that could describe a partition: sane status byte, a type, a start inside the disk. */
function plausible(e: MbrEntry, diskSectors: number): boolean {
  return (e.status === 0 || e.status === 0x80) && e.type !== 0 && e.lbaFirst > 0 && e.sectorCount > 0 && e.lbaFirst < diskSectors;
}

export interface MbrResult {
  partitions: Partition[];
  /** The table is the protective MBR of a GPT disk. */
  protective: boolean;
  diagnostics: Diagnostics;
}

/** Sector 0's four entries, when it has the signature and every status byte is sane. */
function tableEntries(disk: Reader): MbrEntry[] | null {
  const sector = disk.read(0, SECTOR);
  if (!hasBootSignature(sector)) return null;
  const entries = readEntries(sector);
  return entries.some((e) => e.status !== 0 && e.status !== 0x80) ? null : entries;
}

/** Parse sector 0 as an MBR. Returns null when it is not one (no signature, no plausible entry). */
export function parseMbr(disk: Reader): MbrResult | null {
  const entries = tableEntries(disk);
  if (!entries) return null;
  const diskSectors = Math.floor(disk.size / SECTOR);
  const used = entries.filter((e) => plausible(e, diskSectors));
  if (used.length === 0) return null;
  const diagnostics = new Diagnostics();
  if (used.some((e) => e.type === GPT_PROTECTIVE_TYPE)) return { partitions: [], protective: true, diagnostics };

  const partitions: Partition[] = [];
  entries.forEach((e, i) => {
    if (!plausible(e, diskSectors)) return;
    if (EXTENDED_TYPES.has(e.type)) {
      partitions.push(...readLogical(disk, e.lbaFirst, diskSectors, diagnostics));
      return;
    }
    partitions.push(toPartition(i + 1, e, 0, disk.size, diagnostics));
  });
  return { partitions, protective: false, diagnostics };
}

/**
 * Entries of an MBR that describe partitions starting at or past the end of the disk: the
 * sign of an image cut short (or a reader that reports the wrong size). `parseMbr` leaves
 * them out; the caller says so.
 */
export function partitionsPastEnd(disk: Reader): { number: number; offset: number }[] {
  const diskSectors = Math.floor(disk.size / SECTOR);
  return (tableEntries(disk) ?? []).flatMap((e, i) => (e.type !== 0 && e.lbaFirst > 0 && e.sectorCount > 0 && e.lbaFirst >= diskSectors ? [{ number: i + 1, offset: e.lbaFirst * SECTOR }] : []));
}

/** Follow the chain of extended boot records; logical partitions are numbered from 5. */
function readLogical(disk: Reader, extendedStart: number, diskSectors: number, diagnostics: Diagnostics): Partition[] {
  const out: Partition[] = [];
  const seen = new Set<number>();
  let ebr = extendedStart;
  while (out.length < MAX_LOGICAL) {
    if (seen.has(ebr) || ebr >= diskSectors) {
      diagnostics.warn('mbr.ebr-loop', `extended partition chain loops or leaves the disk at sector ${ebr}`, ebr * SECTOR);
      break;
    }
    seen.add(ebr);
    const sector = disk.read(ebr * SECTOR, SECTOR);
    if (!hasBootSignature(sector)) break;
    const [logical, next] = readEntries(sector);
    if (plausible(logical, diskSectors)) out.push(toPartition(5 + out.length, logical, ebr, disk.size, diagnostics));
    if (!plausible(next, diskSectors) || !EXTENDED_TYPES.has(next.type)) break;
    ebr = extendedStart + next.lbaFirst;
  }
  return out;
}

function toPartition(number: number, e: MbrEntry, baseLba: number, diskSize: number, diagnostics: Diagnostics): Partition {
  const offset = (baseLba + e.lbaFirst) * SECTOR;
  let length = e.sectorCount * SECTOR;
  if (offset + length > diskSize) {
    diagnostics.warn('mbr.partition-past-end', `partition ${number} ends ${offset + length - diskSize} bytes past the end of the disk; clipped`, offset);
    length = diskSize - offset;
  }
  const type = `0x${e.type.toString(16).padStart(2, '0')}`;
  return { number, offset, length, type, typeName: TYPE_NAMES[e.type] };
}
