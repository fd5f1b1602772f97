import type { Reader } from '../../src/reader.js';
import { readIntoAny } from '../../src/reader.js';
import { Diagnostics } from '../../src/diagnostics.js';
import type { ClusterExtent, FileSystem, FsDriver, FsEntry, FsGeometry } from '../types.js';
import { clustersIn, contiguousGuess, findFolderContinuation, FOLDER_GAP_BUDGET, pushCluster, sweepClusters, type FolderGapBudget } from '../clusters.js';
import { checkBpb, layoutOf, parseBpb, type FatLayout } from './boot.js';
import { FatTable } from './table.js';
import { displayName, guessDcfFolderLead, guessLeadFromSiblings, directoryShape, isDirectory, parseDirectory, type DirEntry } from './dirent.js';
import { directoryStart, orphanPaths, type DotEntries, type OrphanDirectory } from './orphans.js';
import { assignContinuations, extendFolder, joinScore, mayContinueFolder, startFolder, type ContinuationCandidate, type FolderInProgress } from './continuation.js';
import { findDirectoryStarts, looksLikeRoot, solveGeometry } from './lost.js';

const PAST_SOURCE_END = 'past the end of the source (the image ends before the volume does)';

const SECTOR = 512;
const MAX_DEPTH = 64;
/** Directories larger than this are corrupt (FAT allows 65,536 entries = 2 MiB). */
const MAX_DIR_BYTES = 2 * 1024 * 1024;

interface BootChoice {
  layout: FatLayout;
  which: 'main' | 'backup';
}

function isExfat(sector: Buffer): boolean {
  return sector.toString('latin1', 3, 11) === 'EXFAT   ';
}

function tryBoot(volume: Reader, offset: number): { layout?: FatLayout; problems: string[] } {
  const sector = volume.read(offset, SECTOR);
  if (sector.length < SECTOR) return { problems: ['boot sector: not enough data'] };
  if (isExfat(sector)) return { problems: ['boot sector: this is exFAT'] };
  const bpb = parseBpb(sector);
  const problems = checkBpb(bpb, sector);
  if (problems.length) return { problems };
  const layout = layoutOf(bpb, sector);
  if (layout.volumeSize > volume.size + SECTOR * 64 && layout.dataOffset >= volume.size) {
    return { problems: [`volume: boot sector describes ${layout.volumeSize} bytes, only ${volume.size} present`] };
  }
  return { layout, problems };
}

/** The main boot sector, or (FAT32) the backup at sector 6 when the main one is damaged. */
function chooseBoot(volume: Reader, diagnostics?: Diagnostics): BootChoice | null {
  const main = tryBoot(volume, 0);
  if (main.layout) return { layout: main.layout, which: 'main' };
  const backup = tryBoot(volume, 6 * SECTOR);
  if (backup.layout && backup.layout.type === 'FAT32') {
    diagnostics?.warn('fat.boot-backup', `main boot sector is damaged (${main.problems.join('; ')}); using the backup at sector 6`, 0);
    return { layout: backup.layout, which: 'backup' };
  }
  return null;
}

/** Read every FAT copy and keep the one that is most self-consistent. */
function chooseFat(volume: Reader, layout: FatLayout, diagnostics: Diagnostics): { table: FatTable; index: number } {
  // A copy that is byte for byte the first (as on a healthy card) is not decoded again. The
  // first is read into a buffer of our own (a reader may hand out views of its bytes), and is
  // decoded where it lies.
  const own = Buffer.allocUnsafe(layout.fatSize);
  const first = own.subarray(0, readIntoAny(volume, own, layout.fatOffset));
  const sameAsFirst = [true];
  for (let i = 1; i < layout.fatCount; i++) sameAsFirst.push(sameBytes(volume, layout.fatOffset + i * layout.fatSize, first));
  const copies: FatTable[] = [FatTable.decode(first, layout.type, layout.clusterCount, true)];
  for (let i = 1; i < layout.fatCount; i++) {
    copies.push(sameAsFirst[i] ? copies[0] : FatTable.decode(volume.read(layout.fatOffset + i * layout.fatSize, layout.fatSize), layout.type, layout.clusterCount));
  }
  let best = layout.activeFatOnly !== undefined && layout.activeFatOnly < copies.length ? layout.activeFatOnly : 0;
  // Copies that are all the same leave nothing to choose: no need to score them (a pass over
  // every entry, 12-15 ms for the 524 288 clusters of a 2 GiB card).
  if (copies.some((t) => t !== copies[0])) {
    const scoreOf = (t: FatTable) => t.countInvalidLinks() + ((t.entries[0] & 0xff) === (layout.media & 0xff) ? 0 : 1);
    const firstScore = scoreOf(copies[0]);
    const scores = copies.map((t) => (t === copies[0] ? firstScore : scoreOf(t)));
    for (let i = 0; i < copies.length; i++) if (scores[i] < scores[best]) best = i;
  }
  for (let i = 0; i < copies.length; i++) {
    if (i === best || copies[i] === copies[best]) continue;
    const diff = copies[best].countDifferences(copies[i]);
    if (diff) diagnostics.warn('fat.copies-differ', `FAT copy ${i + 1} differs from copy ${best + 1} in ${diff} entries; using copy ${best + 1}`);
  }
  if ((layout.fatSize * 8) / (layout.type === 'FAT12' ? 12 : layout.type === 'FAT16' ? 16 : 32) < layout.clusterCount + 2) {
    diagnostics.warn('fat.too-small', 'the FAT is smaller than the cluster count needs; clusters past it read as free');
  }
  return { table: copies[best], index: best };
}

/** Whether the bytes at `offset` are `bytes`, read a piece at a time into one buffer. */
function sameBytes(volume: Reader, offset: number, bytes: Buffer): boolean {
  const piece = Buffer.allocUnsafe(Math.min(bytes.length, 256 * 1024));
  for (let at = 0; at < bytes.length; at += piece.length) {
    const n = Math.min(piece.length, bytes.length - at);
    if (readIntoAny(volume, piece.subarray(0, n), offset + at) !== n) return false;
    if (!piece.subarray(0, n).equals(bytes.subarray(at, at + n))) return false;
  }
  return true;
}

interface OrphanSweep {
  /** First clusters of old folders, with their bytes; their later clusters are found afterwards. */
  starts: { cluster: number; dots: DotEntries; bytes: Buffer }[];
  /** Clusters that parse as entries without opening a folder: maybe a folder's later clusters. */
  later: Map<number, Buffer>;
  /** Folder clusters whose '.' entry names another cluster (another geometry). */
  moved: number;
}

class FatVolume implements FileSystem {
  readonly type;
  readonly geometry: FsGeometry;
  readonly entries: FsEntry[] = [];
  readonly diagnostics;
  /** Clusters already reached by some chain: a second claim is a cross-link. */
  private readonly claimed: Uint8Array;
  private readonly visitedDirs = new Set<number>();
  /** What deleted folders may still read, looking past their files' data for their later clusters. */
  private readonly folderGapBudget: FolderGapBudget = { bytesLeft: FOLDER_GAP_BUDGET };
  /** Live folders by first cluster, so an orphaned folder's '..' can lead back into the live tree. */
  private readonly liveDirPaths = new Map<number, string[]>();

  constructor(
    private readonly volume: Reader,
    private readonly layout: FatLayout,
    private readonly fat: FatTable,
    bootSector: FsGeometry['bootSector'],
    activeFat: number,
    private readonly diag: Diagnostics,
    /** The FAT is gone (rebuilt geometry): every entry's clusters are a contiguous guess, and every entry an orphan. */
    private readonly chainless = false,
  ) {
    this.type = layout.type;
    this.diagnostics = diag.items;
    this.claimed = new Uint8Array(layout.clusterCount + 2);
    this.geometry = {
      bytesPerSector: layout.bytesPerSector,
      sectorsPerCluster: layout.sectorsPerCluster,
      clusterSize: layout.clusterSize,
      clusterCount: layout.clusterCount,
      dataOffset: layout.dataOffset,
      fatOffset: layout.fatOffset,
      fatCount: layout.fatCount,
      fatSize: layout.fatSize,
      volumeSize: layout.volumeSize,
      rootCluster: layout.type === 'FAT32' ? layout.rootCluster : undefined,
      label: layout.label,
      serial: layout.serial,
      bootSector,
      activeFat,
    };
  }

  get maxCluster(): number {
    return this.layout.clusterCount + 1;
  }

  clusterOffset(cluster: number): number {
    return this.layout.dataOffset + (cluster - 2) * this.layout.clusterSize;
  }

  isAllocated(cluster: number): boolean {
    return !this.fat.isFree(cluster);
  }

  guessRun(firstCluster: number, size: number): ClusterExtent[] {
    return contiguousGuess(firstCluster, size, this.layout.clusterSize, this.maxCluster, (c) => this.isAllocated(c), (from, to) => this.fat.freeRunEnd(from, to));
  }

  /** A cluster of the volume that the source ends before (an image cut short). */
  beyondSource(cluster: number): boolean {
    return cluster > this.maxCluster && cluster <= (this.layout.countedClusters ?? 0) + 1;
  }

  inRange(cluster: number): boolean {
    return cluster >= 2 && cluster <= this.maxCluster;
  }

  walk(): void {
    if (this.layout.type === 'FAT32') {
      const root = this.layout.rootCluster;
      if (!this.inRange(root)) {
        this.diag.error('fat.root-cluster', `root directory cluster ${root} is outside the volume`);
        return;
      }
      const bytes = this.chainless ? this.readDeletedDirectory(root, this.volume.read(this.clusterOffset(root), this.layout.clusterSize)) : this.readChainBytes(root, MAX_DIR_BYTES, '/').bytes;
      this.visitedDirs.add(root);
      this.walkDirectory(bytes, [], false, 0);
    } else {
      const bytes = this.volume.read(this.layout.rootDirOffset, this.layout.rootDirSize);
      this.walkDirectory(bytes, [], false, 0);
    }
  }

  /** Follow a FAT chain, guarding loops, cross-links and cluster numbers out of range. */
  followChain(first: number, maxClusters: number, what: string): { extents: ClusterExtent[]; notes: string[] } {
    const extents: ClusterExtent[] = [];
    const notes: string[] = [];
    let c = first;
    let n = 0;
    while (n < maxClusters) {
      if (!this.inRange(c)) {
        const where = this.beyondSource(c) ? PAST_SOURCE_END : 'outside the volume';
        notes.push(`chain runs on at cluster ${c}, ${where}`);
        this.diag.warn('fat.chain-out-of-range', `${what}: chain points to cluster ${c}, ${where}`);
        break;
      }
      // Every cluster of this chain is claimed as it is passed, so only a claimed one can be a
      // loop (a Set of the chain's clusters per file cost more than the walk on a card of 60 000).
      if (this.claimed[c] && extentsHold(extents, c)) {
        notes.push(`chain loops back to cluster ${c}`);
        this.diag.warn('fat.chain-loop', `${what}: chain loops back to cluster ${c}`);
        break;
      }
      if (this.claimed[c]) {
        notes.push(`cluster ${c} is cross-linked with another file`);
        this.diag.warn('fat.cross-link', `${what}: cluster ${c} is also used by another chain`);
      }
      this.claimed[c] = 1;
      pushCluster(extents, c);
      n++;
      const next = this.fat.next(c);
      if (this.fat.isEnd(next)) break;
      if (next === FatTable.BAD || next === 0) {
        notes.push(next === 0 ? `chain breaks at a free cluster after ${c}` : `chain reaches a cluster marked bad after ${c}`);
        this.diag.warn('fat.chain-broken', `${what}: chain breaks after cluster ${c}`);
        break;
      }
      c = next;
    }
    return { extents, notes };
  }

  private readExtents(extents: ClusterExtent[], maxBytes: number): Buffer {
    const parts: Buffer[] = [];
    let total = 0;
    for (const e of extents) {
      const len = Math.min(e.count * this.layout.clusterSize, maxBytes - total);
      if (len <= 0) break;
      parts.push(this.volume.read(this.clusterOffset(e.first), len));
      total += len;
    }
    return Buffer.concat(parts);
  }

  private readChainBytes(first: number, maxBytes: number, what: string): { bytes: Buffer; extents: ClusterExtent[] } {
    const { extents } = this.followChain(first, Math.ceil(maxBytes / this.layout.clusterSize), what);
    return { bytes: this.readExtents(extents, maxBytes), extents };
  }

  private walkDirectory(bytes: Buffer, folder: string[], underDeleted: boolean, depth: number): void {
    if (depth > MAX_DEPTH) {
      this.diag.warn('fat.too-deep', `folders nested deeper than ${MAX_DEPTH} levels at /${folder.join('/')}; not followed`);
      return;
    }
    const parsed = parseDirectory(bytes, this.layout.type === 'FAT32');
    const siblings = parsed.entries.filter((e) => !e.isDot).map((e) => e.shortName);
    for (const e of parsed.entries) {
      if (e.isDot) continue;
      const entry = this.toEntry(e, folder, underDeleted, siblings);
      if (!entry) continue;
      this.entries.push(entry);
      if (entry.isDirectory) this.descend(e, entry, depth);
    }
  }

  private toEntry(e: DirEntry, folder: string[], underDeleted: boolean, siblings: string[]): FsEntry | null {
    const deleted = e.deleted || underDeleted;
    const notes: string[] = [];
    let name = displayName(e);
    let nameGuessed: boolean | undefined;
    if (e.deleted && name.startsWith('?')) {
      const dcfFolder = isDirectory(e) && /^dcim$/i.test(folder[folder.length - 1] ?? '') ? guessDcfFolderLead(name, siblings) : undefined;
      const lead = dcfFolder?.lead ?? guessLeadFromSiblings(name, siblings);
      const rest = name.slice(1);
      const keepCase = (c: string) => (rest === rest.toLowerCase() && rest !== rest.toUpperCase() ? c.toLowerCase() : c);
      name = (lead ? keepCase(lead) : '_') + rest;
      nameGuessed = true;
      notes.push(
        dcfFolder?.from === 'numbering'
          ? 'first digit of the deleted DCF folder name guessed: DCF folder numbers start at 100'
          : dcfFolder
            ? 'first digit of the deleted DCF folder name guessed from its sibling folders'
            : lead
              ? `first letter of the deleted name guessed from sibling names and camera naming`
              : `first letter of the deleted name is lost`,
      );
    } else if (e.deleted && e.firstCharFromChecksum) {
      notes.push('deleted short name completed from the long name checksum');
    }
    const base: FsEntry = {
      folder,
      name: sanitizeName(name),
      isDirectory: isDirectory(e),
      deleted,
      orphan: this.chainless || undefined,
      size: isDirectory(e) ? 0 : e.size,
      firstCluster: e.firstCluster,
      extents: [],
      basis: deleted || this.chainless ? 'contiguous-guess' : 'chain',
      mtime: e.mtime,
      ctime: e.ctime,
      atime: e.atime,
      attributes: e.attributes,
      nameGuessed,
      notes,
    };
    if (base.isDirectory) return base;
    if (e.size === 0) return base;
    if (!this.inRange(e.firstCluster)) {
      // A deleted FAT32 entry may have lost the high word; the low word alone may still fit.
      if (!(deleted && this.layout.type === 'FAT32')) {
        const where = this.beyondSource(e.firstCluster) ? `lies ${PAST_SOURCE_END}` : 'is outside the volume';
        notes.push(`first cluster ${e.firstCluster} ${where}`);
        this.diag.warn('fat.entry-cluster', `${pathOf(base)}: first cluster ${e.firstCluster} ${where}`);
        return base;
      }
    }
    const need = Math.ceil(e.size / this.layout.clusterSize);
    if (!deleted && !this.chainless) {
      const { extents, notes: chainNotes } = this.followChain(e.firstCluster, need + 1, pathOf(base));
      notes.push(...chainNotes);
      const got = clustersIn(extents);
      if (got < need) notes.push(`chain holds ${got} clusters, the size needs ${need}`);
      if (got > need) {
        notes.push(`chain is longer than the size needs`);
        trimExtents(extents, need);
      }
      base.extents = extents;
      return base;
    }
    this.planDeleted(e, base);
    return base;
  }

  private planDeleted(e: DirEntry, entry: FsEntry): void {
    // Some systems clear the high word when they delete an entry; an entry that was live when
    // its folder was lost (a quick format) keeps it, so a zero there is the real one.
    const candidates = this.layout.type === 'FAT32' && e.clusterHigh === 0 && e.deleted ? this.highWordCandidates(e.firstCluster & 0xffff) : [e.firstCluster];
    const free = candidates.filter((c) => this.inRange(c) && !this.isAllocated(c));
    if (free.length === 0) {
      entry.overwritten = true;
      entry.notes.push(`first cluster ${e.firstCluster} now belongs to another file: overwritten`);
      return;
    }
    entry.firstCluster = free[0];
    if (free.length > 1) {
      entry.firstClusterCandidates = free;
      entry.notes.push(`high word of the first cluster may be zeroed; ${free.length} candidate start clusters`);
    }
    entry.extents = this.guessRun(entry.firstCluster, entry.size);
    const need = Math.ceil(entry.size / this.layout.clusterSize);
    if (clustersIn(entry.extents) < need) {
      const cut = this.beyondSource(Math.min(entry.firstCluster + need - 1, this.layout.countedClusters ?? 0));
      entry.notes.push(cut ? `its clusters run on ${PAST_SOURCE_END}` : 'not enough free clusters after the first cluster for the whole size');
    }
  }

  /** FAT32 first clusters that share the low word `low` and lie inside the volume. */
  private highWordCandidates(low: number): number[] {
    const out: number[] = [];
    for (let c = low; c <= this.maxCluster; c += 0x10000) if (c >= 2) out.push(c);
    return out;
  }

  private descend(e: DirEntry, entry: FsEntry, depth: number): void {
    const folder = [...entry.folder, entry.name];
    const first = e.firstCluster;
    if (!this.inRange(first)) {
      this.diag.warn('fat.dir-cluster', `/${folder.join('/')}: folder starts at cluster ${first}, outside the volume`);
      return;
    }
    if (this.visitedDirs.has(first)) {
      this.diag.warn('fat.dir-loop', `/${folder.join('/')}: folder cluster ${first} was already visited (loop or cross-link); not followed again`);
      return;
    }
    this.visitedDirs.add(first);
    if (this.chainless) this.liveDirPaths.set(first, folder);
    if (!entry.deleted && !this.chainless) {
      this.liveDirPaths.set(first, folder);
      const { bytes, extents } = this.readChainBytes(first, MAX_DIR_BYTES, `/${folder.join('/')}`);
      entry.extents = extents;
      this.walkDirectory(bytes, folder, false, depth + 1);
      return;
    }
    // A deleted folder has no chain left: read its free clusters while they still look like a directory.
    if (this.isAllocated(first)) {
      entry.notes.push('the deleted folder\'s first cluster is in use again');
      return;
    }
    const bytes = this.volume.read(this.clusterOffset(first), this.layout.clusterSize);
    if (!(bytes[0] === 0x2e && bytes[11] & 0x10 && bytes.readUInt16LE(26) === (first & 0xffff))) {
      entry.notes.push('the deleted folder\'s cluster no longer holds its entries');
      return;
    }
    entry.extents = [{ first, count: 1 }];
    entry.basis = 'contiguous-guess';
    this.walkDirectory(this.readDeletedDirectory(first, bytes), folder, entry.deleted, depth + 1);
  }

  /**
   * Sweep clusters the caller offers (free and unowned) for folders a format left behind,
   * and list the files in them with paths rebuilt through their '..' entries.
   */
  findOrphans(isCandidate: (cluster: number) => boolean, lostRoot: string): FsEntry[] {
    const sweep: OrphanSweep = { starts: [], later: new Map(), moved: 0 };
    const geometry = { clusterSize: this.layout.clusterSize, clusterOffset: (c: number) => this.clusterOffset(c) };
    const candidate = (c: number) => isCandidate(c) && !this.visitedDirs.has(c);
    sweepClusters(this.volume, geometry, 2, this.maxCluster, candidate, (c, cluster) => {
      if (this.mayBeOrphanFolder(c, cluster)) this.collectOrphanFolder(sweep, c, Buffer.from(cluster));
    });
    return this.orphanEntries(sweep, lostRoot);
  }

  /** The sweep's cheap test on a free cluster's first bytes: a '.' and '..' pair, or entries that may continue a folder. */
  mayBeOrphanFolder(cluster: number, bytes: Buffer, at = 0): boolean {
    // A folder's first entry is '.': most clusters fail on their first bytes, before any copy
    // (and before the look-up: this runs for every cluster of the card).
    const may = bytes[at] !== 0x2e ? mayContinueFolder(bytes, at) : !!directoryStart(bytes.subarray(at, at + 64), this.layout.type === 'FAT32');
    return may && !this.visitedDirs.has(cluster);
  }

  /** findOrphans over clusters that passed mayBeOrphanFolder during another pass. */
  findOrphansAmong(clusters: readonly number[], lostRoot: string, bytesOf?: (cluster: number) => Buffer | undefined): FsEntry[] {
    const sweep: OrphanSweep = { starts: [], later: new Map(), moved: 0 };
    for (const c of [...clusters].sort((x, y) => x - y)) {
      if (!this.inRange(c)) continue;
      this.collectOrphanFolder(sweep, c, bytesOf?.(c) ?? this.volume.read(this.clusterOffset(c), this.layout.clusterSize));
    }
    return this.orphanEntries(sweep, lostRoot);
  }

  private collectOrphanFolder(sweep: OrphanSweep, c: number, cluster: Buffer): void {
    const fat32 = this.layout.type === 'FAT32';
    const dots = directoryStart(cluster.subarray(0, 64), fat32);
    if (!dots) {
      const shape = directoryShape(cluster);
      if (shape.implausible === 0 && shape.entries > 0) sweep.later.set(c, cluster);
      return;
    }
    if (dots.self !== (fat32 ? c : c & 0xffff)) {
      sweep.moved++;
      return;
    }
    sweep.starts.push({ cluster: c, dots, bytes: cluster });
  }

  /**
   * The old folders' later clusters: free clusters after each first cluster that parse as
   * entries (other folders' first clusters are stepped over), each given to the folder it
   * continues best (see continuation.ts).
   */
  private rebuildOrphanFolders(sweep: OrphanSweep): OrphanDirectory[] {
    const fat32 = this.layout.type === 'FAT32';
    const startClusters = new Set(sweep.starts.map((s) => s.cluster));
    const maxClusters = Math.max(1, Math.floor(MAX_DIR_BYTES / this.layout.clusterSize));
    const free = (c: number) => this.inRange(c) && !this.isAllocated(c) && !this.visitedDirs.has(c);
    const folders = sweep.starts.map((s) => startFolder(s.cluster, s.bytes, fat32));
    const candidates = new Map(sweep.later);
    for (const [i, start] of sweep.starts.entries()) {
      if (folders[i].ended) continue;
      let taken = 0;
      for (let c = start.cluster + 1; free(c) && taken < maxClusters; c++) {
        if (startClusters.has(c)) continue;
        if (candidates.has(c)) {
          taken++;
          continue;
        }
        const bytes = this.volume.read(this.clusterOffset(c), this.layout.clusterSize);
        if (directoryStart(bytes, false)) continue;
        const shape = directoryShape(bytes);
        if (shape.implausible > 0 || shape.entries === 0) break;
        candidates.set(c, bytes);
        taken++;
        if (shape.ended) break;
      }
    }
    const nextFree = (c: number) => {
      let n = c + 1;
      while (startClusters.has(n)) n++;
      return n;
    };
    assignContinuations(folders, [...candidates].map(([cluster, bytes]) => ({ cluster, bytes })), nextFree, maxClusters);
    return sweep.starts.map((s, i) => ({ cluster: s.cluster, dots: s.dots, entries: parseDirectory(Buffer.concat(folders[i].parts), fat32).entries }));
  }

  private orphanEntries(sweep: OrphanSweep, lostRoot: string): FsEntry[] {
    const { moved } = sweep;
    const dirs = this.rebuildOrphanFolders(sweep);
    if (moved) this.diag.warn('fat.orphan-geometry', `${moved} old folder cluster(s) do not sit where their '.' entry says: the card was formatted with another geometry`);
    const paths = orphanPaths(dirs, lostRoot, (c) => this.liveDirPaths.get(c));
    const out: FsEntry[] = [];
    for (const d of dirs) {
      const where = paths.get(d.dots.self);
      if (!where) continue;
      const siblings = d.entries.filter((e) => !e.isDot).map((e) => e.shortName);
      for (const e of d.entries) {
        if (e.isDot || isDirectory(e)) continue;
        const entry = this.toEntry(e, where.path, true, siblings);
        if (!entry) continue;
        entry.orphan = true;
        entry.deleted = e.deleted;
        if (e.deleted) entry.notes.push('was already deleted before the folder was lost');
        if (where.guessed) entry.notes.push(`folder path partly guessed: /${where.path.join('/')}`);
        out.push(entry);
      }
    }
    return out;
  }

  /**
   * A deleted folder's entries: its chain is gone. A folder takes a new cluster when it
   * fills, the next free one: right after its last cluster on an empty card, or after the
   * data of the file whose entry did not fit, when the folder grew between files (a camera's
   * folder, one photo at a time). So the next cluster is the one after the last, or else the
   * first cluster past the last listed file's data whose entries vouch for the join (names
   * going on, a long name split across the two), within MAX_FOLDER_GAP (and what is left of
   * the volume's FOLDER_GAP_BUDGET: a card of many deleted folders is not read many times over).
   */
  private readDeletedDirectory(first: number, firstBytes: Buffer): Buffer {
    const folder = startFolder(first, firstBytes, this.layout.type === 'FAT32');
    while (!folder.ended && folder.parts.length * this.layout.clusterSize < MAX_DIR_BYTES) {
      const next = this.nextDeletedFolderCluster(folder);
      if (!next) break;
      extendFolder(folder, next.cluster, next.bytes);
    }
    return Buffer.concat(folder.parts);
  }

  private nextDeletedFolderCluster(folder: FolderInProgress): ContinuationCandidate | undefined {
    const cs = this.layout.clusterSize;
    const last = folder.clusters[folder.clusters.length - 1];
    const tail = folder.tail;
    const from = tail && tail.firstCluster >= 2 ? tail.firstCluster + Math.ceil(tail.size / cs) : 0;
    const geometry = { clusterSize: cs, clusterOffset: (c: number) => this.clusterOffset(c) };
    // Next to the folder, entries are enough; away from it, they must vouch for the join.
    return findFolderContinuation(this.volume, geometry, this.maxCluster, last, from, this.folderGapBudget, (c) => !this.isAllocated(c), (c, bytes, adjacent) => {
      if (!adjacent && !mayContinueFolder(bytes)) return false;
      const candidate = this.deletedFolderCluster(c, bytes);
      return candidate !== undefined && (adjacent || joinScore(folder, candidate, false) !== -Infinity);
    });
  }

  /** Free cluster c (its bytes) when it may continue a deleted folder: entries throughout, not a folder's first cluster. */
  private deletedFolderCluster(c: number, bytes: Buffer): ContinuationCandidate | undefined {
    if (directoryStart(bytes, false)) return undefined;
    const shape = directoryShape(bytes);
    return shape.implausible > 0 || shape.entries === 0 ? undefined : { cluster: c, bytes };
  }
}

function trimExtents(extents: ClusterExtent[], clusters: number): void {
  let left = clusters;
  for (let i = 0; i < extents.length; i++) {
    if (left <= 0) {
      extents.length = i;
      return;
    }
    if (extents[i].count > left) extents[i].count = left;
    left -= extents[i].count;
  }
}

function pathOf(e: FsEntry): string {
  return '/' + [...e.folder, e.name].join('/');
}

/** Names come from untrusted bytes: never let one climb out of its folder. */
function sanitizeName(name: string): string {
  const clean = name.replace(/[\u0000-\u001f/\\]/g, '_');
  return clean === '.' || clean === '..' || clean === '' ? '_' + clean : clean;
}

export const fatDriver: FsDriver = {
  name: 'FAT',
  probe(volume: Reader): boolean {
    try {
      return chooseBoot(volume) !== null;
    } catch {
      return false;
    }
  },
  open(volume: Reader): FileSystem {
    const diagnostics = new Diagnostics();
    const boot = chooseBoot(volume, diagnostics);
    if (!boot) throw new Error('not a FAT volume (probe first)');
    // A damaged boot sector may count far more clusters than the source holds: time and memory go by the source.
    const fits = Math.max(0, Math.ceil((volume.size - boot.layout.dataOffset) / boot.layout.clusterSize));
    if (boot.layout.clusterCount > fits) {
      diagnostics.warn('fat.beyond-source', `the boot sector counts ${boot.layout.clusterCount} clusters, the source holds ${fits}: the rest is ignored (a truncated image, or a damaged boot sector)`);
      boot.layout = { ...boot.layout, clusterCount: fits, countedClusters: boot.layout.clusterCount };
    }
    const { table, index } = chooseFat(volume, boot.layout, diagnostics);
    const fs = new FatVolume(volume, boot.layout, table, boot.which, index, diagnostics);
    fs.walk();
    return fs;
  },
};

/**
 * A FAT volume whose boot sector and FATs are gone: solve the old geometry from the
 * folders left in the data area, find the root directory if it survives, and list every
 * entry as an orphan whose clusters are a contiguous guess. Null when too few folders agree.
 */
export function rebuildLostFat(volume: Reader, options: { ignore?: { clusterSize: number; dataOffset: number } } = {}): FileSystem | null {
  // Folders that sit where today's geometry puts them belong to today's file system, not the lost one.
  const today = options.ignore;
  const dirs = findDirectoryStarts(volume).filter((d) => !today || d.offset !== today.dataOffset + (d.self - 2) * today.clusterSize);
  const solved = solveGeometry(dirs);
  if (!solved) return null;
  const { clusterSize, dataOffset } = solved;
  const clusterCount = Math.floor((volume.size - dataOffset) / clusterSize);
  if (clusterCount < 1) return null;
  const diagnostics = new Diagnostics();
  diagnostics.warn('fat.rebuilt', `no boot sector: geometry rebuilt from ${solved.agreeing} of ${solved.found} surviving folders (cluster size ${clusterSize}, data area at byte ${dataOffset})`);
  const rootLevel = new Set(dirs.filter((d) => d.parent === 0).map((d) => d.self));
  // FAT32 keeps its root in cluster 2 (usually); FAT12/16 right before the data area.
  const rootFat32 = looksLikeRoot(volume.read(dataOffset, clusterSize), rootLevel);
  const ROOT_REGION = 32 * 1024;
  const regionStart = Math.max(0, dataOffset - ROOT_REGION);
  const rootFat16 = !rootFat32 && looksLikeRoot(volume.read(regionStart, dataOffset - regionStart), rootLevel);
  const type = rootFat32 || (!rootFat16 && clusterCount >= 65525) ? 'FAT32' : clusterCount < 4085 ? 'FAT12' : 'FAT16';
  if (!rootFat32 && !rootFat16) diagnostics.warn('fat.root-lost', 'the root directory did not survive; top-level folder names are guessed');
  const layout: FatLayout = {
    type,
    bytesPerSector: SECTOR,
    sectorsPerCluster: clusterSize / SECTOR,
    clusterSize,
    clusterCount,
    fatOffset: 0,
    fatSize: 0,
    fatCount: 0,
    rootDirOffset: rootFat16 ? regionStart : dataOffset,
    rootDirSize: rootFat16 ? dataOffset - regionStart : 0,
    dataOffset,
    volumeSize: volume.size,
    rootCluster: rootFat32 ? 2 : 0,
    media: 0xf8,
    backupBootSector: 0,
  };
  const emptyFat = FatTable.decode(Buffer.alloc(0), 'FAT32', clusterCount);
  const fs = new FatVolume(volume, layout, emptyFat, 'rebuilt', 0, diagnostics, true);
  if (rootFat32 || rootFat16) fs.walk();
  return fs;
}

export { sanitizeName };

function extentsHold(extents: readonly ClusterExtent[], cluster: number): boolean {
  return extents.some((e) => cluster >= e.first && cluster < e.first + e.count);
}
