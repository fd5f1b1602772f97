import { ATTR_LONG_NAME, ENTRY_SIZE, parseDirectory, shortNameChecksum, type DirEntry, type ParsedDirectory } from './dirent.js';

/**
 * An old FAT folder's first cluster says who it is ('.' and '..'); its later clusters say
 * nothing of the kind, and the FAT that chained them is gone. Folders that grew in turns
 * interleave (100CANON, MISC, 100CANON, 100CANON, MISC), so "the next cluster" is not
 * enough: a later cluster is given to the open folder whose entries it continues best.
 * The evidence, strongest first: a long name split across the two clusters (its checksum
 * must carry over, or the join is impossible), the names continuing (IMG_0045 → IMG_0046),
 * the same kinds of names (IMG_…JPG, LOG_…TXT), the files' clusters going on upwards,
 * and finally plain adjacency, which is all the old code used.
 */

/** A folder being rebuilt: its clusters so far and what they hold. */
export interface FolderInProgress {
  clusters: number[];
  parts: Buffer[];
  ended: boolean;
  /** Name kinds seen so far, and the last named entry: what a continuation is compared with. */
  kinds: Set<string>;
  tail?: DirEntry;
  /** FAT32 keeps the high word of an entry's first cluster: the files' clusters compare whole. */
  fat32: boolean;
}

/** A folder opened by its first cluster. */
export function startFolder(cluster: number, bytes: Buffer, fat32 = false): FolderInProgress {
  const folder: FolderInProgress = { clusters: [], parts: [], ended: false, kinds: new Set(), fat32 };
  extendFolder(folder, cluster, bytes);
  return folder;
}

/** Add a cluster to the folder: its entries go on from the ones before (`parsed`: the cluster's, when already at hand). */
export function extendFolder(folder: FolderInProgress, cluster: number, bytes: Buffer, parsed = parseDirectory(bytes, folder.fat32)): void {
  const named = namedOf(parsed);
  folder.clusters.push(cluster);
  folder.parts.push(bytes);
  folder.ended = parsed.ended;
  for (const e of named) folder.kinds.add(shapeOf(e).kind);
  if (named.length) folder.tail = named[named.length - 1];
}

/** A later cluster that parses as directory entries and opens no folder of its own. */
export interface ContinuationCandidate {
  cluster: number;
  bytes: Buffer;
}

const IMPOSSIBLE = -Infinity;

/** Bytes 12.. of an 8.3 entry: the case flags take only these values. */
const CASE_FLAGS = new Set([0x00, 0x08, 0x10, 0x18]);

/** One 32-byte slot that could be a directory entry (8.3 or long-name part), live or deleted. */
function plausibleSlot(bytes: Buffer, at: number): boolean {
  const first = bytes[at];
  const attr = bytes[at + 11];
  if ((attr & 0x3f) === ATTR_LONG_NAME) {
    const ord = first & 0x1f;
    const ordinalOk = first === 0xe5 || ((first & 0xa0) === 0 && ord >= 1 && ord <= 20);
    return ordinalOk && bytes[at + 12] === 0 && bytes[at + 26] === 0 && bytes[at + 27] === 0;
  }
  if (first !== 0xe5 && (first < 0x20 || first === 0x7f)) return false;
  return (attr & 0xc0) === 0 && CASE_FLAGS.has(bytes[at + 12]);
}

/**
 * The scan's cheap test for a folder's later cluster: its first two slots look like entries
 * (the second may be the end marker). Random data passes about once in 10^5, text never
 * (its byte 12 is a letter); parseDirectory then judges the whole cluster.
 */
export function mayContinueFolder(bytes: Buffer, at = 0): boolean {
  if (bytes.length < at + 2 * ENTRY_SIZE || !plausibleSlot(bytes, at)) return false;
  return bytes[at + ENTRY_SIZE] === 0 || plausibleSlot(bytes, at + ENTRY_SIZE);
}

/** The long-name slots left open at the end of a cluster: what the next cluster must start with. */
function openLongName(bytes: Buffer): { checksum: number; nextOrd: number } | null {
  let lastOrd = -1;
  let checksum = -1;
  for (let off = bytes.length - ENTRY_SIZE; off >= 0; off -= ENTRY_SIZE) {
    const attr = bytes[off + 11];
    if ((attr & 0x3f) !== ATTR_LONG_NAME || bytes[off] === 0xe5) break;
    if (checksum >= 0 && bytes[off + 13] !== checksum) break;
    checksum = bytes[off + 13];
    if (lastOrd < 0) lastOrd = bytes[off] & 0x1f;
    if (bytes[off] & 0x40) return { checksum, nextOrd: lastOrd - 1 };
  }
  // Trailing long-name slots without their first ('last-of-sequence') slot started in an earlier cluster: no constraint we can check.
  return null;
}

/** Whether `next` can follow `prev` as far as long names split at the boundary tell: 1 proven, 0 silent, -1 impossible. */
export function longNameJoin(prev: Buffer, next: Buffer): 1 | 0 | -1 {
  const open = openLongName(prev);
  const first = next[0];
  const firstIsLongPart = (next[11] & 0x3f) === ATTR_LONG_NAME && first !== 0xe5;
  if (!open) {
    // A long-name slot that is not the start of its sequence continues a name begun elsewhere.
    return firstIsLongPart && !(first & 0x40) ? -1 : 0;
  }
  if (open.nextOrd > 0) return firstIsLongPart && !(first & 0x40) && (first & 0x1f) === open.nextOrd && next[13] === open.checksum ? 1 : -1;
  if (firstIsLongPart || first === 0xe5 || first === 0) return -1;
  return shortNameChecksum(next.subarray(0, 11)) === open.checksum ? 1 : -1;
}

interface NameShape {
  /** Name without its first byte (lost in deleted entries) and without digits: 'MG_.JPG'. */
  kind: string;
  number: number | null;
}

function shapeOf(e: DirEntry): NameShape {
  const name = e.shortName.slice(1);
  const digits = /(\d+)(?=\.|$)/.exec(name);
  return { kind: name.replace(/\d/g, ''), number: digits ? Number(digits[1]) : null };
}

function namedOf(parsed: ParsedDirectory): DirEntry[] {
  return parsed.entries.filter((e) => !e.isDot);
}

/**
 * How well `candidate` continues `folder`: IMPOSSIBLE when a split long name forbids it,
 * else a score where ≥ 1 is enough to join (adjacency alone gives 1).
 */
export function continuationScore(folder: FolderInProgress, candidate: ContinuationCandidate, adjacent: boolean, parsed = parseDirectory(candidate.bytes, folder.fat32)): number {
  const last = folder.parts[folder.parts.length - 1];
  const join = longNameJoin(last, candidate.bytes);
  if (join < 0) return IMPOSSIBLE;
  let score = join > 0 ? 8 : 0;
  if (adjacent) score += 1;
  const after = namedOf(parsed);
  const tail = folder.tail;
  const head = after[0];
  if (tail && head) {
    const a = shapeOf(tail);
    const b = shapeOf(head);
    if (a.kind === b.kind) {
      score += 1;
      if (a.number !== null && b.number !== null && b.number > a.number && b.number - a.number <= 2) score += 2;
    }
    // Files written one after the other sit one after the other.
    if (!tail.deleted && !head.deleted && tail.firstCluster >= 2 && head.firstCluster >= 2) score += head.firstCluster > tail.firstCluster ? 0.5 : -0.5;
  }
  if (after.length && folder.kinds.size) {
    const shared = after.filter((e) => folder.kinds.has(shapeOf(e).kind)).length / after.length;
    score += 2 * shared - 1;
  }
  return score;
}

const MIN_SCORE_APART = 2.5;

/**
 * continuationScore when it is enough to join, else -Infinity. Away from the folder, the
 * entries themselves must vouch for the join (names going on, or a split long name).
 */
export function joinScore(folder: FolderInProgress, candidate: ContinuationCandidate, adjacent: boolean, parsed?: ParsedDirectory): number {
  const score = continuationScore(folder, candidate, adjacent, parsed);
  return score >= (adjacent ? 1 : MIN_SCORE_APART) ? score : -Infinity;
}

/**
 * Give each candidate cluster, in ascending order, to the open folder (not yet ended, last
 * cluster before it) it continues best. `nextFree(c)` is the cluster a folder ending at `c`
 * would have taken next (skipping other folders' first clusters): that one counts as adjacent.
 */
export function assignContinuations(folders: FolderInProgress[], candidates: ContinuationCandidate[], nextFree: (cluster: number) => number, maxClusters: number): void {
  for (const candidate of [...candidates].sort((a, b) => a.cluster - b.cluster)) {
    let best: FolderInProgress | null = null;
    let bestScore = -Infinity;
    // Parsed once for every folder it is scored against, and dropped after: kept for the whole
    // rebuild (a cache, tried), a card of 60 000 photos peaked at 360 MB instead of 287 MB.
    const parsedAs: (ParsedDirectory | undefined)[] = [];
    const parsed = (fat32: boolean) => (parsedAs[fat32 ? 1 : 0] ??= parseDirectory(candidate.bytes, fat32));
    for (const folder of folders) {
      const lastCluster = folder.clusters[folder.clusters.length - 1];
      if (folder.ended || lastCluster >= candidate.cluster || folder.clusters.length >= maxClusters) continue;
      const score = joinScore(folder, candidate, nextFree(lastCluster) === candidate.cluster, parsed(folder.fat32));
      if (score > bestScore) {
        best = folder;
        bestScore = score;
      }
    }
    if (!best) continue;
    extendFolder(best, candidate.cluster, candidate.bytes, parsed(best.fat32));
  }
}
