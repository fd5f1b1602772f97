/**
 * FAT directory entries as pure functions over raw bytes: the live directory walk
 * and, later, the sweep for orphaned directory clusters use the same code.
 */

export const ENTRY_SIZE = 32;
export const ATTR_READ_ONLY = 0x01;
export const ATTR_HIDDEN = 0x02;
export const ATTR_SYSTEM = 0x04;
export const ATTR_VOLUME_ID = 0x08;
export const ATTR_DIRECTORY = 0x10;
export const ATTR_ARCHIVE = 0x20;
export const ATTR_LONG_NAME = 0x0f;
const DELETED = 0xe5;
/** A name whose real first byte is 0xE5 is stored with 0x05 (Kanji lead byte). */
const KANJI_E5 = 0x05;
const NT_LOWER_BASE = 0x08;
const NT_LOWER_EXT = 0x10;

export interface DirEntry {
  /** Byte offset of the 8.3 entry within the buffer parsed. */
  offset: number;
  /** The 8.3 name as shown ('IMG_0001.JPG'), lower-case flags applied; '?' stands for a lost first byte. */
  shortName: string;
  longName?: string;
  deleted: boolean;
  /** The first character of a deleted short name was recovered from the long name's checksum. */
  firstCharFromChecksum?: boolean;
  attributes: number;
  firstCluster: number;
  /** The high 16 bits of the first cluster (FAT32); kept apart to judge zeroed high words. */
  clusterHigh: number;
  size: number;
  mtime?: Date;
  ctime?: Date;
  atime?: Date;
  isDot: boolean;
}

export function isDirectory(e: DirEntry): boolean {
  return (e.attributes & ATTR_DIRECTORY) !== 0;
}

export function displayName(e: DirEntry): string {
  return e.longName ?? e.shortName;
}

/** The checksum an LFN entry stores of its 8.3 name (FAT spec 7.2). */
export function shortNameChecksum(name11: Buffer | Uint8Array): number {
  let sum = 0;
  for (let i = 0; i < 11; i++) sum = (((sum & 1) << 7) + (sum >> 1) + name11[i]) & 0xff;
  return sum;
}

/** FAT date and time, local time of the camera; undefined when the fields are impossible. */
export function decodeFatTime(date: number, time: number, tenths = 0): Date | undefined {
  if (date === 0) return undefined;
  const day = date & 0x1f;
  const month = (date >> 5) & 0x0f;
  const year = 1980 + (date >> 9);
  const sec = (time & 0x1f) * 2 + Math.floor(tenths / 100);
  const min = (time >> 5) & 0x3f;
  const hour = time >> 11;
  if (day < 1 || month < 1 || month > 12 || hour > 23 || min > 59 || sec > 59) return undefined;
  return new Date(year, month - 1, day, hour, min, sec, (tenths % 100) * 10);
}

/** Where a long-name slot keeps its 13 UTF-16 characters: bytes 1-10, 14-25 and 28-31. */
const LFN_CHAR_AT = [1, 3, 5, 7, 9, 14, 16, 18, 20, 22, 24, 28, 30];

/**
 * The helpers below take the directory's buffer and a slot's offset in it, not a view of the
 * slot: a card of 60 000 photos has 60 000 slots, parsed more than once when its folders are
 * rebuilt, and a view and a copy per slot were 48 of the 580 MB that placing them allocated.
 */
function lfnChars(b: Buffer, at: number): string {
  let s = '';
  for (const i of LFN_CHAR_AT) {
    const ch = b[at + i] | (b[at + i + 1] << 8);
    if (ch === 0x0000 || ch === 0xffff) return s;
    s += String.fromCharCode(ch);
  }
  return s;
}

/** Bytes [from, to) of an 8.3 name without its padding spaces. */
function spaceTrimmedEnd(raw: Uint8Array, from: number, to: number): number {
  while (to > from && raw[to - 1] === 0x20) to--;
  return to;
}

function shortNameText(raw: Buffer, ntFlags: number): string {
  let base = raw.toString('latin1', 0, spaceTrimmedEnd(raw, 0, 8));
  const extEnd = spaceTrimmedEnd(raw, 8, 11);
  if (ntFlags & NT_LOWER_BASE) base = base.toLowerCase();
  if (extEnd === 8) return base;
  const ext = raw.toString('latin1', 8, extEnd);
  return `${base}.${ntFlags & NT_LOWER_EXT ? ext.toLowerCase() : ext}`;
}

interface PendingLfn {
  checksum: number;
  /** Fragments in on-disk order (last part of the name first). */
  parts: string[];
  /** Live sequences: the order number expected next; deleted ones have lost it. */
  nextOrd: number;
  deleted: boolean;
}

export interface ParsedDirectory {
  entries: DirEntry[];
  /** A 0x00 first byte was met: the directory ends here. */
  ended: boolean;
  /** 32-byte slots that could not be an entry at all: a measure of "is this really a directory?". */
  implausible: number;
}

// What a 32-byte slot is, as parseDirectory and directoryShape both judge it.
const SLOT_END = 0;
const SLOT_LONG_NAME = 1;
const SLOT_IMPLAUSIBLE = 2;
const SLOT_VOLUME_LABEL = 3;
const SLOT_ENTRY = 4;

function slotKind(buf: Buffer, off: number): number {
  const first = buf[off];
  if (first === 0x00) return SLOT_END;
  const attr = buf[off + 11];
  if ((attr & 0x3f) === ATTR_LONG_NAME) return SLOT_LONG_NAME;
  if (attr & 0xc0 || (first !== DELETED && !plausibleShortName(buf, off))) return SLOT_IMPLAUSIBLE;
  if (attr & ATTR_VOLUME_ID && !(attr & ATTR_DIRECTORY)) return SLOT_VOLUME_LABEL;
  return SLOT_ENTRY;
}

/**
 * Parse a run of 32-byte directory entries. `fat32` decides whether the high word of the
 * first cluster is meaningful.
 */
export function parseDirectory(buf: Buffer, fat32: boolean): ParsedDirectory {
  const entries: DirEntry[] = [];
  let pending: PendingLfn | null = null;
  let implausible = 0;
  for (let off = 0; off + ENTRY_SIZE <= buf.length; off += ENTRY_SIZE) {
    const kind = slotKind(buf, off);
    if (kind === SLOT_END) return { entries, ended: true, implausible };
    const deleted = buf[off] === DELETED;
    if (kind === SLOT_LONG_NAME) {
      pending = takeLfn(buf, off, deleted, pending);
      continue;
    }
    if (kind === SLOT_IMPLAUSIBLE) implausible++;
    if (kind === SLOT_ENTRY) entries.push(decodeShortEntry(buf, off, deleted, fat32, pending));
    pending = null;
  }
  return { entries, ended: false, implausible };
}

export interface DirectoryShape {
  /** How many entries parseDirectory would return. */
  entries: number;
  ended: boolean;
  implausible: number;
}

/**
 * parseDirectory's counts without decoding an entry: for the questions that only ask whether
 * a cluster holds entries (the old-folder sweep asks it of every candidate cluster).
 */
export function directoryShape(buf: Buffer): DirectoryShape {
  let entries = 0;
  let implausible = 0;
  for (let off = 0; off + ENTRY_SIZE <= buf.length; off += ENTRY_SIZE) {
    const kind = slotKind(buf, off);
    if (kind === SLOT_END) return { entries, ended: true, implausible };
    if (kind === SLOT_IMPLAUSIBLE) implausible++;
    else if (kind === SLOT_ENTRY) entries++;
  }
  return { entries, ended: false, implausible };
}

function takeLfn(b: Buffer, at: number, deleted: boolean, pending: PendingLfn | null): PendingLfn | null {
  const checksum = b[at + 13];
  const chars = lfnChars(b, at);
  if (deleted) {
    if (pending && pending.deleted && pending.checksum === checksum) {
      pending.parts.push(chars);
      return pending;
    }
    return { checksum, parts: [chars], nextOrd: 0, deleted: true };
  }
  const ord = b[at] & 0x1f;
  if (b[at] & 0x40) return ord > 0 ? { checksum, parts: [chars], nextOrd: ord - 1, deleted: false } : null;
  if (pending && !pending.deleted && pending.checksum === checksum && pending.nextOrd === ord && ord > 0) {
    pending.parts.push(chars);
    pending.nextOrd = ord - 1;
    return pending;
  }
  return null;
}

function plausibleShortName(e: Buffer, at: number): boolean {
  for (let i = 0; i < 11; i++) {
    const b = e[at + i];
    if (b < 0x20 && !(i === 0 && b === KANJI_E5)) return false;
    if (b === 0x22 || b === 0x2a || b === 0x2b || b === 0x2c || b === 0x2f || b === 0x3a || b === 0x3b || b === 0x3c || b === 0x3d || b === 0x3e || b === 0x3f || b === 0x5b || b === 0x5c || b === 0x5d || b === 0x7c) {
      // '.' is allowed only in the dot entries
      return false;
    }
  }
  return true;
}

function decodeShortEntry(b: Buffer, off: number, deleted: boolean, fat32: boolean, pending: PendingLfn | null): DirEntry {
  // '.' or '..' and nothing but padding after them (only names that start with '.' are looked at).
  let isDot = false;
  if (b[off] === 0x2e) {
    const nameEnd = spaceTrimmedEnd(b, off, off + 11);
    isDot = nameEnd === off + 1 || (nameEnd === off + 2 && b[off + 1] === 0x2e);
  }
  // The 8.3 name's bytes, copied only when one is to change: a Kanji lead byte, or the lead recovered below.
  let raw = b.subarray(off, off + 11);
  if (raw[0] === KANJI_E5) {
    raw = Buffer.from(raw);
    raw[0] = 0xe5;
  }
  let longName: string | undefined;
  let firstCharFromChecksum = false;
  if (pending && !isDot) {
    if (!deleted && pending.nextOrd === 0 && pending.checksum === shortNameChecksum(raw)) {
      longName = pending.parts.reverse().join('');
    } else if (deleted && pending.deleted) {
      // The first byte of a deleted 8.3 name is gone; the LFN checksum tells which byte it was.
      const lead = recoverLeadByte(raw, pending.checksum);
      if (lead !== undefined) {
        raw = Buffer.from(raw);
        raw[0] = lead;
        firstCharFromChecksum = true;
        longName = pending.parts.reverse().join('');
      }
    }
  }
  const clusterHigh = fat32 ? b.readUInt16LE(off + 20) : 0;
  const shortName = deleted && !firstCharFromChecksum ? `?${shortNameText(raw, b[off + 12]).slice(1)}` : shortNameText(raw, b[off + 12]);
  return {
    offset: off,
    shortName,
    longName: longName || undefined,
    deleted,
    firstCharFromChecksum: firstCharFromChecksum || undefined,
    attributes: b[off + 11],
    firstCluster: (clusterHigh << 16) | b.readUInt16LE(off + 26),
    clusterHigh,
    size: b.readUInt32LE(off + 28),
    ctime: decodeFatTime(b.readUInt16LE(off + 16), b.readUInt16LE(off + 14), b[off + 13]),
    atime: decodeFatTime(b.readUInt16LE(off + 18), 0),
    mtime: decodeFatTime(b.readUInt16LE(off + 24), b.readUInt16LE(off + 22)),
    isDot,
  };
}

/** Printable bytes first, in the order a short name is most likely to start with. */
const LEAD_CANDIDATES = [...'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_$~!#%&-@^`{}\'()'].map((c) => c.charCodeAt(0));

function recoverLeadByte(raw: Buffer, checksum: number): number | undefined {
  const probe = Buffer.from(raw);
  for (const b of LEAD_CANDIDATES) {
    probe[0] = b;
    if (shortNameChecksum(probe) === checksum) return b;
  }
  return undefined;
}

/**
 * DCF naming: a deleted 'IMG_0003.JPG' reads '?MG_0003.JPG'. When its siblings that share
 * the rest of the prefix and the extension all start with one letter, that letter is the answer;
 * else siblings with the same prefix of any extension; else, with no sibling of that prefix at
 * all, the camera naming the prefix belongs to (DCF_LEADS).
 */
export function guessLeadFromSiblings(lostName: string, siblings: readonly string[]): string | undefined {
  const m = /^\?([A-Z0-9_]{2,3})[A-Z0-9_]*(\.[A-Z0-9]{1,3})?$/i.exec(lostName);
  if (!m) return undefined;
  const stem = m[1].toUpperCase();
  const ext = (m[2] ?? '').toUpperCase();
  const letters = siblingLeads(siblings, stem, ext);
  if (letters.size > 0) return letters.size === 1 ? [...letters][0] : undefined;
  // Siblings of another extension with the same stem (IMG_5001.JPG beside ?MG_0009.CR3).
  const anyExt = siblingLeads(siblings, stem, null);
  if (anyExt.size > 0) return anyExt.size === 1 ? [...anyExt][0] : undefined;
  return DCF_LEADS.get(stem.slice(0, 3));
}

/**
 * DCF folders in DCIM are three digits and five characters (100CANON, 101_PANA; folders named
 * by hand in that manner may have fewer): a deleted one with no long name reads '?00CANON'.
 * Sibling folders with the same characters after the digits tell the digit when they agree;
 * else it is 1, as DCF numbering starts at 100 and few cards pass 199. Undefined when the name
 * is no DCF folder's, or the siblings disagree.
 */
export function guessDcfFolderLead(lostName: string, siblings: readonly string[]): { lead: string; from: 'siblings' | 'numbering' } | undefined {
  const m = /^\?(\d\d)([0-9A-Z_]{1,5})$/i.exec(lostName);
  if (!m) return undefined;
  const suffix = m[2].toUpperCase();
  const digits = new Set<string>();
  for (const s of siblings) {
    const d = /^([1-9])\d\d([0-9A-Z_]{1,5})$/i.exec(s);
    if (d && d[2].toUpperCase() === suffix) digits.add(d[1]);
  }
  if (digits.size === 1) return { lead: [...digits][0], from: 'siblings' };
  return digits.size === 0 ? { lead: '1', from: 'numbering' } : undefined;
}

/** Per folder's sibling list: the first letters found for each stem (and extension, or any). */
const leadsBySiblings = new WeakMap<readonly string[], Map<string, Set<string>>>();

/**
 * The first letters of the live siblings whose next letters are `stem` (and whose extension
 * is `ext`, when given). Kept per sibling list: a folder of 1000 photos with 100 deleted asks
 * 100 times, and the list is walked once per stem.
 */
function siblingLeads(siblings: readonly string[], stem: string, ext: string | null): Set<string> {
  let cache = leadsBySiblings.get(siblings);
  if (!cache) leadsBySiblings.set(siblings, (cache = new Map()));
  const key = `${stem}|${ext ?? '*'}`;
  const known = cache.get(key);
  if (known) return known;
  const letters = new Set<string>();
  for (const s of siblings) {
    if (s.startsWith('?') || s.length < 2) continue;
    const upper = s.toUpperCase();
    if (upper.slice(1, 1 + stem.length) !== stem) continue;
    if (ext !== null && (upper.includes('.') ? upper.slice(upper.lastIndexOf('.')) : '') !== ext) continue;
    letters.add(upper[0]);
  }
  cache.set(key, letters);
  return letters;
}

/**
 * What cameras put before the rest of their file names (DCF allows any four characters; these
 * are the common ones): when no sibling tells, '?VI_0017.MOV' is Canon's MVI_0017.MOV.
 */
const DCF_LEADS = new Map<string, string>([
  ['MG_', 'I'], // IMG_ (Canon, phones)
  ['VI_', 'M'], // MVI_ (Canon movies)
  ['SC_', 'D'], // DSC_ (Nikon)
  ['SCN', 'D'], // DSCN (Nikon compacts)
  ['SCF', 'D'], // DSCF (Fujifilm)
  ['OPR', 'G'], // GOPR (GoPro)
  ['JI_', 'D'], // DJI_
  ['ID_', 'V'], // VID_ (phones)
  ['ICT', 'P'], // PICT
  ['MGP', 'I'], // IMGP (Pentax)
  ['XL_', 'P'], // PXL_ (Pixel)
]);
