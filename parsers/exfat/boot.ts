import { Parser } from 'binary-parser';
import type { Reader } from '../../src/reader.js';
import { formatSerial } from '../fat/boot.js';

/**
 * The exFAT boot sector (Microsoft exFAT specification, section 3.1), field names as the
 * specification spells them. Sector 0 of the main boot region (sectors 0–11) and sector 12,
 * the first of the backup boot region (sectors 12–23).
 */
export interface ExfatBootSector {
  /** EB 76 90. */
  JumpBoot: number[];
  /** 'EXFAT   ' (three trailing spaces). */
  FileSystemName: string;
  /** 53 bytes that must be zero, so FAT drivers do not mistake the volume for theirs. */
  MustBeZero: Buffer;
  /** Media-relative sector offset of the partition; 0 means "ignore". */
  PartitionOffset: bigint;
  /** Size of the volume in sectors. */
  VolumeLength: bigint;
  /** Volume-relative sector offset of the first FAT. */
  FatOffset: number;
  /** Sectors of one FAT. */
  FatLength: number;
  /** Volume-relative sector offset of the cluster heap (cluster 2). */
  ClusterHeapOffset: number;
  ClusterCount: number;
  FirstClusterOfRootDirectory: number;
  VolumeSerialNumber: number;
  FileSystemRevision: number;
  /** Bit 0 ActiveFat, bit 1 VolumeDirty, bit 2 MediaFailure, bit 3 ClearToZero. */
  VolumeFlags: number;
  /** log2 of bytes per sector: 9..12. */
  BytesPerSectorShift: number;
  /** log2 of sectors per cluster: 0..25 - BytesPerSectorShift. */
  SectorsPerClusterShift: number;
  /** 1, or 2 for TexFAT. */
  NumberOfFats: number;
  DriveSelect: number;
  /** Percentage of the cluster heap allocated, 0xFF when unknown. */
  PercentInUse: number;
  /** 55 AA as bytes 510–511 (read as a little-endian uint16: 0xAA55). */
  BootSignature: number;
}

export const BOOT_REGION_SECTORS = 12;
export const VOLUME_FLAG_ACTIVE_FAT = 0x0001;
export const VOLUME_FLAG_DIRTY = 0x0002;
export const VOLUME_FLAG_MEDIA_FAILURE = 0x0004;
/** Byte offsets skipped by the boot checksum: VolumeFlags (106–107) and PercentInUse (112). */
const CHECKSUM_SKIP = new Set([106, 107, 112]);

const bootSectorParser = new Parser()
  .endianness('little')
  .array('JumpBoot', { type: 'uint8', length: 3 })
  .string('FileSystemName', { length: 8, encoding: 'latin1' })
  .buffer('MustBeZero', { length: 53 })
  .uint64('PartitionOffset')
  .uint64('VolumeLength')
  .uint32('FatOffset')
  .uint32('FatLength')
  .uint32('ClusterHeapOffset')
  .uint32('ClusterCount')
  .uint32('FirstClusterOfRootDirectory')
  .uint32('VolumeSerialNumber')
  .uint16('FileSystemRevision')
  .uint16('VolumeFlags')
  .uint8('BytesPerSectorShift')
  .uint8('SectorsPerClusterShift')
  .uint8('NumberOfFats')
  .uint8('DriveSelect')
  .uint8('PercentInUse')
  .skip(7) // Reserved
  .skip(390) // BootCode
  .uint16('BootSignature');

/** Parse the first 512 bytes of a boot sector. The caller checks the length. */
export function parseBootSector(sector: Buffer): ExfatBootSector {
  return bootSectorParser.parse(sector) as ExfatBootSector;
}

/**
 * The boot checksum (section 3.4): a rotating 32-bit sum over sectors 0–10 of a boot region,
 * skipping VolumeFlags and PercentInUse in sector 0 so that they may change without rewriting it.
 */
export function bootChecksum(region: Buffer, bytesPerSector: number): number {
  const end = Math.min(region.length, 11 * bytesPerSector);
  let sum = 0;
  for (let i = 0; i < end; i++) {
    if (CHECKSUM_SKIP.has(i)) continue;
    sum = (((sum & 1) << 31) | (sum >>> 1)) + region[i];
    sum >>>= 0;
  }
  return sum;
}

/** Everything derived from a checked boot sector, in bytes where it matters. */
export interface ExfatLayout {
  bytesPerSector: number;
  sectorsPerCluster: number;
  clusterSize: number;
  clusterCount: number;
  /** Byte offset of the first FAT. */
  fatOffset: number;
  /** Bytes of one FAT. */
  fatSize: number;
  fatCount: number;
  /** Byte offset of cluster 2. */
  dataOffset: number;
  volumeSize: number;
  rootCluster: number;
  serial: string;
  volumeFlags: number;
  /** The FAT and allocation bitmap in use: VolumeFlags bit 0 when there are two FATs. */
  activeFat: number;
}

export const MIN_BYTES_PER_SECTOR_SHIFT = 9;
export const MAX_BYTES_PER_SECTOR_SHIFT = 12;
/** Clusters are at most 32 MiB: BytesPerSectorShift + SectorsPerClusterShift ≤ 25. */
export const MAX_CLUSTER_SHIFT = 25;
/** The largest ClusterCount the specification allows (2^32 - 11). */
export const MAX_CLUSTER_COUNT = 0xfffffff5;

/**
 * Named checks of the fields that decide where everything is; each failure says what was
 * expected. An empty list means the fields describe a usable exFAT volume. Integrity checks
 * (signature, checksum) are separate: see `checkBootIntegrity`.
 */
export function checkBootSector(bs: ExfatBootSector): string[] {
  const problems: string[] = [];
  if (bs.FileSystemName !== 'EXFAT   ') return [`FileSystemName: expected 'EXFAT   ', got '${bs.FileSystemName}'`];
  const bpsShift = bs.BytesPerSectorShift;
  if (bpsShift < MIN_BYTES_PER_SECTOR_SHIFT || bpsShift > MAX_BYTES_PER_SECTOR_SHIFT) {
    problems.push(`BytesPerSectorShift: expected ${MIN_BYTES_PER_SECTOR_SHIFT}..${MAX_BYTES_PER_SECTOR_SHIFT}, got ${bpsShift}`);
  }
  if (bs.SectorsPerClusterShift > MAX_CLUSTER_SHIFT - bpsShift) {
    problems.push(`SectorsPerClusterShift: expected at most ${MAX_CLUSTER_SHIFT - bpsShift}, got ${bs.SectorsPerClusterShift}`);
  }
  if (bs.NumberOfFats !== 1 && bs.NumberOfFats !== 2) problems.push(`NumberOfFats: expected 1 or 2, got ${bs.NumberOfFats}`);
  if (bs.VolumeLength > BigInt(Number.MAX_SAFE_INTEGER) >> BigInt(Math.max(bpsShift, 0))) {
    problems.push(`VolumeLength: ${bs.VolumeLength} sectors is beyond what this tool can address`);
  }
  if (problems.length) return problems;
  const volumeLength = Number(bs.VolumeLength);
  if (bs.FatOffset < 24) problems.push(`FatOffset: expected at least 24 (after both boot regions), got ${bs.FatOffset}`);
  if (bs.FatLength === 0) problems.push('FatLength: expected at least 1 sector, got 0');
  const fatsEnd = bs.FatOffset + bs.FatLength * bs.NumberOfFats;
  if (bs.ClusterHeapOffset < fatsEnd) {
    problems.push(`ClusterHeapOffset: expected at least ${fatsEnd} (after the FATs), got ${bs.ClusterHeapOffset}`);
  }
  if (bs.ClusterHeapOffset >= volumeLength) {
    problems.push(`ClusterHeapOffset: sector ${bs.ClusterHeapOffset} is past the ${volumeLength} sectors of the volume`);
  }
  if (bs.ClusterCount === 0 || bs.ClusterCount > MAX_CLUSTER_COUNT) {
    problems.push(`ClusterCount: expected 1..${MAX_CLUSTER_COUNT}, got ${bs.ClusterCount}`);
  }
  const heapEnd = bs.ClusterHeapOffset + bs.ClusterCount * 2 ** bs.SectorsPerClusterShift;
  if (heapEnd > volumeLength) {
    problems.push(`ClusterCount: ${bs.ClusterCount} clusters end at sector ${heapEnd}, past the ${volumeLength} sectors of the volume`);
  }
  const fatNeeds = Math.ceil(((bs.ClusterCount + 2) * 4) / 2 ** bpsShift);
  if (bs.FatLength < fatNeeds) problems.push(`FatLength: expected at least ${fatNeeds} sectors for ${bs.ClusterCount} clusters, got ${bs.FatLength}`);
  const root = bs.FirstClusterOfRootDirectory;
  if (root < 2 || root > bs.ClusterCount + 1) {
    problems.push(`FirstClusterOfRootDirectory: expected 2..${bs.ClusterCount + 1}, got ${root}`);
  }
  return problems;
}

/**
 * Checks that say whether the boot region is intact rather than where things are: a region
 * failing them is "damaged" and the other copy is preferred.
 */
export function checkBootIntegrity(bs: ExfatBootSector, region: Buffer): string[] {
  const problems: string[] = [];
  const bps = 2 ** bs.BytesPerSectorShift;
  const jmp = bs.JumpBoot;
  if (!(jmp[0] === 0xeb && jmp[1] === 0x76 && jmp[2] === 0x90)) {
    problems.push(`JumpBoot: expected EB 76 90, got ${jmp.map((b) => b.toString(16).toUpperCase().padStart(2, '0')).join(' ')}`);
  }
  if (bs.MustBeZero.some((b) => b !== 0)) problems.push('MustBeZero: expected bytes 11–63 to be zero');
  if (bs.BootSignature !== 0xaa55) problems.push(`BootSignature: expected 55 AA, got ${hex16(bs.BootSignature)}`);
  if (region.length < BOOT_REGION_SECTORS * bps) {
    problems.push(`boot region: expected ${BOOT_REGION_SECTORS} sectors, only ${Math.floor(region.length / bps)} readable`);
    return problems;
  }
  const expected = bootChecksum(region, bps);
  const sector11 = region.subarray(11 * bps, 12 * bps);
  let mismatched = 0;
  for (let i = 0; i + 4 <= sector11.length; i += 4) if (sector11.readUInt32LE(i) !== expected) mismatched++;
  if (mismatched) {
    problems.push(`boot checksum: expected ${hex32(expected)} repeated in sector 11, ${mismatched} of ${bps / 4} copies differ (first ${hex32(sector11.readUInt32LE(0))})`);
  }
  return problems;
}

export function layoutOf(bs: ExfatBootSector): ExfatLayout {
  const bytesPerSector = 2 ** bs.BytesPerSectorShift;
  const sectorsPerCluster = 2 ** bs.SectorsPerClusterShift;
  return {
    bytesPerSector,
    sectorsPerCluster,
    clusterSize: bytesPerSector * sectorsPerCluster,
    clusterCount: bs.ClusterCount,
    fatOffset: bs.FatOffset * bytesPerSector,
    fatSize: bs.FatLength * bytesPerSector,
    fatCount: bs.NumberOfFats,
    dataOffset: bs.ClusterHeapOffset * bytesPerSector,
    volumeSize: Number(bs.VolumeLength) * bytesPerSector,
    rootCluster: bs.FirstClusterOfRootDirectory,
    serial: formatSerial(bs.VolumeSerialNumber),
    volumeFlags: bs.VolumeFlags,
    activeFat: bs.NumberOfFats === 2 ? bs.VolumeFlags & VOLUME_FLAG_ACTIVE_FAT : 0,
  };
}

/** One boot region as read and judged. */
export interface BootCandidate {
  which: 'main' | 'backup';
  /** Byte offset of the region's boot sector. */
  offset: number;
  bootSector?: ExfatBootSector;
  layout?: ExfatLayout;
  /** Field checks that failed: the region is unusable. */
  problems: string[];
  /** Integrity checks that failed: the region is damaged but its fields may be right. */
  damage: string[];
}

const MIN_SECTOR = 2 ** MIN_BYTES_PER_SECTOR_SHIFT;

function readRegion(volume: Reader, which: 'main' | 'backup', offset: number, shiftHint?: number): BootCandidate {
  const first = volume.read(offset, MIN_SECTOR);
  if (first.length < MIN_SECTOR) return { which, offset, problems: ['boot sector: not enough data'], damage: [] };
  const bootSector = parseBootSector(first);
  const problems = checkBootSector(bootSector);
  if (problems.length) return { which, offset, bootSector, problems, damage: [] };
  if (shiftHint !== undefined && bootSector.BytesPerSectorShift !== shiftHint) {
    return { which, offset, bootSector, problems: [`BytesPerSectorShift: ${bootSector.BytesPerSectorShift} does not match the sector size the region was found at`], damage: [] };
  }
  const bps = 2 ** bootSector.BytesPerSectorShift;
  const region = volume.read(offset, BOOT_REGION_SECTORS * bps);
  const layout = layoutOf(bootSector);
  if (layout.dataOffset >= volume.size) {
    return { which, offset, bootSector, problems: [`cluster heap: starts at byte ${layout.dataOffset}, past the ${volume.size} bytes present`], damage: [] };
  }
  return { which, offset, bootSector, layout, problems, damage: checkBootIntegrity(bootSector, region) };
}

/** The main and backup boot regions, read and checked. */
export function readBootRegions(volume: Reader): { main: BootCandidate; backups: BootCandidate[] } {
  const main = readRegion(volume, 'main', 0);
  // The backup starts at sector 12; if the main sector size cannot be trusted, try each size.
  const shifts = main.layout
    ? [main.bootSector!.BytesPerSectorShift]
    : [9, 10, 11, 12];
  const backups = shifts.map((s) => readRegion(volume, 'backup', BOOT_REGION_SECTORS * 2 ** s, s));
  return { main, backups };
}

/**
 * Which boot region to trust: an intact main region, else an intact backup, else whichever
 * has sane fields despite a bad checksum or signature (main first). Null when neither describes
 * an exFAT volume.
 */
export function chooseBootRegion(volume: Reader): { chosen: BootCandidate; main: BootCandidate; backups: BootCandidate[] } | null {
  const { main, backups } = readBootRegions(volume);
  const usable = [main, ...backups].filter((c) => c.layout);
  const chosen = usable.find((c) => c.damage.length === 0) ?? usable[0];
  return chosen ? { chosen, main, backups } : null;
}

function hex16(n: number): string {
  return (n & 0xff).toString(16).toUpperCase().padStart(2, '0') + ' ' + (n >>> 8).toString(16).toUpperCase().padStart(2, '0');
}

function hex32(n: number): string {
  return '0x' + (n >>> 0).toString(16).toUpperCase().padStart(8, '0');
}
