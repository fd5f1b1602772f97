/**
 * exFAT directory entries as pure functions over raw bytes (Microsoft exFAT specification,
 * sections 6 and 7). Nothing here needs an opened file system: the directory walk and, later,
 * the sweep of unallocated clusters for orphaned directories use the same code.
 */
import { Parser } from 'binary-parser';
import { Diagnostics, type Diagnostic } from '../../src/diagnostics.js';

export const ENTRY_SIZE = 32;

/** EntryType bit 7: the entry is in use. Deleting an entry set clears it in every entry. */
export const IN_USE = 0x80;
/** EntryType bit 6: secondary entry (otherwise primary). */
export const CATEGORY_SECONDARY = 0x40;
/** EntryType bit 5: benign (otherwise critical). */
export const IMPORTANCE_BENIGN = 0x20;

export const TYPE_END_OF_DIRECTORY = 0x00;
export const TYPE_ALLOCATION_BITMAP = 0x81;
export const TYPE_UPCASE_TABLE = 0x82;
export const TYPE_VOLUME_LABEL = 0x83;
export const TYPE_FILE = 0x85;
export const TYPE_VOLUME_GUID = 0xa0;
export const TYPE_TEXFAT_PADDING = 0xa1;
export const TYPE_STREAM_EXTENSION = 0xc0;
export const TYPE_FILE_NAME = 0xc1;
/** The same types with the in-use bit clear, as a deleted entry set keeps them. */
export const TYPE_FILE_DELETED = TYPE_FILE & ~IN_USE;
export const TYPE_STREAM_EXTENSION_DELETED = TYPE_STREAM_EXTENSION & ~IN_USE;
export const TYPE_FILE_NAME_DELETED = TYPE_FILE_NAME & ~IN_USE;

export const ATTR_READ_ONLY = 0x01;
export const ATTR_HIDDEN = 0x02;
export const ATTR_SYSTEM = 0x04;
export const ATTR_DIRECTORY = 0x10;
export const ATTR_ARCHIVE = 0x20;

/** GeneralSecondaryFlags bit 0. */
export const FLAG_ALLOCATION_POSSIBLE = 0x01;
/** GeneralSecondaryFlags bit 1: the clusters are contiguous and the FAT holds nothing for them. */
export const FLAG_NO_FAT_CHAIN = 0x02;

/** A File directory entry has at least a Stream Extension and one File Name (section 7.4). */
export const MIN_SECONDARY_COUNT = 2;
export const MAX_SECONDARY_COUNT = 18;
export const NAME_CHARS_PER_ENTRY = 15;
export const MAX_NAME_LENGTH = 255;

/** File directory entry (section 7.4). */
export interface FileDirectoryEntry {
  EntryType: number;
  SecondaryCount: number;
  SetChecksum: number;
  FileAttributes: number;
  CreateTimestamp: number;
  LastModifiedTimestamp: number;
  LastAccessedTimestamp: number;
  Create10msIncrement: number;
  LastModified10msIncrement: number;
  CreateUtcOffset: number;
  LastModifiedUtcOffset: number;
  LastAccessedUtcOffset: number;
}

/** Stream Extension directory entry (section 7.6). */
export interface StreamExtensionEntry {
  EntryType: number;
  GeneralSecondaryFlags: number;
  NameLength: number;
  NameHash: number;
  /** Bytes actually written; the rest up to DataLength reads as zeros. */
  ValidDataLength: bigint;
  FirstCluster: number;
  DataLength: bigint;
}

/** File Name directory entry (section 7.7): 15 UTF-16 code units. */
export interface FileNameEntry {
  EntryType: number;
  GeneralSecondaryFlags: number;
  FileName: Buffer;
}

/** Allocation Bitmap directory entry (section 7.1). */
export interface AllocationBitmapEntry {
  EntryType: number;
  /** Bit 0: 0 describes the first bitmap (goes with the first FAT), 1 the second. */
  BitmapFlags: number;
  FirstCluster: number;
  DataLength: bigint;
}

/** Up-case Table directory entry (section 7.2). */
export interface UpcaseTableEntry {
  EntryType: number;
  TableChecksum: number;
  FirstCluster: number;
  DataLength: bigint;
}

/** Volume Label directory entry (section 7.3). */
export interface VolumeLabelEntry {
  EntryType: number;
  CharacterCount: number;
  VolumeLabel: Buffer;
}

const fileEntryParser = new Parser()
  .endianness('little')
  .uint8('EntryType')
  .uint8('SecondaryCount')
  .uint16('SetChecksum')
  .uint16('FileAttributes')
  .skip(2) // Reserved1
  .uint32('CreateTimestamp')
  .uint32('LastModifiedTimestamp')
  .uint32('LastAccessedTimestamp')
  .uint8('Create10msIncrement')
  .uint8('LastModified10msIncrement')
  .uint8('CreateUtcOffset')
  .uint8('LastModifiedUtcOffset')
  .uint8('LastAccessedUtcOffset');

const streamExtensionParser = new Parser()
  .endianness('little')
  .uint8('EntryType')
  .uint8('GeneralSecondaryFlags')
  .skip(1) // Reserved1
  .uint8('NameLength')
  .uint16('NameHash')
  .skip(2) // Reserved2
  .uint64('ValidDataLength')
  .skip(4) // Reserved3
  .uint32('FirstCluster')
  .uint64('DataLength');

const fileNameParser = new Parser()
  .endianness('little')
  .uint8('EntryType')
  .uint8('GeneralSecondaryFlags')
  .buffer('FileName', { length: 30 });

const allocationBitmapParser = new Parser()
  .endianness('little')
  .uint8('EntryType')
  .uint8('BitmapFlags')
  .skip(18) // Reserved
  .uint32('FirstCluster')
  .uint64('DataLength');

const upcaseTableParser = new Parser()
  .endianness('little')
  .uint8('EntryType')
  .skip(3) // Reserved1
  .uint32('TableChecksum')
  .skip(12) // Reserved2
  .uint32('FirstCluster')
  .uint64('DataLength');

const volumeLabelParser = new Parser()
  .endianness('little')
  .uint8('EntryType')
  .uint8('CharacterCount')
  .buffer('VolumeLabel', { length: 22 });

export const parseFileEntry = (e: Buffer) => fileEntryParser.parse(e) as FileDirectoryEntry;
export const parseStreamExtension = (e: Buffer) => streamExtensionParser.parse(e) as StreamExtensionEntry;
export const parseFileNameEntry = (e: Buffer) => fileNameParser.parse(e) as FileNameEntry;
export const parseAllocationBitmapEntry = (e: Buffer) => allocationBitmapParser.parse(e) as AllocationBitmapEntry;
export const parseUpcaseTableEntry = (e: Buffer) => upcaseTableParser.parse(e) as UpcaseTableEntry;
export const parseVolumeLabelEntry = (e: Buffer) => volumeLabelParser.parse(e) as VolumeLabelEntry;

/**
 * EntrySetChecksum (section 6.3.3): a rotating 16-bit sum over every byte of the set except
 * the SetChecksum field itself (bytes 2–3 of the primary entry).
 *
 * The checksum was computed when the set was written, with the in-use bit set in every
 * EntryType. Deleting a set only clears that bit, so with `assumeInUse` (the default) bit 7 of
 * each entry's first byte is taken as set: one function checks live and deleted sets alike.
 */
export function entrySetChecksum(bytes: Uint8Array, assumeInUse = true): number {
  let sum = 0;
  for (let i = 0; i < bytes.length; i++) {
    if (i === 2 || i === 3) continue;
    let b = bytes[i];
    if (assumeInUse && i % ENTRY_SIZE === 0) b |= IN_USE;
    sum = ((sum & 1 ? 0x8000 : 0) + (sum >>> 1) + b) & 0xffff;
  }
  return sum;
}

/** The up-case table checksum (section 7.2.2): a rotating 32-bit sum over the table's bytes. */
export function upcaseTableChecksum(bytes: Uint8Array): number {
  let sum = 0;
  for (let i = 0; i < bytes.length; i++) sum = ((((sum & 1) << 31) | (sum >>> 1)) + bytes[i]) >>> 0;
  return sum;
}

/**
 * The up-case table, decompressed: a UTF-16 code unit → its upper case. The compressed form
 * stores FFFF followed by a count for runs of characters that map to themselves (7.2.5).
 */
export class UpcaseTable {
  private constructor(private readonly map: Uint16Array) {}

  static decode(bytes: Uint8Array): UpcaseTable {
    const map = new Uint16Array(0x10000);
    for (let i = 0; i < map.length; i++) map[i] = i;
    let ch = 0;
    const words = Math.floor(bytes.length / 2);
    for (let w = 0; w < words && ch < 0x10000; w++) {
      const v = bytes[2 * w] | (bytes[2 * w + 1] << 8);
      if (v === 0xffff && w + 1 < words) {
        w++;
        ch += bytes[2 * w] | (bytes[2 * w + 1] << 8);
        continue;
      }
      map[ch++] = v;
    }
    return new UpcaseTable(map);
  }

  upcase(unit: number): number {
    return this.map[unit & 0xffff];
  }
}

/**
 * NameHash (section 7.6.4): a rotating 16-bit sum over the up-cased name's UTF-16LE bytes.
 * Without an up-case table only ASCII is up-cased, which is exact for ASCII names.
 */
export function nameHash(name: string, upcase?: UpcaseTable): number {
  let hash = 0;
  for (let i = 0; i < name.length; i++) {
    let u = name.charCodeAt(i);
    if (upcase) u = upcase.upcase(u);
    else if (u >= 0x61 && u <= 0x7a) u -= 0x20;
    hash = ((hash & 1 ? 0x8000 : 0) + (hash >>> 1) + (u & 0xff)) & 0xffff;
    hash = ((hash & 1 ? 0x8000 : 0) + (hash >>> 1) + (u >>> 8)) & 0xffff;
  }
  return hash;
}

/** A decoded timestamp and whether it carried its offset from UTC. */
export interface ExfatTime {
  date: Date;
  /** The UtcOffset field was valid: `date` is the true instant. */
  utcKnown: boolean;
}

/**
 * An exFAT timestamp (section 7.4.8): DOS-style date and time in local time of the device,
 * 10 ms increments (0–199, so up to 1.99 s more than the 2-second field), and a UtcOffset byte
 * whose bit 7 says the low 7 bits hold a signed offset in 15-minute steps.
 *
 * When the offset is valid the result is the true UTC instant (local time minus the offset).
 * When it is not (most cameras), the local wall-clock time is returned as if it were UTC: the
 * card does not say which zone the camera was in, and reading it as UTC keeps the digits the
 * camera showed, whatever the zone of the machine doing the recovery.
 *
 * Undefined when the timestamp is zero or names an impossible date or time.
 */
export function decodeTimestamp(ts: number, increment10ms = 0, utcOffset = 0): ExfatTime | undefined {
  if (ts === 0) return undefined;
  const doubleSeconds = ts & 0x1f;
  const minute = (ts >>> 5) & 0x3f;
  const hour = (ts >>> 11) & 0x1f;
  const day = (ts >>> 16) & 0x1f;
  const month = (ts >>> 21) & 0x0f;
  const year = 1980 + ((ts >>> 25) & 0x7f);
  if (doubleSeconds > 29 || minute > 59 || hour > 23 || day < 1 || month < 1 || month > 12) return undefined;
  const extraMs = increment10ms <= 199 ? increment10ms * 10 : 0;
  const local = Date.UTC(year, month - 1, day, hour, minute, doubleSeconds * 2);
  if (new Date(local).getUTCDate() !== day) return undefined; // 31 February and the like
  const utcKnown = (utcOffset & 0x80) !== 0;
  let offsetMinutes = 0;
  if (utcKnown) {
    const steps = utcOffset & 0x40 ? (utcOffset & 0x7f) - 0x80 : utcOffset & 0x7f;
    offsetMinutes = steps * 15;
  }
  return { date: new Date(local + extraMs - offsetMinutes * 60_000), utcKnown };
}

/** One File directory entry set: File + Stream Extension + File Name × n (+ benign secondaries). */
export interface ExfatFileSet {
  /** Byte offset of the File entry within the buffer parsed. */
  offset: number;
  /** 1 + SecondaryCount. */
  entryCount: number;
  /** The in-use bit is clear in the set's entries. */
  deleted: boolean;
  name: string;
  attributes: number;
  isDirectory: boolean;
  generalSecondaryFlags: number;
  noFatChain: boolean;
  firstCluster: number;
  /** DataLength: the file's size (a directory's allocated bytes). */
  dataLength: number;
  validDataLength: number;
  nameHash: number;
  /** NameHash matched the name; undefined when it could not be judged (non-ASCII, no up-case table). */
  nameHashOk?: boolean;
  ctime?: Date;
  mtime?: Date;
  atime?: Date;
  /** Some timestamp had no valid UTC offset and was read as UTC (see decodeTimestamp). */
  localTime: boolean;
  setChecksum: number;
  /** Facts and doubts about this set, in words. */
  notes: string[];
}

/** The allocation bitmap, up-case table and label entries a root directory holds. */
export interface ExfatVolumeEntry {
  offset: number;
  type: number;
  firstCluster: number;
  dataLength: number;
}

export interface ParsedEntrySets {
  sets: ExfatFileSet[];
  /** Allocation Bitmap entries (one, or two with two FATs), in order. */
  bitmaps: (ExfatVolumeEntry & { bitmapFlags: number })[];
  upcase?: ExfatVolumeEntry & { tableChecksum: number };
  label?: string;
  /** An end-of-directory entry (type 0x00) was met. */
  ended: boolean;
  /** Slots holding in-use entries that form no valid set: a measure of "is this really a directory?". */
  implausible: number;
  diagnostics: Diagnostic[];
}

export interface ParseEntrySetsOptions {
  /**
   * Stop at the first end-of-directory entry, as a directory walk must (default). A sweep of
   * raw clusters passes false to look past zeroed slots.
   */
  stopAtEnd?: boolean;
  /** Return deleted sets (in-use bit clear) too; default true. */
  includeDeleted?: boolean;
  /** The volume's up-case table, to check NameHash on non-ASCII names. */
  upcase?: UpcaseTable;
  /** Maps an offset in the buffer to a byte offset on the volume, for diagnostics. */
  offsetOf?: (bufferOffset: number) => number;
  /** Folder path used in messages, e.g. '/DCIM'. */
  where?: string;
}

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/** Why a slot does not start a usable set; `loud` problems deserve a diagnostic. */
interface Rejection {
  reason: string;
  loud: boolean;
  /** Slots to step over: the whole set when its shape was right, else just the primary. */
  skip: number;
}

/**
 * Parse a run of 32-byte directory entries: live and deleted File entry sets, each checked
 * (shape, SetChecksum, name length), plus the volume entries of a root directory. A set that
 * fails its checks is skipped with a diagnostic; for deleted sets, whose slots are routinely
 * reused, only sets that look whole but fail the checksum are reported.
 */
export function parseEntrySets(buf: Buffer, opts: ParseEntrySetsOptions = {}): ParsedEntrySets {
  const stopAtEnd = opts.stopAtEnd ?? true;
  const includeDeleted = opts.includeDeleted ?? true;
  const where = opts.where ?? '';
  const at = (off: number) => (opts.offsetOf ? opts.offsetOf(off) : off);
  const diag = new Diagnostics();
  const out: ParsedEntrySets = { sets: [], bitmaps: [], ended: false, implausible: 0, diagnostics: diag.items };

  let off = 0;
  /** A live set was just rejected: its secondaries that follow are not news. */
  let afterRejected = false;
  while (off + ENTRY_SIZE <= buf.length) {
    const type = buf[off];
    if (type === TYPE_END_OF_DIRECTORY) {
      out.ended = true;
      if (stopAtEnd) break;
      off += ENTRY_SIZE;
      continue;
    }
    if (type === TYPE_FILE || (type === TYPE_FILE_DELETED && includeDeleted)) {
      const result = readFileSet(buf, off, opts.upcase);
      if ('set' in result) {
        out.sets.push(result.set);
        off += result.set.entryCount * ENTRY_SIZE;
        afterRejected = false;
        continue;
      }
      if (type === TYPE_FILE) {
        out.implausible++;
        afterRejected = true;
      }
      if (result.loud) {
        const deleted = type === TYPE_FILE_DELETED;
        const code = result.reason.startsWith('SetChecksum') ? (deleted ? 'exfat.deleted-set-checksum' : 'exfat.set-checksum') : 'exfat.set-shape';
        diag.add(code, deleted ? 'info' : 'warning', `${where || '/'}: ${deleted ? 'deleted ' : ''}entry set at slot ${off / ENTRY_SIZE} skipped: ${result.reason}`, at(off));
      }
      off += result.skip * ENTRY_SIZE;
      continue;
    }
    if (!(type & CATEGORY_SECONDARY)) afterRejected = false;
    const e = buf.subarray(off, off + ENTRY_SIZE);
    switch (type) {
      case TYPE_ALLOCATION_BITMAP: {
        const b = parseAllocationBitmapEntry(e);
        out.bitmaps.push({ offset: off, type, bitmapFlags: b.BitmapFlags, firstCluster: b.FirstCluster, dataLength: toSafe(b.DataLength) });
        break;
      }
      case TYPE_UPCASE_TABLE: {
        const u = parseUpcaseTableEntry(e);
        out.upcase ??= { offset: off, type, tableChecksum: u.TableChecksum, firstCluster: u.FirstCluster, dataLength: toSafe(u.DataLength) };
        break;
      }
      case TYPE_VOLUME_LABEL: {
        const l = parseVolumeLabelEntry(e);
        const count = Math.min(l.CharacterCount, 11);
        out.label ??= l.VolumeLabel.toString('utf16le', 0, count * 2);
        break;
      }
      case TYPE_VOLUME_GUID:
      case TYPE_TEXFAT_PADDING:
        break;
      default:
        if (type & IN_USE) {
          if (type & CATEGORY_SECONDARY) {
            // An in-use secondary with no primary before it: the rest of a broken set.
            out.implausible++;
            if (stopAtEnd && !afterRejected) diag.warn('exfat.stray-secondary', `${where || '/'}: in-use entry of type ${hex(type)} at slot ${off / ENTRY_SIZE} belongs to no entry set`, at(off));
          } else {
            // An unknown primary: step over its secondaries when its checksum says they are its own.
            const skip = unknownPrimaryLength(buf, off);
            if (!(type & IMPORTANCE_BENIGN)) {
              diag.info('exfat.unknown-entry', `${where || '/'}: unknown critical entry type ${hex(type)} at slot ${off / ENTRY_SIZE}`, at(off));
            }
            off += skip * ENTRY_SIZE;
            continue;
          }
        }
    }
    off += ENTRY_SIZE;
  }
  return out;
}

function unknownPrimaryLength(buf: Buffer, off: number): number {
  const count = buf[off + 1];
  const end = off + (count + 1) * ENTRY_SIZE;
  if (count === 0 || end > buf.length) return 1;
  // Secondary entries have types 0xC0-0xFF: on random bytes this fails after one or two
  // entries, long before a checksum over up to 8 KiB would.
  for (let s = 1; s <= count; s++) if (buf[off + s * ENTRY_SIZE] < 0xc0) return 1;
  const stored = buf.readUInt16LE(off + 2);
  return entrySetChecksum(buf.subarray(off, end)) === stored ? count + 1 : 1;
}

function readFileSet(buf: Buffer, off: number, upcase?: UpcaseTable): { set: ExfatFileSet } | Rejection {
  const primaryType = buf[off];
  const inUse = primaryType & IN_USE;
  const deleted = inUse === 0;
  const secondaryCount = buf[off + 1];
  if (secondaryCount < MIN_SECONDARY_COUNT || secondaryCount > MAX_SECONDARY_COUNT) {
    return { reason: `SecondaryCount: expected ${MIN_SECONDARY_COUNT}..${MAX_SECONDARY_COUNT}, got ${secondaryCount}`, loud: !deleted && buf[off + ENTRY_SIZE] === TYPE_STREAM_EXTENSION, skip: 1 };
  }
  const end = off + (secondaryCount + 1) * ENTRY_SIZE;
  const streamType = buf[off + ENTRY_SIZE];
  const streamLooksRight = off + 2 * ENTRY_SIZE <= buf.length && streamType === (TYPE_STREAM_EXTENSION_DELETED | inUse);
  if (end > buf.length) {
    return { reason: `set of ${secondaryCount + 1} entries runs past the end of the directory`, loud: !deleted && streamLooksRight, skip: 1 };
  }
  if (!streamLooksRight) {
    return { reason: `expected a ${deleted ? 'deleted ' : ''}Stream Extension entry after the File entry, got type ${hex(streamType)}`, loud: !deleted, skip: 1 };
  }
  for (let s = 2; s <= secondaryCount; s++) {
    const t = buf[off + s * ENTRY_SIZE];
    if (!(t & CATEGORY_SECONDARY) || (t & IN_USE) !== inUse) {
      // A deleted set whose tail was reused by a newer set is the usual case here: stay quiet.
      return { reason: `entry ${s} of the set has type ${hex(t)}, not a ${deleted ? 'deleted' : 'live'} secondary entry`, loud: !deleted, skip: 1 };
    }
  }
  const bytes = buf.subarray(off, end);
  const file = parseFileEntry(bytes.subarray(0, ENTRY_SIZE));
  const notes: string[] = [];
  const computed = entrySetChecksum(bytes, true);
  if (computed !== file.SetChecksum) {
    if (entrySetChecksum(bytes, false) !== file.SetChecksum) {
      return { reason: `SetChecksum: expected ${hex16(computed)}, stored ${hex16(file.SetChecksum)}`, loud: true, skip: secondaryCount + 1 };
    }
    notes.push('the set checksum matches only with the in-use bits as they are now');
  }
  const stream = parseStreamExtension(bytes.subarray(ENTRY_SIZE, 2 * ENTRY_SIZE));
  const nameLength = stream.NameLength;
  const nameEntries = Math.ceil(nameLength / NAME_CHARS_PER_ENTRY);
  if (nameLength === 0 || nameEntries > secondaryCount - 1) {
    return { reason: `NameLength: ${nameLength} characters do not fit the ${secondaryCount - 1} entries after the Stream Extension`, loud: true, skip: secondaryCount + 1 };
  }
  let name = '';
  for (let n = 0; n < nameEntries; n++) {
    const slot = bytes.subarray((2 + n) * ENTRY_SIZE, (3 + n) * ENTRY_SIZE);
    if ((slot[0] | IN_USE) !== TYPE_FILE_NAME) {
      return { reason: `entry ${2 + n} of the set has type ${hex(slot[0])}, expected a File Name entry`, loud: true, skip: secondaryCount + 1 };
    }
    name += parseFileNameEntry(slot).FileName.toString('utf16le');
  }
  name = name.slice(0, nameLength);
  if (stream.DataLength > MAX_SAFE || stream.ValidDataLength > MAX_SAFE) {
    return { reason: `DataLength: ${stream.DataLength} bytes is beyond what this tool can address`, loud: true, skip: secondaryCount + 1 };
  }
  const dataLength = Number(stream.DataLength);
  const validDataLength = Number(stream.ValidDataLength);
  if (validDataLength > dataLength) notes.push(`ValidDataLength ${validDataLength} exceeds DataLength ${dataLength}`);
  else if (validDataLength < dataLength) notes.push(`only the first ${validDataLength} of ${dataLength} bytes were written (ValidDataLength); the rest reads as zeros`);

  const judgeable = upcase !== undefined || !/[^\u0000-\u007f]/.test(name);
  const hash = stream.NameHash;
  const nameHashOk = judgeable ? nameHash(name, upcase) === hash : undefined;
  if (nameHashOk === false) notes.push('the NameHash does not match the name');

  const c = decodeTimestamp(file.CreateTimestamp, file.Create10msIncrement, file.CreateUtcOffset);
  const m = decodeTimestamp(file.LastModifiedTimestamp, file.LastModified10msIncrement, file.LastModifiedUtcOffset);
  const a = decodeTimestamp(file.LastAccessedTimestamp, 0, file.LastAccessedUtcOffset);
  const flags = stream.GeneralSecondaryFlags;
  return {
    set: {
      offset: off,
      entryCount: secondaryCount + 1,
      deleted,
      name,
      attributes: file.FileAttributes,
      isDirectory: (file.FileAttributes & ATTR_DIRECTORY) !== 0,
      generalSecondaryFlags: flags,
      noFatChain: (flags & FLAG_NO_FAT_CHAIN) !== 0,
      firstCluster: stream.FirstCluster,
      dataLength,
      validDataLength,
      nameHash: hash,
      nameHashOk,
      ctime: c?.date,
      mtime: m?.date,
      atime: a?.date,
      localTime: [c, m, a].some((t) => t !== undefined && !t.utcKnown),
      setChecksum: file.SetChecksum,
      notes,
    },
  };
}

function toSafe(n: bigint): number {
  return n > MAX_SAFE ? Number.MAX_SAFE_INTEGER : Number(n);
}

function hex(n: number): string {
  return '0x' + n.toString(16).toUpperCase().padStart(2, '0');
}

function hex16(n: number): string {
  return '0x' + n.toString(16).toUpperCase().padStart(4, '0');
}
