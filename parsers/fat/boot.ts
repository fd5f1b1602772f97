import { Parser } from 'binary-parser';

/** BIOS parameter block fields common to FAT12/16/32 (Microsoft FAT spec, section 3.1). */
export interface Bpb {
  BS_jmpBoot: number[];
  BS_OEMName: string;
  BPB_BytsPerSec: number;
  BPB_SecPerClus: number;
  BPB_RsvdSecCnt: number;
  BPB_NumFATs: number;
  BPB_RootEntCnt: number;
  BPB_TotSec16: number;
  BPB_Media: number;
  BPB_FATSz16: number;
  BPB_SecPerTrk: number;
  BPB_NumHeads: number;
  BPB_HiddSec: number;
  BPB_TotSec32: number;
  /** FAT32 only (section 3.3); garbage on FAT12/16. */
  BPB_FATSz32: number;
  BPB_ExtFlags: number;
  BPB_RootClus: number;
  BPB_BkBootSec: number;
}

const bpbParser = new Parser()
  .endianness('little')
  .array('BS_jmpBoot', { type: 'uint8', length: 3 })
  .string('BS_OEMName', { length: 8, encoding: 'latin1' })
  .uint16('BPB_BytsPerSec')
  .uint8('BPB_SecPerClus')
  .uint16('BPB_RsvdSecCnt')
  .uint8('BPB_NumFATs')
  .uint16('BPB_RootEntCnt')
  .uint16('BPB_TotSec16')
  .uint8('BPB_Media')
  .uint16('BPB_FATSz16')
  .uint16('BPB_SecPerTrk')
  .uint16('BPB_NumHeads')
  .uint32('BPB_HiddSec')
  .uint32('BPB_TotSec32')
  .uint32('BPB_FATSz32')
  .uint16('BPB_ExtFlags')
  .skip(2) // BPB_FSVer
  .uint32('BPB_RootClus')
  .skip(2) // BPB_FSInfo
  .uint16('BPB_BkBootSec');

export type FatType = 'FAT12' | 'FAT16' | 'FAT32';

/** Everything derived from the BPB that the rest of the parser needs, in bytes where it matters. */
export interface FatLayout {
  type: FatType;
  bytesPerSector: number;
  sectorsPerCluster: number;
  clusterSize: number;
  clusterCount: number;
  /** What the boot sector counts, when the source ends before that many clusters (clusterCount is then what fits). */
  countedClusters?: number;
  fatOffset: number;
  fatSize: number;
  fatCount: number;
  /** FAT12/16 fixed root directory. */
  rootDirOffset: number;
  rootDirSize: number;
  dataOffset: number;
  volumeSize: number;
  rootCluster: number;
  media: number;
  /** FAT32 mirroring disabled: only this FAT copy is active. */
  activeFatOnly?: number;
  label?: string;
  serial?: string;
  backupBootSector: number;
}

export function parseBpb(sector: Buffer): Bpb {
  return bpbParser.parse(sector) as Bpb;
}

const isPowerOfTwo = (n: number) => n > 0 && (n & (n - 1)) === 0;

/**
 * Named checks of a boot sector; each failure says what was expected.
 * An empty list means the sector describes a usable FAT volume.
 */
export function checkBpb(bpb: Bpb, sector: Buffer): string[] {
  const problems: string[] = [];
  const jmp = bpb.BS_jmpBoot;
  if (!(jmp[0] === 0xeb && jmp[2] === 0x90) && jmp[0] !== 0xe9 && jmp[0] !== 0xeb) problems.push(`BS_jmpBoot: expected EB xx 90 or E9, got ${jmp.map((b) => b.toString(16)).join(' ')}`);
  if (![512, 1024, 2048, 4096].includes(bpb.BPB_BytsPerSec)) problems.push(`BPB_BytsPerSec: expected 512..4096, got ${bpb.BPB_BytsPerSec}`);
  if (!isPowerOfTwo(bpb.BPB_SecPerClus) || bpb.BPB_SecPerClus > 128) problems.push(`BPB_SecPerClus: expected a power of two up to 128, got ${bpb.BPB_SecPerClus}`);
  if (bpb.BPB_RsvdSecCnt === 0) problems.push('BPB_RsvdSecCnt: expected at least 1, got 0');
  if (bpb.BPB_NumFATs === 0 || bpb.BPB_NumFATs > 4) problems.push(`BPB_NumFATs: expected 1..4, got ${bpb.BPB_NumFATs}`);
  const fatSz = bpb.BPB_FATSz16 || bpb.BPB_FATSz32;
  if (fatSz === 0) problems.push('FAT size: expected BPB_FATSz16 or BPB_FATSz32 to be set, both are 0');
  const totSec = bpb.BPB_TotSec16 || bpb.BPB_TotSec32;
  if (totSec === 0) problems.push('total sectors: expected BPB_TotSec16 or BPB_TotSec32 to be set, both are 0');
  if (bpb.BPB_Media !== 0xf0 && bpb.BPB_Media < 0xf8) problems.push(`BPB_Media: expected F0 or F8..FF, got ${bpb.BPB_Media.toString(16)}`);
  if (problems.length === 0) {
    const rootDirSectors = Math.ceil((bpb.BPB_RootEntCnt * 32) / bpb.BPB_BytsPerSec);
    const firstData = bpb.BPB_RsvdSecCnt + bpb.BPB_NumFATs * fatSz + rootDirSectors;
    if (firstData >= totSec) problems.push(`data area: starts at sector ${firstData}, past the ${totSec} sectors of the volume`);
  }
  if (sector.length >= 512 && !(sector[510] === 0x55 && sector[511] === 0xaa) && problems.length > 0) {
    problems.push('signature: expected 55 AA at byte 510');
  }
  return problems;
}

/** Geometry from a checked BPB. The FAT type comes from the cluster count, never from a label. */
export function layoutOf(bpb: Bpb, sector: Buffer): FatLayout {
  const bps = bpb.BPB_BytsPerSec;
  const fatSectors = bpb.BPB_FATSz16 || bpb.BPB_FATSz32;
  const totSec = bpb.BPB_TotSec16 || bpb.BPB_TotSec32;
  const rootDirSectors = Math.ceil((bpb.BPB_RootEntCnt * 32) / bps);
  const firstData = bpb.BPB_RsvdSecCnt + bpb.BPB_NumFATs * fatSectors + rootDirSectors;
  const clusterCount = Math.floor((totSec - firstData) / bpb.BPB_SecPerClus);
  const type: FatType = clusterCount < 4085 ? 'FAT12' : clusterCount < 65525 ? 'FAT16' : 'FAT32';
  // The extended boot record sits at byte 36 on FAT12/16 and at 64 on FAT32.
  const ext = type === 'FAT32' ? 64 : 36;
  const hasExt = sector[ext + 2] === 0x29;
  const label = hasExt ? sector.toString('latin1', ext + 7, ext + 18).trimEnd() : undefined;
  const serialRaw = hasExt ? sector.readUInt32LE(ext + 3) : undefined;
  return {
    type,
    bytesPerSector: bps,
    sectorsPerCluster: bpb.BPB_SecPerClus,
    clusterSize: bps * bpb.BPB_SecPerClus,
    clusterCount,
    fatOffset: bpb.BPB_RsvdSecCnt * bps,
    fatSize: fatSectors * bps,
    fatCount: bpb.BPB_NumFATs,
    rootDirOffset: (bpb.BPB_RsvdSecCnt + bpb.BPB_NumFATs * fatSectors) * bps,
    rootDirSize: rootDirSectors * bps,
    dataOffset: firstData * bps,
    volumeSize: totSec * bps,
    rootCluster: type === 'FAT32' ? bpb.BPB_RootClus : 0,
    media: bpb.BPB_Media,
    activeFatOnly: type === 'FAT32' && bpb.BPB_ExtFlags & 0x80 ? bpb.BPB_ExtFlags & 0x0f : undefined,
    label: label && label !== 'NO NAME' ? label : undefined,
    serial: serialRaw === undefined ? undefined : formatSerial(serialRaw),
    backupBootSector: type === 'FAT32' ? bpb.BPB_BkBootSec : 0,
  };
}

export function formatSerial(n: number): string {
  const hex = n.toString(16).toUpperCase().padStart(8, '0');
  return `${hex.slice(0, 4)}-${hex.slice(4)}`;
}
