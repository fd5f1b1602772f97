/**
 * The exFAT driver (Microsoft exFAT specification): boot region with backup, FAT, allocation
 * bitmap, up-case table, and a walk of every directory for live and deleted entry sets.
 */
import type { Reader } from '../../src/reader.js';
import { Diagnostics } from '../../src/diagnostics.js';
import type { ClusterExtent, FileSystem, FsDriver, FsEntry, FsGeometry } from '../types.js';
import { clustersIn, contiguousGuess, findFolderContinuation, FOLDER_GAP_BUDGET, pushCluster, sweepClusters, type FolderGapBudget } from '../clusters.js';
import { sanitizeName } from '../fat/index.js';
import { chooseBootRegion, VOLUME_FLAG_DIRTY, VOLUME_FLAG_MEDIA_FAILURE, type BootCandidate, type ExfatLayout } from './boot.js';
import { AllocationBitmap, ExfatFat, FAT_BAD, FAT_END, SparseBits } from './table.js';
import { ENTRY_SIZE, nameHash, parseEntrySets, UpcaseTable, upcaseTableChecksum, type ExfatFileSet, type ParsedEntrySets } from './entries.js';
import { buildOrphanFolders, completesOpenSet, continuationScore, DIRECTORY_HEAD_BYTES, MIN_CONTINUATION_SCORE, mayBeDirectoryCluster, orphanFolderPaths, scanDirectoryCluster, type SweptCluster } from './orphans.js';

export * from './boot.js';
export * from './entries.js';
export * from './orphans.js';
export { AllocationBitmap, ExfatFat, FAT_BAD, FAT_END, FAT_MEDIA } from './table.js';

/** Folders nested deeper than this are not followed. */
export const MAX_DEPTH = 64;
/** A directory's DataLength may not exceed 256 MiB (specification, section 6.2.1). */
export const MAX_DIR_BYTES = 256 * 1024 * 1024;
/** The up-case table is at most 128 KiB uncompressed (65,536 UTF-16 units). */
const MAX_UPCASE_BYTES = 2 * 0x10000;

/** How a chain walk stopped. */
type ChainStop = 'end' | 'limit' | 'out-of-range' | 'loop' | 'bad';

interface ChainWalk {
  extents: ClusterExtent[];
  count: number;
  stop: ChainStop;
  /** The value that stopped the walk (the bad link, the repeated cluster). */
  at: number;
}

class ExfatVolume implements FileSystem {
  readonly type = 'exFAT' as const;
  readonly geometry: FsGeometry;
  readonly entries: FsEntry[] = [];
  readonly diagnostics;
  private readonly fat: ExfatFat;
  private bitmap?: AllocationBitmap;
  private upcase?: UpcaseTable;
  /** Clusters reached by some live chain, one bit each: a second claim is a cross-link. */
  private readonly claimed = new SparseBits();
  /** First clusters of directories already walked: guards loops and folders holding their ancestors. */
  private readonly visitedDirs = new Set<number>();
  /** Every cluster the walk read as part of a directory: the orphan sweep leaves them alone. */
  private readonly dirClusters = new Set<number>();
  /** Old folder clusters mayBeOrphanFolder judged whole during the carving scan, with their scans. */
  private readonly judgedDuringScan = new Map<number, SweptCluster>();
  private localTimes = 0;
  /** First clusters of every folder an entry set names: no deleted folder's later cluster. */
  private readonly folderFirstClusters = new Set<number>();
  /** What deleted folders may still read, looking past file data for their later clusters. */
  private readonly folderGapBudget: FolderGapBudget = { bytesLeft: FOLDER_GAP_BUDGET };

  constructor(
    private readonly volume: Reader,
    private readonly layout: ExfatLayout,
    bootSector: 'main' | 'backup',
    private readonly diag: Diagnostics,
  ) {
    this.diagnostics = diag.items;
    this.fat = new ExfatFat(volume, layout.fatOffset + layout.activeFat * layout.fatSize, layout.clusterCount);
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
      rootCluster: layout.rootCluster,
      serial: layout.serial,
      bootSector,
      activeFat: layout.activeFat,
    };
  }

  get maxCluster(): number {
    return this.layout.clusterCount + 1;
  }

  clusterOffset(cluster: number): number {
    return this.layout.dataOffset + (cluster - 2) * this.layout.clusterSize;
  }

  isAllocated(cluster: number): boolean {
    if (this.bitmap) return this.bitmap.isAllocated(cluster);
    // No bitmap: a FAT link or end mark is the best sign of use we have (NoFatChain files are missed).
    const v = this.fat.next(cluster);
    return v === FAT_END || v === FAT_BAD || this.fat.isLink(v);
  }

  guessRun(firstCluster: number, size: number): ClusterExtent[] {
    return contiguousGuess(firstCluster, size, this.layout.clusterSize, this.maxCluster, (c) => this.isAllocated(c));
  }

  inRange(cluster: number): boolean {
    return cluster >= 2 && cluster <= this.maxCluster;
  }

  private clustersFor(bytes: number): number {
    return Math.ceil(bytes / this.layout.clusterSize);
  }

  // ---- the walk -------------------------------------------------------------------------

  walk(): void {
    const root = this.layout.rootCluster;
    this.visitedDirs.add(root);
    const chain = this.walkChain(root, this.clustersFor(MAX_DIR_BYTES));
    this.reportChainStop('/', chain, 'root directory');
    this.claimExtents(chain.extents);
    const bytes = this.readDirectory(chain.extents);
    const parsed = parseEntrySets(bytes, { where: '/', offsetOf: (o) => this.volumeOffsetIn(chain.extents, o) });
    this.loadVolumeEntries(parsed);
    this.diagnostics.push(...parsed.diagnostics);
    const upcase = this.upcase;
    if (upcase) {
      // Non-ASCII names in the root could not be hashed before the up-case table was read.
      for (const set of parsed.sets) {
        if (set.nameHashOk !== undefined) continue;
        set.nameHashOk = nameHash(set.name, upcase) === set.nameHash;
        if (!set.nameHashOk) set.notes.push('the NameHash does not match the name');
      }
    }
    this.walkSets(parsed.sets, [], false, 0);
    this.explainReusedClusters();
    if (this.localTimes) {
      this.diag.info('exfat.local-times', `${this.localTimes} entries have timestamps without a UTC offset; their local times are read as UTC`);
    }
  }

  /**
   * Renaming or moving a file writes a new entry set over the same clusters and deletes the old
   * one: say so rather than leave "overwritten" to suggest the data is lost.
   */
  private explainReusedClusters(): void {
    const live = new Map<number, FsEntry>();
    for (const e of this.entries) if (!e.deleted && !e.isDirectory && e.size > 0) live.set(e.firstCluster, e);
    for (const e of this.entries) {
      if (!e.deleted || !e.overwritten) continue;
      const twin = live.get(e.firstCluster);
      if (twin && twin.size === e.size) e.notes.push(`the same clusters belong to ${pathOf(twin)}: probably renamed or moved, not lost`);
    }
  }

  private loadVolumeEntries(parsed: ParsedEntrySets): void {
    if (parsed.label !== undefined) this.geometry.label = parsed.label;
    this.loadBitmap(parsed);
    this.loadUpcase(parsed);
  }

  private loadBitmap(parsed: ParsedEntrySets): void {
    const want = this.layout.activeFat;
    const entry = parsed.bitmaps.find((b) => (b.bitmapFlags & 1) === want) ?? parsed.bitmaps[0];
    if (!entry) {
      this.diag.error('exfat.bitmap-missing', 'the root directory has no allocation bitmap entry; the FAT is used to judge which clusters are in use');
      return;
    }
    if (parsed.bitmaps.length > 0 && (entry.bitmapFlags & 1) !== want) {
      this.diag.warn('exfat.bitmap-choice', `no allocation bitmap for FAT ${want + 1}; using the one for FAT ${(entry.bitmapFlags & 1) + 1}`);
    }
    const need = Math.ceil(this.layout.clusterCount / 8);
    if (entry.dataLength < need) {
      this.diag.warn('exfat.bitmap-size', `allocation bitmap holds ${entry.dataLength} bytes, ${this.layout.clusterCount} clusters need ${need}; the rest reads as free`);
    }
    const chain = this.walkChain(entry.firstCluster, this.clustersFor(Math.min(entry.dataLength, need)));
    this.reportChainStop('allocation bitmap', chain, 'allocation bitmap', true);
    this.claimExtents(chain.extents);
    const bits = this.readExtents(chain.extents, Math.min(entry.dataLength, need));
    this.bitmap = new AllocationBitmap(bits, this.layout.clusterCount);
    for (const e of chain.extents) {
      for (let c = e.first; c < e.first + e.count; c++) {
        if (!this.bitmap.isAllocated(c)) {
          this.diag.warn('exfat.bitmap-self', `the allocation bitmap marks its own cluster ${c} free`);
          return;
        }
      }
    }
  }

  private loadUpcase(parsed: ParsedEntrySets): void {
    const entry = parsed.upcase;
    if (!entry) {
      this.diag.warn('exfat.upcase-missing', 'the root directory has no up-case table entry');
      return;
    }
    if (entry.dataLength === 0 || entry.dataLength > MAX_UPCASE_BYTES) {
      this.diag.warn('exfat.upcase-size', `up-case table of ${entry.dataLength} bytes: expected 1..${MAX_UPCASE_BYTES}`);
      return;
    }
    const chain = this.walkChain(entry.firstCluster, this.clustersFor(entry.dataLength));
    this.reportChainStop('up-case table', chain, 'up-case table', true);
    this.claimExtents(chain.extents);
    const bytes = this.readExtents(chain.extents, entry.dataLength);
    const sum = upcaseTableChecksum(bytes);
    if (bytes.length < entry.dataLength || sum !== entry.tableChecksum) {
      this.diag.warn('exfat.upcase-checksum', `up-case table checksum: expected ${hex32(entry.tableChecksum)}, computed ${hex32(sum)} over ${bytes.length} bytes; name hashes are not checked`);
      return;
    }
    this.upcase = UpcaseTable.decode(bytes);
  }

  private walkSets(sets: ExfatFileSet[], folder: string[], underDeleted: boolean, depth: number): void {
    // Known before any of them is walked: a deleted folder looking for its next cluster must not take a sibling's first.
    for (const set of sets) if (set.isDirectory && set.dataLength > 0) this.folderFirstClusters.add(set.firstCluster);
    for (const set of sets) {
      const entry = this.toEntry(set, folder, underDeleted);
      this.entries.push(entry);
      if (entry.isDirectory) this.descend(set, entry, depth);
    }
  }

  private toEntry(set: ExfatFileSet, folder: string[], underDeleted: boolean): FsEntry {
    const deleted = set.deleted || underDeleted;
    if (set.localTime) this.localTimes++;
    const entry = this.baseEntry(set, folder, deleted);
    const notes = entry.notes;
    if (!set.deleted && underDeleted) notes.push('a live entry inside a deleted folder: treated as deleted');
    if (set.dataLength === 0) {
      if (set.isDirectory) notes.push('directory with no clusters (DataLength 0)');
      return entry;
    }
    if (!this.inRange(set.firstCluster)) {
      notes.push(`first cluster ${set.firstCluster} is outside the volume (2..${this.maxCluster})`);
      if (!deleted) this.diag.warn('exfat.entry-cluster', `${pathOf(entry)}: first cluster ${set.firstCluster} outside the volume`);
      return entry;
    }
    if (deleted) this.planDeleted(set, entry);
    else this.planLive(set, entry);
    return entry;
  }

  /** The entry as the set describes it, before its clusters are planned. */
  private baseEntry(set: ExfatFileSet, folder: string[], deleted: boolean): FsEntry {
    const notes = [...set.notes];
    const name = sanitizeName(set.name);
    if (name !== set.name) notes.push(`name stored as ${JSON.stringify(set.name)}`);
    const entry: FsEntry = {
      folder,
      name,
      isDirectory: set.isDirectory,
      deleted,
      size: set.isDirectory ? 0 : set.dataLength,
      firstCluster: set.firstCluster,
      extents: [],
      basis: set.noFatChain ? 'no-fat-chain' : deleted ? 'contiguous-guess' : 'chain',
      mtime: set.mtime,
      ctime: set.ctime,
      atime: set.atime,
      attributes: set.attributes,
      notes,
    };
    return entry;
  }

  /** A live entry's clusters: the exact extent of a NoFatChain file, else its FAT chain. */
  private planLive(set: ExfatFileSet, entry: FsEntry): void {
    const need = this.clustersFor(bytesToMap(set));
    const where = pathOf(entry);
    if (set.noFatChain) {
      entry.extents = this.exactExtent(set.firstCluster, need, entry);
      if (clustersIn(entry.extents) < need) this.diag.warn('exfat.extent-out-of-range', `${where}: contiguous extent runs past the last cluster`);
    } else {
      const chain = this.walkChain(set.firstCluster, need);
      entry.extents = chain.extents;
      if (chain.count < need) {
        entry.notes.push(`${chainStopWords(chain)}: the chain holds ${chain.count} clusters, the size needs ${need}`);
        this.diag.warn(chainStopCode(chain), `${where}: ${chainStopWords(chain)} after ${chain.count} of ${need} clusters`);
      } else {
        const next = this.fat.next(lastCluster(chain.extents));
        if (next !== FAT_END) entry.notes.push(`the chain does not end where the size does (FAT entry ${hex32(next)} after the last cluster)`);
      }
    }
    const free = this.countFree(entry.extents);
    if (free) {
      entry.notes.push(`${free} of its clusters are marked free in the allocation bitmap`);
      this.diag.warn('exfat.bitmap-free', `${where}: ${free} clusters of a live ${entry.isDirectory ? 'folder' : 'file'} are marked free in the allocation bitmap`);
    }
    this.claimExtents(entry.extents, where, entry);
  }

  /**
   * A deleted entry's clusters. NoFatChain: the exact extent. Otherwise the FAT chain when it
   * still holds together (every link in range, as long as the size, ending there, on clusters
   * the bitmap calls free); else the contiguous guess from the first cluster.
   */
  private planDeleted(set: ExfatFileSet, entry: FsEntry): void {
    const need = this.clustersFor(bytesToMap(set));
    if (this.isAllocated(set.firstCluster)) {
      entry.overwritten = true;
      entry.notes.push(`first cluster ${set.firstCluster} is in use again: overwritten`);
    }
    if (set.noFatChain) {
      entry.basis = 'no-fat-chain';
      entry.notes.push('NoFatChain: the clusters are contiguous from the first one, exactly as the entry says');
      entry.extents = this.exactExtent(set.firstCluster, need, entry);
      const used = clustersIn(entry.extents) - this.countFree(entry.extents);
      if (used && !entry.overwritten) entry.notes.push(`${used} of its ${need} clusters are in use again`);
      return;
    }
    const chain = this.walkChain(set.firstCluster, need);
    const endMark = chain.count === need ? this.fat.next(lastCluster(chain.extents)) : FAT_END;
    const onFree = this.countFree(chain.extents) === chain.count;
    if (chain.count === need && endMark === FAT_END && onFree) {
      entry.basis = 'chain';
      entry.extents = chain.extents;
      entry.notes.push('the FAT chain was still intact and on free clusters');
      return;
    }
    entry.basis = 'contiguous-guess';
    entry.extents = this.guessRun(set.firstCluster, bytesToMap(set));
    const why = chain.count !== need ? chainStopWords(chain) : !onFree ? 'it crosses clusters in use' : `no end mark after its last cluster: FAT entry ${hex32(endMark)}`;
    entry.notes.push(`the FAT chain is gone (${why}); assumed to continue in the next free clusters`);
    if (clustersIn(entry.extents) < need) entry.notes.push('not enough free clusters after the first cluster for the whole size');
  }

  /** `count` clusters from `first`, cut at the end of the volume. */
  private exactExtent(first: number, count: number, entry: FsEntry): ClusterExtent[] {
    const fits = Math.min(count, this.maxCluster - first + 1);
    if (fits < count) entry.notes.push(`contiguous extent of ${count} clusters runs past the last cluster; ${fits} kept`);
    return fits > 0 ? [{ first, count: fits }] : [];
  }

  private descend(set: ExfatFileSet, entry: FsEntry, depth: number): void {
    const folder = [...entry.folder, entry.name];
    const where = '/' + folder.join('/');
    if (entry.extents.length === 0) return;
    if (depth + 1 > MAX_DEPTH) {
      this.diag.warn('exfat.too-deep', `${where}: folders nested deeper than ${MAX_DEPTH} levels; not followed`);
      entry.notes.push('not followed: nested too deep');
      return;
    }
    if (entry.deleted && entry.overwritten) {
      entry.notes.push('not walked: the deleted folder\'s first cluster is in use again');
      return;
    }
    const first = entry.extents[0].first;
    if (this.visitedDirs.has(first)) {
      // Live: a loop, an ancestor or a cross-link. Deleted: most likely a stale copy of a folder seen already.
      if (!entry.deleted) this.diag.warn('exfat.dir-loop', `${where}: folder cluster ${first} was already walked (a loop, an ancestor, or a cross-link); not followed again`);
      entry.notes.push(`not followed: cluster ${first} belongs to a folder already walked`);
      return;
    }
    this.visitedDirs.add(first);
    if (set.dataLength > MAX_DIR_BYTES) {
      entry.notes.push(`DataLength ${set.dataLength} exceeds the 256 MiB a directory may have; read up to that`);
    }
    // A deleted folder's clusters count only while free: one in use again holds someone else's data.
    const extents = entry.deleted ? this.freePrefix(entry.extents) : entry.extents;
    let bytes = this.readDirectory(extents);
    if (entry.deleted) bytes = this.followDeletedFolder(extents, bytes, entry);
    const parsed = parseEntrySets(bytes, { where, upcase: this.upcase, offsetOf: (o) => this.volumeOffsetIn(extents, o) });
    if (entry.deleted) {
      // Whatever was in a deleted folder's free clusters: keep only what checksums, say nothing of the rest.
      if (parsed.sets.length === 0) entry.notes.push('the deleted folder\'s clusters hold no valid entry sets');
    } else {
      this.diagnostics.push(...parsed.diagnostics);
    }
    this.walkSets(parsed.sets, folder, entry.deleted, depth + 1);
  }

  /**
   * A deleted folder has been read as far as its DataLength (its chain, NoFatChain, or the
   * clusters that run on from the first) takes it. But a folder takes a new cluster when it
   * fills, the next free one, and when it grew between files that lies after the data of the
   * file written before; and its DataLength may no longer count it (exfat-fuse shrinks a
   * folder as its files are deleted, and keeps NoFatChain on what is left). So while the
   * last cluster read holds no end of directory, the next is looked for right after it and then
   * past the last listed file's data (MAX_FOLDER_GAP, within the volume's FOLDER_GAP_BUDGET):
   * - when the last cluster ends inside an entry set, the cluster holding the rest of that set,
   *   and only when the joined set passes its SetChecksum (proof);
   * - when it ends between sets (names of one length make sets that fill a cluster exactly),
   *   the first cluster there whose entry sets go on from the folder's (continuationScore).
   * `extents` grows with what is found.
   */
  private followDeletedFolder(extents: ClusterExtent[], bytes: Buffer, entry: FsEntry): Buffer {
    const cs = this.layout.clusterSize;
    const parts = [bytes];
    let total = bytes.length;
    while (total === clustersIn(extents) * cs && total < MAX_DIR_BYTES) {
      const last = lastCluster(extents);
      const lastBytes = parts[parts.length - 1].subarray(-cs);
      const scan = scanDirectoryCluster(lastBytes, this.upcase);
      if (!scan || scan.ended) break;
      // The folder's last sets (what a continuation is compared with): its last two pieces hold them.
      const folderSets = parseEntrySets(Buffer.concat(parts.slice(-2)), { stopAtEnd: false, includeDeleted: true, upcase: this.upcase }).sets;
      const open = scan.openSlot === undefined ? undefined : lastBytes.subarray(scan.openSlot * ENTRY_SIZE);
      const next = this.nextDeletedFolderCluster(last, folderSets, open);
      if (next === undefined) break;
      pushCluster(extents, next.cluster);
      this.dirClusters.add(next.cluster);
      parts.push(next.bytes);
      total += next.bytes.length;
      entry.notes.push(
        open
          ? `cluster ${next.cluster} continues the folder after cluster ${last}: the entry set split between them passes its SetChecksum`
          : `cluster ${next.cluster} continues the folder after cluster ${last}: its entries go on from the folder's (names, times, where their files lie)`,
      );
    }
    return parts.length === 1 ? bytes : Buffer.concat(parts);
  }

  private nextDeletedFolderCluster(last: number, folderSets: ExfatFileSet[], open: Buffer | undefined): { cluster: number; bytes: Buffer } | undefined {
    const cs = this.layout.clusterSize;
    const files = folderSets.filter((s) => !s.isDirectory && s.dataLength > 0 && this.inRange(s.firstCluster));
    // The last file listed whose data is known: the folder grew after it was written.
    const tail = files[files.length - 1];
    const from = Math.max(last + 2, tail ? tail.firstCluster + this.clustersFor(tail.dataLength) : 0);
    const geometry = { clusterSize: cs, clusterOffset: (c: number) => this.clusterOffset(c) };
    const isCandidate = (c: number) => !this.isAllocated(c) && !this.dirClusters.has(c) && !this.folderFirstClusters.has(c);
    return findFolderContinuation(this.volume, geometry, this.maxCluster, last, from, this.folderGapBudget, isCandidate, (c, bytes, adjacent) => {
      if (!mayBeDirectoryCluster(bytes.subarray(0, 2 * ENTRY_SIZE))) return false;
      if (open) return completesOpenSet(open, bytes, this.upcase);
      const scan = scanDirectoryCluster(bytes, this.upcase);
      if (!scan || scan.kind !== 'dir' || scan.lead > 0) return false;
      // Where the folder would have grown: right after its last cluster, or right after its last file's data.
      return continuationScore(folderSets, scan.sets, adjacent || c === from) >= MIN_CONTINUATION_SCORE;
    });
  }

  // ---- folders a format left behind -----------------------------------------------------

  /**
   * Sweep the clusters the caller offers (free, unowned) for directory clusters no live
   * directory references, as a quick format leaves them, and list their files. exFAT has no
   * '..' entries: folders are linked to their parents through the parents' entry sets, and a
   * folder whose parent is lost is placed by the DCF heuristics of `orphanFolderPaths`.
   */
  findOrphans(isCandidate: (cluster: number) => boolean, lostRoot: string): FsEntry[] {
    const swept = new Map<number, SweptCluster>();
    const geometry = { clusterSize: this.layout.clusterSize, clusterOffset: (c: number) => this.clusterOffset(c) };
    const candidate = (c: number) => !this.dirClusters.has(c) && isCandidate(c);
    sweepClusters(this.volume, geometry, 2, this.maxCluster, candidate, (c, cluster) => {
      if (mayBeDirectoryCluster(cluster.subarray(0, 2 * ENTRY_SIZE))) this.collectOrphanCluster(swept, c, Buffer.from(cluster));
    });
    return this.orphanEntries(swept, lostRoot);
  }

  /**
   * The sweep's test on a free cluster: it starts like a directory cluster and, when the whole
   * cluster is in hand, its entries hold up (scanDirectoryCluster, kept for findOrphansAmong).
   * Judging it now, during the scan, costs nothing on a card the scan waits for, and settling
   * then has only the folders to build.
   */
  mayBeOrphanFolder(cluster: number, bytes: Buffer, at = 0): boolean {
    // Entry types a directory cluster can start with: most clusters fail on their first byte, before any copy.
    if (!DIRECTORY_HEAD_BYTES[bytes[at]] || this.dirClusters.has(cluster)) return false;
    if (!mayBeDirectoryCluster(bytes.subarray(at, at + 2 * ENTRY_SIZE))) return false;
    const size = this.layout.clusterSize;
    if (at + size > bytes.length) return true; // judged when settling, read again then
    const own = Buffer.from(bytes.subarray(at, at + size));
    const scan = scanDirectoryCluster(own, this.upcase);
    if (!scan) return false;
    this.judgedDuringScan.set(cluster, { cluster, bytes: own, scan });
    return true;
  }

  /** findOrphans over clusters that passed mayBeOrphanFolder during another pass. */
  findOrphansAmong(clusters: readonly number[], lostRoot: string, bytesOf?: (cluster: number) => Buffer | undefined): FsEntry[] {
    const swept = new Map<number, SweptCluster>();
    for (const c of [...clusters].sort((x, y) => x - y)) {
      if (!this.inRange(c)) continue;
      const judged = this.judgedDuringScan.get(c);
      if (judged) swept.set(c, judged);
      else this.collectOrphanCluster(swept, c, bytesOf?.(c) ?? this.volume.read(this.clusterOffset(c), this.layout.clusterSize));
    }
    return this.orphanEntries(swept, lostRoot);
  }

  /** `bytes` must be the cluster's own copy: the scan's sets point into it. */
  private collectOrphanCluster(swept: Map<number, SweptCluster>, c: number, bytes: Buffer): void {
    const scan = scanDirectoryCluster(bytes, this.upcase);
    if (scan) swept.set(c, { cluster: c, bytes, scan });
  }

  private orphanEntries(swept: Map<number, SweptCluster>, lostRoot: string): FsEntry[] {
    const cs = this.layout.clusterSize;
    if (swept.size === 0) return [];
    const folders = buildOrphanFolders(swept, cs, MAX_DIR_BYTES, this.upcase);
    const dcim = this.entries.find((e) => e.isDirectory && !e.deleted && e.folder.length === 0 && /^dcim$/i.test(e.name));
    const named = new Map<number, string[]>();
    for (const e of this.entries) if (e.isDirectory && e.firstCluster) named.set(e.firstCluster, [...e.folder, e.name]);
    const paths = orphanFolderPaths(folders, lostRoot, { dcim: dcim && [dcim.name], namedAt: (c) => named.get(c) });

    const live: FsEntry[] = [];
    const gone: FsEntry[] = [];
    let files = 0;
    for (const f of folders) {
      const where = paths.get(f.first)!;
      const found =
        `found in an old folder at cluster${f.clusters.length > 1 ? 's' : ''} ${f.clusters.join(', ')}` +
        (f.joins.includes('set-checksum') ? ' (a later cluster joined by the checksum of a set that spans both)' : '') +
        (f.joins.includes('contiguous-guess') ? ' (later clusters assumed to follow the first)' : '');
      for (const set of f.sets) {
        if (set.isDirectory) continue;
        const entry = this.baseEntry(set, where.path, set.deleted);
        entry.orphan = true;
        entry.notes.push(found);
        if (set.deleted) entry.notes.push('was already deleted before the folder was lost');
        if (where.guessed) entry.notes.push(`folder path partly guessed: /${where.path.join('/')} (${where.how})`);
        this.planOrphan(set, entry);
        (set.deleted ? gone : live).push(entry);
        files++;
      }
    }
    if (files) {
      this.diag.info('exfat.orphan-folders', `${folders.length} old folder(s) no live directory references (left by a format?) hold ${files} file entries`);
    }
    // Sets still in use first: where two old entries claim the same clusters, the live one is likelier right.
    return [...live, ...gone];
  }

  /** An old folder's file: the FAT that chained it is (most likely) gone, so plan it as deleted. */
  private planOrphan(set: ExfatFileSet, entry: FsEntry): void {
    entry.basis = set.noFatChain ? 'no-fat-chain' : 'contiguous-guess';
    if (set.dataLength === 0) return;
    if (!this.inRange(set.firstCluster)) {
      entry.notes.push(`first cluster ${set.firstCluster} is outside the volume (2..${this.maxCluster})`);
      return;
    }
    this.planDeleted(set, entry);
  }

  // ---- chains and bytes -----------------------------------------------------------------

  /** Follow the FAT from `first` for at most `limit` clusters, guarding loops and bad links. */
  private walkChain(first: number, limit: number): ChainWalk {
    const extents: ClusterExtent[] = [];
    const seen = new Set<number>();
    let c = first;
    let count = 0;
    while (count < limit) {
      if (!this.inRange(c)) return { extents, count, stop: 'out-of-range', at: c };
      if (seen.has(c)) return { extents, count, stop: 'loop', at: c };
      seen.add(c);
      pushCluster(extents, c);
      count++;
      if (count === limit) break;
      const next = this.fat.next(c);
      if (next === FAT_END) return { extents, count, stop: 'end', at: c };
      if (next === FAT_BAD) return { extents, count, stop: 'bad', at: c };
      c = next;
    }
    return { extents, count, stop: 'limit', at: c };
  }

  private reportChainStop(where: string, chain: ChainWalk, what: string, exactLength = false): void {
    if (chain.stop === 'end' || (chain.stop === 'limit' && exactLength)) return;
    if (chain.stop === 'limit') {
      this.diag.warn('exfat.dir-too-big', `${where}: ${what} chain is longer than ${MAX_DIR_BYTES} bytes; read up to that`);
      return;
    }
    this.diag.warn(chainStopCode(chain), `${where}: ${what} ${chainStopWords(chain)} after ${chain.count} clusters`);
  }

  /** Mark clusters as reached by a live structure, noting cross-links. */
  private claimExtents(extents: ClusterExtent[], where?: string, entry?: FsEntry): void {
    let crossed = 0;
    for (const e of extents) {
      for (let c = e.first; c < e.first + e.count; c++) {
        if (this.claimed.testAndSet(c)) crossed++;
      }
    }
    if (crossed && where) {
      entry?.notes.push(`${crossed} of its clusters are also used by another file (cross-linked)`);
      this.diag.warn('exfat.cross-link', `${where}: ${crossed} clusters are also used by another chain`);
    }
  }

  /** The leading clusters of `extents` the bitmap calls free. */
  private freePrefix(extents: ClusterExtent[]): ClusterExtent[] {
    const out: ClusterExtent[] = [];
    for (const e of extents) {
      for (let c = e.first; c < e.first + e.count; c++) {
        if (this.isAllocated(c)) return out;
        pushCluster(out, c);
      }
    }
    return out;
  }

  private countFree(extents: ClusterExtent[]): number {
    let free = 0;
    for (const e of extents) for (let c = e.first; c < e.first + e.count; c++) if (!this.isAllocated(c)) free++;
    return free;
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

  /** A directory's clusters, read one at a time until an end-of-directory entry (or the limit). */
  private readDirectory(extents: ClusterExtent[]): Buffer {
    const parts: Buffer[] = [];
    let total = 0;
    const cs = this.layout.clusterSize;
    for (const e of extents) {
      for (let c = e.first; c < e.first + e.count && total < MAX_DIR_BYTES; c++) {
        const part = this.volume.read(this.clusterOffset(c), cs);
        this.dirClusters.add(c);
        parts.push(part);
        total += part.length;
        for (let o = 0; o + ENTRY_SIZE <= part.length; o += ENTRY_SIZE) if (part[o] === 0) return Buffer.concat(parts);
        if (part.length < cs) return Buffer.concat(parts);
      }
    }
    return Buffer.concat(parts);
  }

  /** The volume byte offset of `offset` bytes into the data behind `extents`. */
  private volumeOffsetIn(extents: ClusterExtent[], offset: number): number {
    let left = offset;
    for (const e of extents) {
      const len = e.count * this.layout.clusterSize;
      if (left < len) return this.clusterOffset(e.first) + left;
      left -= len;
    }
    return -1;
  }
}

/** Bytes whose clusters an entry owns: its size, or a directory's allocation up to the limit. */
function bytesToMap(set: ExfatFileSet): number {
  return set.isDirectory ? Math.min(set.dataLength, MAX_DIR_BYTES) : set.dataLength;
}

function lastCluster(extents: ClusterExtent[]): number {
  const e = extents[extents.length - 1];
  return e ? e.first + e.count - 1 : 0;
}

function chainStopCode(chain: ChainWalk): string {
  switch (chain.stop) {
    case 'loop':
      return 'exfat.chain-loop';
    case 'out-of-range':
      return 'exfat.chain-out-of-range';
    case 'bad':
      return 'exfat.chain-bad-cluster';
    default:
      return 'exfat.chain-short';
  }
}

function chainStopWords(chain: ChainWalk): string {
  switch (chain.stop) {
    case 'loop':
      return `chain loops back to cluster ${chain.at}`;
    case 'out-of-range':
      return chain.at === 0 ? 'chain breaks at a FAT entry of 0 (freed)' : `chain points to cluster ${chain.at}, outside the volume`;
    case 'bad':
      return `chain reaches a cluster marked bad after ${chain.at}`;
    case 'end':
      return `chain ends early at cluster ${chain.at}`;
    default:
      return 'chain stops';
  }
}

function pathOf(e: FsEntry): string {
  return '/' + [...e.folder, e.name].join('/');
}

function hex32(n: number): string {
  return '0x' + (n >>> 0).toString(16).toUpperCase().padStart(8, '0');
}

function describeChoice(chosen: BootCandidate, main: BootCandidate, backups: BootCandidate[], diag: Diagnostics, volume: Reader): void {
  const layout = chosen.layout!;
  if (chosen.which === 'backup') {
    const why = main.layout ? main.damage : main.problems;
    diag.warn('exfat.boot-backup', `main boot region is damaged (${why.join('; ')}); using the backup at byte ${chosen.offset}`, 0);
  } else if (chosen.damage.length) {
    diag.error('exfat.boot-damaged', `main boot region is damaged (${chosen.damage.join('; ')}) and the backup is no better; using its fields anyway`, 0);
  } else {
    const backup = backups.find((b) => b.layout);
    if (!backup || backup.damage.length) {
      const why = backup ? backup.damage : backups[0]?.problems ?? [];
      diag.info('exfat.boot-backup-damaged', `backup boot region is damaged (${why.join('; ')})`, backups[0]?.offset);
    }
  }
  const flags = layout.volumeFlags;
  if (flags & VOLUME_FLAG_DIRTY) diag.info('exfat.dirty', 'the volume was not cleanly unmounted (VolumeDirty)');
  if (flags & VOLUME_FLAG_MEDIA_FAILURE) diag.warn('exfat.media-failure', 'the file system recorded media failures (MediaFailure)');
  if (layout.volumeSize > volume.size) {
    diag.warn('exfat.truncated', `the boot sector describes ${layout.volumeSize} bytes, only ${volume.size} are present`);
  }
}

export const exfatDriver: FsDriver = {
  name: 'exFAT',
  probe(volume: Reader): boolean {
    try {
      return chooseBootRegion(volume) !== null;
    } catch {
      return false;
    }
  },
  open(volume: Reader): FileSystem {
    const diag = new Diagnostics();
    const choice = chooseBootRegion(volume);
    if (!choice) throw new Error('not an exFAT volume (probe first)');
    const { chosen, main, backups } = choice;
    describeChoice(chosen, main, backups, diag, volume);
    const fs = new ExfatVolume(volume, chosen.layout!, chosen.which, diag);
    fs.walk();
    return fs;
  },
};
