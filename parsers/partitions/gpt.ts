import { Parser } from 'binary-parser';
import type { Reader } from '../../src/reader.js';
import { Diagnostics } from '../../src/diagnostics.js';
import type { Partition } from './types.js';

const SECTOR = 512;
const SIGNATURE = 'EFI PART';
const MAX_ENTRIES = 1024;

/** GPT header (UEFI spec 5.3.2), little-endian. */
interface GptHeader {
  signature: string;
  revision: number;
  headerSize: number;
  headerCrc32: number;
  myLba: bigint;
  alternateLba: bigint;
  firstUsableLba: bigint;
  lastUsableLba: bigint;
  partitionEntryLba: bigint;
  numberOfPartitionEntries: number;
  sizeOfPartitionEntry: number;
}

const headerParser = new Parser()
  .endianness('little')
  .string('signature', { length: 8 })
  .uint32('revision')
  .uint32('headerSize')
  .uint32('headerCrc32')
  .skip(4)
  .uint64('myLba')
  .uint64('alternateLba')
  .uint64('firstUsableLba')
  .uint64('lastUsableLba')
  .skip(16)
  .uint64('partitionEntryLba')
  .uint32('numberOfPartitionEntries')
  .uint32('sizeOfPartitionEntry');

const TYPE_NAMES: Record<string, string> = {
  'ebd0a0a2-b9e5-4433-87c0-68b6b72699c7': 'Microsoft basic data',
  'c12a7328-f81f-11d2-ba4b-00a0c93ec93b': 'EFI system',
  '0fc63daf-8483-4772-8e79-3d69d8477de4': 'Linux filesystem',
};

/** Mixed-endian GUID as text, the way every tool prints it. */
function guid(b: Buffer): string {
  const hex = (buf: Buffer) => buf.toString('hex');
  const le = (buf: Buffer) => hex(Buffer.from(buf).reverse());
  return `${le(b.subarray(0, 4))}-${le(b.subarray(4, 6))}-${le(b.subarray(6, 8))}-${hex(b.subarray(8, 10))}-${hex(b.subarray(10, 16))}`;
}

export function crc32(buf: Buffer): number {
  let crc = 0xffffffff;
  for (let i = 0; i < buf.length; i++) {
    crc ^= buf[i];
    for (let k = 0; k < 8; k++) crc = (crc >>> 1) ^ (0xedb88320 & -(crc & 1));
  }
  return (crc ^ 0xffffffff) >>> 0;
}

function headerAt(disk: Reader, lba: number): GptHeader | null {
  const sector = disk.read(lba * SECTOR, SECTOR);
  if (sector.length < 92 || sector.toString('latin1', 0, 8) !== SIGNATURE) return null;
  const h = headerParser.parse(sector) as GptHeader;
  if (h.headerSize < 92 || h.headerSize > SECTOR) return null;
  const copy = Buffer.from(sector.subarray(0, h.headerSize));
  copy.writeUInt32LE(0, 16);
  return crc32(copy) === h.headerCrc32 ? h : null;
}

export interface GptResult {
  partitions: Partition[];
  diagnostics: Diagnostics;
}

/** Primary header at LBA 1; when it is damaged, the backup in the last sector. */
export function parseGpt(disk: Reader): GptResult | null {
  const diagnostics = new Diagnostics();
  let header = headerAt(disk, 1);
  if (!header) {
    header = headerAt(disk, Math.floor(disk.size / SECTOR) - 1);
    if (!header) return null;
    diagnostics.warn('gpt.primary-damaged', 'primary GPT header is damaged; using the backup at the end of the disk');
  }
  const count = Math.min(header.numberOfPartitionEntries, MAX_ENTRIES);
  const entrySize = header.sizeOfPartitionEntry;
  if (entrySize < 128 || entrySize % 8 !== 0) {
    diagnostics.error('gpt.entry-size', `implausible partition entry size ${entrySize}`);
    return { partitions: [], diagnostics };
  }
  const table = disk.read(Number(header.partitionEntryLba) * SECTOR, count * entrySize);
  const partitions: Partition[] = [];
  for (let i = 0; i < count && (i + 1) * entrySize <= table.length; i++) {
    const e = table.subarray(i * entrySize, (i + 1) * entrySize);
    if (e.subarray(0, 16).every((b) => b === 0)) continue;
    const first = Number(e.readBigUInt64LE(32));
    const last = Number(e.readBigUInt64LE(40));
    const offset = first * SECTOR;
    if (last < first || offset >= disk.size) {
      diagnostics.warn('gpt.entry-range', `partition entry ${i + 1} has an impossible range`, offset);
      continue;
    }
    const type = guid(e.subarray(0, 16));
    const name = e.subarray(56, 128).toString('utf16le').replace(/\0.*$/s, '');
    partitions.push({
      number: i + 1,
      offset,
      length: Math.min((last - first + 1) * SECTOR, disk.size - offset),
      type,
      typeName: TYPE_NAMES[type],
      name: name || undefined,
    });
  }
  return { partitions, diagnostics };
}
