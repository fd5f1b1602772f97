/**
 * Old exFAT directories left in the cluster heap by a quick format (or by any loss of the
 * directory that named them), as pure functions over raw cluster bytes.
 *
 * A quick format rewrites the boot region, the FAT, the allocation bitmap, the up-case table
 * and the root directory; the old folders' clusters survive until new data lands on them.
 * Unlike FAT, an exFAT directory has no '.' and '..' entries: a directory cluster is known
 * only by the entry sets in it (checked by their SetChecksum), and a folder is linked to its
 * parent only through the parent's entry set whose FirstCluster is the folder's first cluster.
 * The FAT chain of a multi-cluster directory is gone with the format: its later clusters are
 * joined to it when they follow it (contiguous, or NoFatChain), or when an entry set that
 * starts at the end of one cluster checksums only with the start of the other.
 */
import { sanitizeName } from '../fat/index.js';
import {
  CATEGORY_SECONDARY,
  ENTRY_SIZE,
  IN_USE,
  MAX_SECONDARY_COUNT,
  MIN_SECONDARY_COUNT,
  parseEntrySets,
  TYPE_FILE,
  TYPE_FILE_DELETED,
  TYPE_STREAM_EXTENSION_DELETED,
  type ExfatFileSet,
  type UpcaseTable,
} from './entries.js';

/** DCF folder names: 100CANON, 101NIKON, 102_PANA. */
export const DCF_FOLDER = /^[1-9]\d\d[0-9A-Z_]{5}$/i;
/** DCF file names: IMG_0001.JPG, DSC_1234.NEF, MVI_0042.MOV. */
export const DCF_FILE = /^[0-9A-Z_]{4}\d{4}\.[0-9A-Z]{3}$/i;

/** Deepest folder nesting we rebuild; deeper (or looping) parents count as lost. */
const MAX_DEPTH = 64;

/** What one cluster holds, judged on its own. */
export interface DirClusterScan {
  /**
   * 'dir': it holds valid entry sets from its start (after the tail of a set begun in the cluster
   * before, if any), with few in-use slots that belong to no set. 'tail': only such a tail, then
   * free slots: worth joining to the cluster it continues, never a folder by itself.
   */
  kind: 'dir' | 'tail';
  /** Leading slots that are secondary entries of a set begun in another cluster. */
  lead: number;
  /** The cluster holds an end-of-directory entry (type 0x00): the directory stops here. */
  ended: boolean;
  /** Slot where an entry set starts that runs past the end of the cluster. */
  openSlot?: number;
  /** The sets found in this cluster alone. */
  sets: ExfatFileSet[];
  /** In-use slots that belong to no set (outside the leading tail and the open set). */
  implausible: number;
}

function isSecondaryType(t: number): boolean {
  return t !== 0 && (t & CATEGORY_SECONDARY) !== 0;
}

/** First bytes mayBeDirectoryCluster can accept (1 = possible): a File entry or a secondary it allows. */
export const DIRECTORY_HEAD_BYTES: Uint8Array = (() => {
  const table = new Uint8Array(256);
  for (let t = 0; t < 256; t++) {
    if (t === TYPE_FILE || t === TYPE_FILE_DELETED || isSecondaryStart(t)) table[t] = 1;
  }
  return table;
})();

/**
 * Cheap test on the first two slots of a cluster: could it be a directory cluster? A File
 * entry (live or not) followed by a Stream Extension of the same state, or a secondary entry
 * (the tail of a set begun in the cluster before).
 */
export function mayBeDirectoryCluster(head: Buffer): boolean {
  if (head.length < 2 * ENTRY_SIZE) return false;
  const t = head[0];
  if (t === TYPE_FILE || t === TYPE_FILE_DELETED) {
    const count = head[1];
    return count >= MIN_SECONDARY_COUNT && count <= MAX_SECONDARY_COUNT && head[ENTRY_SIZE] === (TYPE_STREAM_EXTENSION_DELETED | (t & IN_USE));
  }
  // File Name, Stream Extension, vendor extension / allocation (benign secondaries), live or
  // not: the tail of a set begun in the cluster before. What follows it is more of the set,
  // the next set's primary, or the end of the directory (random bytes rarely are).
  return isSecondaryStart(t) && mayFollowInDirectory(head[ENTRY_SIZE]);
}

function isSecondaryStart(t: number): boolean {
  const low = t & ~IN_USE;
  return low === 0x40 || low === 0x41 || low === 0x60 || low === 0x61;
}

/** An entry type that can follow a secondary entry: end of directory, a secondary, or a primary exFAT defines. */
function mayFollowInDirectory(t: number): boolean {
  const low = t & ~IN_USE;
  return t === 0 || isSecondaryStart(t) || low === 0x05 || (low >= 0x01 && low <= 0x03) || (low >= 0x20 && low <= 0x22);
}

/**
 * Is `bytes` (one cluster) an exFAT directory cluster? Null when it is not. Uses the same
 * checks as the directory walk (`parseEntrySets`), looking past end-of-directory slots and
 * keeping sets whose in-use bit is clear.
 */
export function scanDirectoryCluster(bytes: Buffer, upcase?: UpcaseTable): DirClusterScan | null {
  const slots = Math.floor(bytes.length / ENTRY_SIZE);
  if (slots === 0) return null;
  if (cannotBeDirectoryCluster(bytes, slots)) return null;
  const parsed = parseEntrySets(bytes.subarray(0, slots * ENTRY_SIZE), { stopAtEnd: false, includeDeleted: true, upcase });
  const covered = new Uint8Array(slots);
  for (const s of parsed.sets) covered.fill(1, s.offset / ENTRY_SIZE, s.offset / ENTRY_SIZE + s.entryCount);

  let lead = 0;
  while (lead < slots && !covered[lead] && isSecondaryType(bytes[lead * ENTRY_SIZE])) lead++;
  if (lead > MAX_SECONDARY_COUNT) return null;

  // A set that starts near the end and runs past it: its secondaries so far are no junk.
  let openSlot: number | undefined;
  for (let k = slots - 1; k >= lead && k >= slots - 1 - MAX_SECONDARY_COUNT; k--) {
    if (covered[k]) break;
    const t = bytes[k * ENTRY_SIZE];
    if (t !== TYPE_FILE && t !== TYPE_FILE_DELETED) continue;
    const count = bytes[k * ENTRY_SIZE + 1];
    if (count < MIN_SECONDARY_COUNT || count > MAX_SECONDARY_COUNT || k + 1 + count <= slots) break;
    let ok = true;
    for (let s = k + 1; s < slots && ok; s++) {
      const st = bytes[s * ENTRY_SIZE];
      ok = isSecondaryType(st) && (st & IN_USE) === (t & IN_USE) && (s !== k + 1 || st === (TYPE_STREAM_EXTENSION_DELETED | (t & IN_USE)));
    }
    if (ok) openSlot = k;
    break;
  }

  let ended = false;
  let implausible = 0;
  const firstSet = parsed.sets.length ? parsed.sets[0].offset / ENTRY_SIZE : slots;
  for (let k = lead; k < slots; k++) {
    if (covered[k]) continue;
    if (openSlot !== undefined && k >= openSlot) break;
    const t = bytes[k * ENTRY_SIZE];
    if (t === 0) {
      ended = true;
      continue;
    }
    if (!(t & IN_USE)) continue; // not in use: leftovers of deleted sets
    implausible++;
  }

  if (parsed.sets.length === 0) {
    if (lead === 0 || implausible > 0) return null;
    return { kind: 'tail', lead, ended, openSlot, sets: [], implausible };
  }
  let setSlots = 0;
  for (const s of parsed.sets) setSlots += s.entryCount;
  // The cluster must open with its sets (a damaged set or two may come first), and hold few strays.
  if (firstSet - lead > MAX_SECONDARY_COUNT + 1 || implausible > Math.max(1, setSlots / 4)) return null;
  return { kind: 'dir', lead, ended, openSlot, sets: parsed.sets, implausible };
}

/**
 * What the verdict below will be null for, told from the entry types alone, before parsing:
 * most clusters the sweep's head test lets through are file data. A cluster cannot open with
 * more secondary entries than one set has (no File entry comes before them to own them). And
 * in-use primaries other than File never belong to a set, so each is a stray: more of them
 * than a quarter of the slots sets could fill at most is more than the verdict allows.
 */
function cannotBeDirectoryCluster(bytes: Buffer, slots: number): boolean {
  let lead = 0;
  while (lead < slots && isSecondaryType(bytes[lead * ENTRY_SIZE])) lead++;
  if (lead > MAX_SECONDARY_COUNT) return true;
  let strays = 0;
  let setTypes = 0;
  for (let k = 0; k < slots; k++) {
    const t = bytes[k * ENTRY_SIZE];
    if (t === TYPE_FILE || t === TYPE_FILE_DELETED || isSecondaryType(t)) setTypes++;
    else if (t & IN_USE) strays++;
  }
  return strays > Math.max(1, setTypes / 4);
}

/**
 * Does `next` (a cluster) begin with the rest of the entry set `open` (the slots a set took
 * at the end of the cluster before) begins? Only when the whole set passes its SetChecksum:
 * proof, not likeness, that `next` is the cluster the directory went on in.
 */
export function completesOpenSet(open: Buffer, next: Buffer, upcase?: UpcaseTable): boolean {
  // Only the open set matters: a set is 19 entries at most.
  const both = Buffer.concat([open, next]).subarray(0, (MAX_SECONDARY_COUNT + 1) * ENTRY_SIZE);
  const first = parseEntrySets(both, { stopAtEnd: false, includeDeleted: true, upcase }).sets[0];
  return first !== undefined && first.offset === 0 && first.entryCount * ENTRY_SIZE > open.length;
}

/** Enough for a cluster to continue a folder whose chain is gone, when no entry set is split between them. */
export const MIN_CONTINUATION_SCORE = 2.5;

/** Hour: files written one after the other into a folder that grew between them. */
const CLOSE_IN_TIME_MS = 60 * 60 * 1000;

/**
 * How well the entry sets of a cluster (`next`, opening with a set) go on from a folder's
 * (`folder`, in order) when nothing is split between them to prove it. Impossible (-Infinity)
 * when the cluster's first set is deleted and the folder's last is not (or the other way
 * round), and when the cluster is neither where the folder would have grown (`adjacent`: right
 * after its last cluster, or right after its last file's data) nor numbered on from it
 * (IMG_0041.JPG, then MVI_0042.MOV). Else the evidence adds up: adjacent 1.5; numbered on 2;
 * names of one kind (IMG_.JPG) 1; the first file created no earlier than the folder's last,
 * and within the hour, 1; its data past the last file's 0.5. MIN_CONTINUATION_SCORE is enough.
 */
export function continuationScore(folder: readonly ExfatFileSet[], next: readonly ExfatFileSet[], adjacent: boolean): number {
  const tail = folder[folder.length - 1];
  const head = next[0];
  if (!tail || !head || tail.deleted !== head.deleted) return -Infinity;
  const a = nameShape(tail.name);
  const b = nameShape(head.name);
  const numberedOn = a.number !== null && b.number !== null && b.number > a.number && b.number - a.number <= 2;
  if (!adjacent && !numberedOn) return -Infinity;
  let score = (adjacent ? 1.5 : 0) + (numberedOn ? 2 : 0) + (a.kind === b.kind ? 1 : 0);
  const t0 = tail.ctime?.getTime();
  const t1 = head.ctime?.getTime();
  if (t0 !== undefined && t1 !== undefined && t1 >= t0 && t1 - t0 <= CLOSE_IN_TIME_MS) score += 1;
  if (!tail.isDirectory && !head.isDirectory && tail.firstCluster >= 2 && head.firstCluster > tail.firstCluster) score += 0.5;
  return score;
}

/** A name without its digits ('IMG_.JPG'), and the number its stem ends with. */
function nameShape(name: string): { kind: string; number: number | null } {
  const dot = name.lastIndexOf('.');
  const stem = dot > 0 ? name.slice(0, dot) : name;
  const digits = /(\d+)$/.exec(stem);
  return { kind: name.toUpperCase().replace(/\d/g, ''), number: digits ? Number(digits[1].slice(-9)) : null };
}

/** A swept cluster that passed `scanDirectoryCluster`. */
export interface SweptCluster {
  cluster: number;
  bytes: Buffer;
  scan: DirClusterScan;
}

/** How a folder's later clusters were joined to it. */
export type JoinBasis = 'no-fat-chain' | 'contiguous-guess' | 'set-checksum';

/** An old folder: its clusters (each in exactly one folder) and the sets they hold. */
export interface OrphanFolder {
  /** The folder's first cluster as found (for an unnamed folder, its first surviving cluster). */
  first: number;
  clusters: number[];
  /** Entry sets parsed over the joined clusters (so sets straddling two clusters are whole). */
  sets: ExfatFileSet[];
  /** How each later cluster was joined, when there are any. */
  joins: JoinBasis[];
  /** The first cluster begins with the tail of a set from a cluster that was not found. */
  startsMidSet: boolean;
}

/** A directory entry set naming a folder: the folder's first cluster, size and flags. */
interface FolderRef {
  holder: number;
  set: ExfatFileSet;
}

function better(a: FolderRef | undefined, b: FolderRef): boolean {
  return a === undefined || (a.set.deleted && !b.set.deleted);
}

/**
 * Group swept directory clusters into folders. A cluster named as a folder's first cluster by
 * some swept entry set starts a folder, which takes as many following clusters as its
 * DataLength allows (exactly its clusters under NoFatChain; a guess otherwise); the other
 * clusters start folders of their own unless they continue one. Every cluster lands in one
 * folder only, so no file is listed twice.
 */
export function buildOrphanFolders(swept: Map<number, SweptCluster>, clusterSize: number, maxDirBytes: number, upcase?: UpcaseTable): OrphanFolder[] {
  const refs = new Map<number, FolderRef>();
  const order = [...swept.keys()].sort((a, b) => a - b);
  for (const c of order) {
    const s = swept.get(c)!;
    for (const set of s.scan.sets) {
      if (!set.isDirectory || set.firstCluster === c || set.dataLength === 0) continue;
      const target = swept.get(set.firstCluster);
      if (!target || target.scan.kind !== 'dir' || target.scan.lead > 0) continue;
      const ref = { holder: c, set };
      if (better(refs.get(set.firstCluster), ref)) refs.set(set.firstCluster, ref);
    }
  }

  const assigned = new Set<number>();
  const maxClusters = Math.max(1, Math.floor(maxDirBytes / clusterSize));
  const groups: { clusters: number[]; joins: JoinBasis[]; limit: number; exact: boolean }[] = [];

  /** May `next` continue the folder whose last cluster is `last`? */
  const continues = (last: SweptCluster, next: SweptCluster | undefined): boolean => {
    if (!next || assigned.has(next.cluster) || refs.has(next.cluster) || last.scan.ended) return false;
    // A set left open at the end of `last` must go on at the start of `next`, and only then.
    return (last.scan.openSlot !== undefined) === (next.scan.lead > 0);
  };
  const extend = (g: (typeof groups)[number]): void => {
    for (;;) {
      if (g.clusters.length >= g.limit) return;
      const last = swept.get(g.clusters[g.clusters.length - 1])!;
      const next = swept.get(last.cluster + 1);
      if (!continues(last, next)) return;
      g.clusters.push(next!.cluster);
      g.joins.push(g.exact ? 'no-fat-chain' : 'contiguous-guess');
      assigned.add(next!.cluster);
    }
  };
  const start = (c: number, limit: number, exact: boolean) => {
    const g = { clusters: [c], joins: [] as JoinBasis[], limit, exact };
    assigned.add(c);
    groups.push(g);
    extend(g);
  };

  for (const c of order) {
    const ref = refs.get(c);
    if (!ref || assigned.has(c)) continue;
    start(c, Math.min(maxClusters, Math.max(1, Math.ceil(ref.set.dataLength / clusterSize))), ref.set.noFatChain);
  }
  for (const c of order) if (!assigned.has(c) && swept.get(c)!.scan.kind === 'dir' && swept.get(c)!.scan.lead === 0) start(c, maxClusters, false);

  // Fragmented folders: a set left open at the end of a folder's last cluster that checksums
  // with the start of exactly one unclaimed cluster proves that cluster is the next one.
  const tails = order.filter((c) => swept.get(c)!.scan.lead > 0);
  let joined = true;
  while (joined) {
    joined = false;
    for (const g of groups) {
      if (g.clusters.length >= g.limit) continue;
      const last = swept.get(g.clusters[g.clusters.length - 1])!;
      if (last.scan.openSlot === undefined || last.scan.ended) continue;
      const open = last.bytes.subarray(last.scan.openSlot * ENTRY_SIZE);
      const fits = tails.filter((c) => !assigned.has(c) && completesOpenSet(open, swept.get(c)!.bytes, upcase));
      if (fits.length !== 1) continue;
      g.clusters.push(fits[0]);
      g.joins.push('set-checksum');
      assigned.add(fits[0]);
      extend(g);
      joined = true;
    }
  }
  // Clusters that continue a folder we could not find: folders of their own.
  for (const c of order) if (!assigned.has(c) && swept.get(c)!.scan.kind === 'dir') start(c, maxClusters, false);

  return groups
    .map((g) => {
      const sets = setsAcross(g.clusters.map((c) => swept.get(c)!), upcase);
      return { first: g.clusters[0], clusters: g.clusters, sets, joins: g.joins, startsMidSet: swept.get(g.clusters[0])!.scan.lead > 0 };
    })
    .sort((a, b) => a.first - b.first);
}

/**
 * The entry sets of a folder's clusters in order: what parsing their bytes joined gives,
 * without parsing every cluster a second time. Each cluster's own sets (from its scan) stay
 * as they are, moved to their place in the folder; only a set a cluster leaves open at its end
 * (its openSlot) is parsed again, over the bytes from it on. That set's secondaries are all
 * the next cluster's lead, so the next cluster's own sets come after it, as in a joined parse.
 * Exported for test/exfat/orphans.test.ts, which holds it to the joined parse.
 */
export function setsAcross(clusters: readonly SweptCluster[], upcase?: UpcaseTable): ExfatFileSet[] {
  const sets: ExfatFileSet[] = [];
  let base = 0;
  for (let i = 0; i < clusters.length; i++) {
    const { bytes, scan } = clusters[i];
    // Copies, as a parse of their own would give: whoever takes a folder's sets may add notes.
    for (const set of scan.sets) sets.push({ ...set, offset: base + set.offset, notes: [...set.notes] });
    if (scan.openSlot !== undefined && i + 1 < clusters.length) {
      const at = scan.openSlot * ENTRY_SIZE;
      const window = Buffer.concat([bytes.subarray(at), ...clusters.slice(i + 1).map((c) => c.bytes)].slice(0, 3)).subarray(0, (MAX_SECONDARY_COUNT + 1) * ENTRY_SIZE);
      const open = parseEntrySets(window, { stopAtEnd: false, includeDeleted: true, upcase }).sets[0];
      if (open && open.offset === 0) sets.push({ ...open, offset: base + at });
    }
    base += bytes.length;
  }
  return sets;
}

/** Where an old folder goes, and whether any part of that path is made up. */
export interface OrphanPath {
  path: string[];
  guessed: boolean;
  /** How the path was found, in words, for the notes. */
  how: string;
}

export interface LiveTree {
  /** Path of the live DCIM folder at the root, when there is one (cameras recreate it). */
  dcim?: string[];
  /** Path of the folder a live directory's entry (live or deleted) names with this first cluster. */
  namedAt?: (cluster: number) => string[] | undefined;
}

/**
 * Give every old folder a path. A folder's name is in its parent's entry set whose
 * FirstCluster is the folder's first cluster. A folder whose parent is lost: one that holds
 * DCF folders (100CANON) is DCIM (a guess: the root that named it was rewritten); one that
 * holds DCF files (IMG_0001.JPG) is a DCF folder of unknown name, DCIM/FOLDER<cluster>; any
 * other goes under `lostRoot` as FOLDER<cluster>.
 */
export function orphanFolderPaths(folders: OrphanFolder[], lostRoot: string, live: LiveTree = {}): Map<number, OrphanPath> {
  const byFirst = new Map(folders.map((f) => [f.first, f]));
  const parentOf = new Map<number, { folder: OrphanFolder; set: ExfatFileSet }>();
  for (const f of folders) {
    for (const set of f.sets) {
      if (!set.isDirectory || set.firstCluster === f.first || !byFirst.has(set.firstCluster)) continue;
      const known = parentOf.get(set.firstCluster);
      if (!known || (known.set.deleted && !set.deleted)) parentOf.set(set.firstCluster, { folder: f, set });
    }
  }
  const dcim = live.dcim ?? ['DCIM'];
  const out = new Map<number, OrphanPath>();
  const resolving = new Set<number>();
  const resolve = (f: OrphanFolder, depth: number): OrphanPath => {
    const known = out.get(f.first);
    if (known) return known;
    resolving.add(f.first);
    let result: OrphanPath;
    const parent = parentOf.get(f.first);
    const named = live.namedAt?.(f.first);
    if (parent && depth < MAX_DEPTH && !resolving.has(parent.folder.first)) {
      const up = resolve(parent.folder, depth + 1);
      result = { path: [...up.path, sanitizeName(parent.set.name)], guessed: up.guessed, how: up.how };
    } else if (named) {
      result = { path: named, guessed: false, how: 'named by an entry of the live tree' };
    } else if (f.sets.some((s) => s.isDirectory && DCF_FOLDER.test(s.name))) {
      result = { path: dcim, guessed: true, how: 'holds DCF folders, so taken for DCIM' };
    } else if (f.sets.some((s) => !s.isDirectory && DCF_FILE.test(s.name))) {
      result = { path: [...dcim, `FOLDER${f.first}`], guessed: true, how: 'holds DCF-named files, so taken for a camera folder under DCIM' };
    } else {
      result = { path: [lostRoot, `FOLDER${f.first}`], guessed: true, how: 'its parent folder was not found' };
    }
    resolving.delete(f.first);
    out.set(f.first, result);
    return result;
  };
  for (const f of folders) resolve(f, 0);
  return out;
}
