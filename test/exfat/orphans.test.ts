import { describe, expect, it } from 'vitest';
import {
  exfatDriver,
  mayBeDirectoryCluster,
  orphanFolderPaths,
  parseEntrySets,
  scanDirectoryCluster,
  type OrphanFolder,
} from '../../parsers/exfat/index.js';
import { BufferReader, RunsReader } from '../../src/reader.js';
import type { FileSystem, FsEntry } from '../../parsers/types.js';
import { ExfatImage, makeEntrySet, type ImageOptions } from './image.js';
import { continuationScore, MIN_CONTINUATION_SCORE, setsAcross, type SweptCluster } from '../../parsers/exfat/orphans.js';
import type { ExfatFileSet } from '../../parsers/exfat/entries.js';
import { seededRandom } from '../support/random.js';

function bytes(n: number, seed: number): Buffer {
  const b = Buffer.alloc(n);
  let s = seed;
  for (let i = 0; i < n; i++) b[i] = (s = (s * 1103515245 + 12345) >>> 0) >>> 24;
  return b;
}

function open(img: Buffer): FileSystem {
  return exfatDriver.open(new BufferReader(img));
}

/**
 * What a quick format leaves: a fresh file system of the same geometry (boot region, FAT,
 * bitmap, up-case table, root), whatever `after` writes on it, and the old bytes in every
 * cluster the new file system does not use.
 */
function quickFormat(old: Buffer, opts: ImageOptions = {}, after?: (b: ExfatImage) => void): Buffer {
  const fresh = new ExfatImage(opts);
  after?.(fresh);
  const img = fresh.build();
  for (let c = 2; c <= fresh.clusterCount + 1; c++) {
    if (!fresh.isAllocated(c)) old.copy(img, fresh.offset(c), fresh.offset(c), fresh.offset(c) + fresh.clusterSize);
  }
  return img;
}

const pathOf = (e: FsEntry) => '/' + [...e.folder, e.name].join('/');

function orphans(fs: FileSystem, isCandidate = (c: number) => !fs.isAllocated(c)): FsEntry[] {
  return fs.findOrphans!(isCandidate, '_lost');
}

function byPath(list: FsEntry[], path: string): FsEntry {
  const e = list.find((x) => pathOf(x) === path);
  if (!e) throw new Error(`${path} not among ${list.map(pathOf).join(', ')}`);
  return e;
}

function content(fs: FileSystem, img: Buffer, e: FsEntry): Buffer {
  const runs = e.extents.map((x) => ({ offset: fs.clusterOffset(x.first), length: x.count * fs.geometry.clusterSize }));
  return new RunsReader(new BufferReader(img), runs).read(0, e.size);
}

/** An old card: DCIM/100CANON with photos (NoFatChain, FAT chain, one deleted), DCIM/101CANON. */
function cameraCard() {
  const b = new ExfatImage();
  const dcim = b.addDir(b.root, 'DCIM', { noFatChain: true });
  const c100 = b.addDir(dcim, '100CANON', { noFatChain: true });
  const one = bytes(5000, 1);
  const two = bytes(3000, 2);
  const three = bytes(2500, 3);
  const f1 = b.addFile(c100, 'IMG_0001.JPG', one, { noFatChain: true });
  const f2 = b.addFile(c100, 'IMG_0002.JPG', two);
  const c101 = b.addDir(dcim, '101CANON', { noFatChain: true });
  const four = bytes(1500, 4);
  b.addFile(c101, 'Long name of a photo edited in the camera.jpg', four, { noFatChain: true });
  // Deleted last, so that nothing was written over it before the format.
  b.addFile(c100, 'IMG_0003.JPG', three, { noFatChain: true, deleted: true });
  return { b, img: b.build(), dcim, c100, c101, f1, f2, one, two, three, four };
}

describe('exFAT orphan sweep after a quick format', () => {
  it('finds the old folders, names DCIM by its DCF folders, and plans every file', () => {
    const card = cameraCard();
    const img = quickFormat(card.img);
    const fs = open(img);
    expect(fs.entries).toEqual([]);
    const found = orphans(fs);
    expect(found.map(pathOf).sort()).toEqual([
      '/DCIM/100CANON/IMG_0001.JPG',
      '/DCIM/100CANON/IMG_0002.JPG',
      '/DCIM/100CANON/IMG_0003.JPG',
      '/DCIM/101CANON/Long name of a photo edited in the camera.jpg',
    ]);
    for (const e of found) {
      expect(e.orphan).toBe(true);
      expect(e.notes.join(' | ')).toMatch(/folder path partly guessed: \/DCIM\/10[01]CANON/);
      expect(e.mtime?.toISOString()).toBe('2024-05-01T10:20:30.000Z');
    }

    const one = byPath(found, '/DCIM/100CANON/IMG_0001.JPG');
    expect(one).toMatchObject({ deleted: false, size: 5000, basis: 'no-fat-chain', firstCluster: card.f1.clusters[0], extents: [{ first: card.f1.clusters[0], count: 5 }] });
    expect(content(fs, img, one).equals(card.one)).toBe(true);

    // The format wiped the FAT: a chained file is a contiguous guess (right here, it was contiguous).
    const two = byPath(found, '/DCIM/100CANON/IMG_0002.JPG');
    expect(two).toMatchObject({ deleted: false, basis: 'contiguous-guess' });
    expect(two.notes.join(' | ')).toMatch(/FAT chain is gone/);
    expect(content(fs, img, two).equals(card.two)).toBe(true);

    const three = byPath(found, '/DCIM/100CANON/IMG_0003.JPG');
    expect(three).toMatchObject({ deleted: true, basis: 'no-fat-chain' });
    expect(three.notes).toContain('was already deleted before the folder was lost');
    expect(content(fs, img, three).equals(card.three)).toBe(true);

    const long = byPath(found, '/DCIM/101CANON/Long name of a photo edited in the camera.jpg');
    expect(content(fs, img, long).equals(card.four)).toBe(true);
    // Live sets come before deleted ones.
    expect(found[found.length - 1]).toBe(three);
    expect(fs.diagnostics.map((d) => d.code)).toContain('exfat.orphan-folders');
  });

  it('marks a file whose first cluster the new file system uses as overwritten', () => {
    const card = cameraCard();
    const img = quickFormat(card.img, {}, (b) => {
      b.addFile(b.root, 'NEW.JPG', bytes(900, 9), { clusters: [card.f1.clusters[0]], noFatChain: true });
    });
    const fs = open(img);
    const one = byPath(orphans(fs), '/DCIM/100CANON/IMG_0001.JPG');
    expect(one.overwritten).toBe(true);
    expect(one.notes.join(' | ')).toMatch(/in use again: overwritten/);
  });

  it('sweeps only the clusters offered', () => {
    const card = cameraCard();
    const fs = open(quickFormat(card.img));
    expect(orphans(fs, () => false)).toEqual([]);
    // Without DCIM's cluster, the DCF folders lose their names.
    const found = orphans(fs, (c) => !fs.isAllocated(c) && c !== card.dcim);
    expect(found.map(pathOf).sort()).toEqual([
      `/DCIM/FOLDER${card.c100}/IMG_0001.JPG`,
      `/DCIM/FOLDER${card.c100}/IMG_0002.JPG`,
      `/DCIM/FOLDER${card.c100}/IMG_0003.JPG`,
      `/_lost/FOLDER${card.c101}/Long name of a photo edited in the camera.jpg`,
    ]);
  });

  it('puts a DCF folder whose parent is overwritten under the live DCIM the camera made again', () => {
    const card = cameraCard();
    const img = quickFormat(card.img, {}, (b) => {
      b.addDir(b.root, 'Dcim', { at: [card.dcim], noFatChain: true });
      b.setAllocated(card.dcim, true);
    });
    const fs = open(img);
    expect(fs.entries.map(pathOf)).toEqual(['/Dcim']);
    const found = orphans(fs);
    expect(byPath(found, `/Dcim/FOLDER${card.c100}/IMG_0001.JPG`).notes.join(' | ')).toMatch(/folder path partly guessed: \/Dcim\/FOLDER\d+ \(holds DCF-named files/);
    expect(found.some((e) => pathOf(e) === `/_lost/FOLDER${card.c101}/Long name of a photo edited in the camera.jpg`)).toBe(true);
  });

  it('reads a folder over its contiguous clusters once, with the set that spans them whole', () => {
    const b = new ExfatImage();
    const dcim = b.addDir(b.root, 'DCIM', { noFatChain: true });
    const dir = b.addDir(dcim, '100CANON', { clusters: 2 }); // a FAT chain, gone with the format
    const files = Array.from({ length: 14 }, (_, i) => ({ name: `IMG_${String(i + 1).padStart(4, '0')}.JPG`, data: bytes(700, 20 + i) }));
    for (const f of files) b.addFile(dir, f.name, f.data, { noFatChain: true });
    const img = quickFormat(b.build());
    const fs = open(img);
    const found = orphans(fs);
    // 32 slots a cluster, 3 a set: the 11th set spans both clusters.
    expect(found.map(pathOf)).toEqual(files.map((f) => `/DCIM/100CANON/${f.name}`));
    for (const [i, e] of found.entries()) expect(content(fs, img, e).equals(files[i].data)).toBe(true);
    expect(found[0].notes.join(' | ')).toMatch(new RegExp(`old folder at clusters ${dir}, ${dir + 1} \\(later clusters assumed to follow the first\\)`));
  });

  it('joins a fragmented folder\'s later cluster when a set checksums across the two', () => {
    const b = new ExfatImage();
    const dcim = b.addDir(b.root, 'DCIM', { noFatChain: true });
    const first = b.alloc(1)[0];
    const data1 = b.alloc(3);
    const second = b.alloc(1)[0];
    b.addDir(dcim, '101CANON', { at: [first, second] });
    const files = Array.from({ length: 12 }, (_, i) => ({ name: `IMG_${String(i + 1).padStart(4, '0')}.JPG`, data: bytes(i === 0 ? 3000 : 600, 40 + i) }));
    files.forEach((f, i) => b.addFile(first, f.name, f.data, { noFatChain: true, clusters: i === 0 ? data1 : undefined }));
    const img = quickFormat(b.build());
    const fs = open(img);
    const found = orphans(fs);
    expect(second).not.toBe(first + 1);
    expect(found.map(pathOf)).toEqual(files.map((f) => `/DCIM/101CANON/${f.name}`));
    expect(found[0].notes.join(' | ')).toMatch(new RegExp(`clusters ${first}, ${second} \\(a later cluster joined by the checksum`));
    for (const [i, e] of found.entries()) expect(content(fs, img, e).equals(files[i].data)).toBe(true);
  });

  it('lists a fragmented folder\'s later cluster once, on its own, when nothing ties it to the first', () => {
    const b = new ExfatImage();
    const dcim = b.addDir(b.root, 'DCIM', { noFatChain: true });
    const first = b.alloc(1)[0];
    b.alloc(2);
    const second = b.alloc(1)[0];
    b.addDir(dcim, '101CANON', { at: [first, second] });
    // 16 sets of 2 name entries (4 slots): the first cluster is full, no set spans the two.
    const files = Array.from({ length: 10 }, (_, i) => ({ name: `IMG_${String(i + 1).padStart(4, '0')} edited.JPG`, data: bytes(300, 60 + i) }));
    for (const f of files) b.addFile(first, f.name, f.data, { noFatChain: true });
    const fs = open(quickFormat(b.build()));
    const found = orphans(fs);
    const paths = found.map(pathOf);
    expect(new Set(paths).size).toBe(paths.length);
    expect(paths.slice(0, 8)).toEqual(files.slice(0, 8).map((f) => `/DCIM/101CANON/${f.name}`));
    expect(paths.slice(8)).toEqual(files.slice(8).map((f) => `/_lost/FOLDER${second}/${f.name}`));
  });

  it('leaves alone the folders the live walk already read', () => {
    const b = new ExfatImage();
    const old = b.addDir(b.root, 'OLD', { noFatChain: true, deleted: true });
    b.addFile(old, 'photo.jpg', bytes(1500, 7), { noFatChain: true, deleted: true });
    b.setAllocated(old, false);
    const fs = open(b.build());
    expect(fs.entries.map(pathOf)).toContain('/OLD/photo.jpg');
    expect(orphans(fs)).toEqual([]);
  });
});

describe('exFAT directory clusters, judged alone', () => {
  const set = (name: string, deleted = false) => makeEntrySet({ name, firstCluster: 10, dataLength: 100, deleted });

  it('takes a cluster that starts with valid sets, live or deleted', () => {
    const c = Buffer.alloc(512);
    Buffer.concat([set('A.JPG'), set('B.JPG', true), set('C.JPG')]).copy(c);
    expect(mayBeDirectoryCluster(c)).toBe(true);
    const scan = scanDirectoryCluster(c);
    expect(scan).toMatchObject({ kind: 'dir', lead: 0, ended: true, implausible: 0 });
    expect(scan!.sets.map((s) => [s.name, s.deleted])).toEqual([
      ['A.JPG', false],
      ['B.JPG', true],
      ['C.JPG', false],
    ]);
  });

  it('knows the tail of a set begun in the cluster before, and a set left open at the end', () => {
    const long = set('A rather long name for one photo.jpg'); // 5 entries
    const c = Buffer.alloc(512);
    long.copy(c, 0, 96); // its last 2 entries
    set('B.JPG').copy(c, 64);
    long.copy(c, 512 - 96, 0, 96); // its first 3 entries, left open
    const scan = scanDirectoryCluster(c);
    expect(scan).toMatchObject({ kind: 'dir', lead: 2, ended: true, openSlot: 13 });
    const tail = Buffer.alloc(512);
    long.copy(tail, 0, 96);
    expect(mayBeDirectoryCluster(tail)).toBe(true);
    expect(scanDirectoryCluster(tail)).toMatchObject({ kind: 'tail', lead: 2, sets: [] });
  });

  it('takes a directory cluster whose first set is damaged', () => {
    const c = Buffer.alloc(1024);
    Buffer.concat([makeEntrySet({ name: 'BAD.JPG', firstCluster: 10, dataLength: 100, badChecksum: true }), set('A.JPG'), set('B.JPG'), set('C.JPG'), set('D.JPG')]).copy(c);
    const scan = scanDirectoryCluster(c);
    expect(scan).toMatchObject({ kind: 'dir', implausible: 3 });
    expect(scan!.sets.map((s) => s.name)).toEqual(['A.JPG', 'B.JPG', 'C.JPG', 'D.JPG']);
  });

  it('gives the sets of a folder as one parse of its clusters joined would, sets across boundaries included', () => {
    const rnd = seededRandom(7);
    let straddling = 0;
    let checked = 0;
    for (let round = 0; round < 150; round++) {
      const clusterSize = [512, 1024, 4096][round % 3];
      // Sets of 3 to 19 entries, some deleted, some damaged, some gaps of zeros, over 2 to 4 clusters.
      const parts: Buffer[] = [];
      const total = clusterSize * (2 + (round % 3));
      let length = 0;
      while (length < total - 700) {
        const k = rnd(10);
        const name = 'N'.repeat(1 + rnd(k < 2 ? 240 : 20)) + `_${round}_${length}.JPG`;
        const part = k === 9 ? Buffer.alloc(32 * (1 + rnd(3))) : makeEntrySet({ name, firstCluster: 10 + rnd(1000), dataLength: 1 + rnd(1e6), deleted: k === 7, badChecksum: k === 8 });
        parts.push(part);
        length += part.length;
      }
      const bytes = Buffer.concat([...parts, Buffer.alloc(total - length)]);
      const clusters: SweptCluster[] = [];
      for (let i = 0; i * clusterSize < total; i++) {
        const b = Buffer.from(bytes.subarray(i * clusterSize, (i + 1) * clusterSize));
        const scan = scanDirectoryCluster(b);
        if (!scan) break; // a cluster the sweep would not keep: the folder ends before it
        clusters.push({ cluster: 100 + i, bytes: b, scan });
        if (scan.openSlot !== undefined) straddling++;
      }
      if (clusters.length < 2) continue;
      const joined = parseEntrySets(Buffer.concat(clusters.map((c) => c.bytes)), { stopAtEnd: false, includeDeleted: true }).sets;
      expect(setsAcross(clusters)).toEqual(joined);
      checked++;
    }
    expect(checked).toBeGreaterThan(50);
    expect(straddling).toBeGreaterThan(20);
  });

  it('refuses data: random bytes, and a valid set lost among junk', () => {
    for (let seed = 1; seed < 200; seed++) expect(scanDirectoryCluster(bytes(1024, seed))).toBeNull();
    const c = bytes(1024, 5);
    set('A.JPG').copy(c);
    expect(mayBeDirectoryCluster(c)).toBe(true);
    expect(scanDirectoryCluster(c)).toBeNull();
    const zero = Buffer.alloc(1024);
    expect(mayBeDirectoryCluster(zero)).toBe(false);
    expect(scanDirectoryCluster(zero)).toBeNull();
  });

  it('gives folders that name each other a path without looping', () => {
    const sets = (...b: Buffer[]) => parseEntrySets(Buffer.concat(b), { stopAtEnd: false }).sets;
    const dir = (name: string, at: number) => makeEntrySet({ name, attributes: 0x10, firstCluster: at, dataLength: 1024 });
    const folders: OrphanFolder[] = [
      { first: 10, clusters: [10], sets: sets(dir('B', 20)), joins: [], startsMidSet: false },
      { first: 20, clusters: [20], sets: sets(dir('A', 10)), joins: [], startsMidSet: false },
      { first: 30, clusters: [30], sets: sets(dir('100CANON', 40)), joins: [], startsMidSet: false },
      { first: 40, clusters: [40], sets: sets(makeEntrySet({ name: 'IMG_0001.JPG', firstCluster: 50, dataLength: 10 })), joins: [], startsMidSet: false },
    ];
    const paths = orphanFolderPaths(folders, '_lost');
    expect(paths.get(10)!.path.length).toBeGreaterThan(0);
    expect(paths.get(20)!.path.length).toBeGreaterThan(0);
    expect(paths.get(30)).toMatchObject({ path: ['DCIM'], guessed: true });
    expect(paths.get(40)).toMatchObject({ path: ['DCIM', '100CANON'], guessed: true });
    const live = orphanFolderPaths(folders.slice(3), '_lost', { dcim: ['dcim'] });
    expect(live.get(40)?.path).toEqual(['dcim', 'FOLDER40']);
    const named = orphanFolderPaths(folders.slice(3), '_lost', { namedAt: (c) => (c === 40 ? ['DCIM', '105CANON'] : undefined) });
    expect(named.get(40)).toMatchObject({ path: ['DCIM', '105CANON'], guessed: false });
  });
});

describe('a later cluster of a deleted folder, with no entry set split to prove it', () => {
  const at = (min: number) => new Date(Date.UTC(2023, 10, 5, 12, min));
  const set = (name: string, firstCluster: number, min: number, deleted = true) =>
    ({ name, firstCluster, ctime: at(min), deleted, isDirectory: false, dataLength: 1000 }) as ExfatFileSet;
  const folder = [set('IMG_0040.JPG', 100, 0), set('IMG_0041.JPG', 110, 1)];

  it('joins a cluster numbered on from the folder, or lying where the folder grew', () => {
    expect(continuationScore(folder, [set('IMG_0042.JPG', 121, 2)], false)).toBeGreaterThanOrEqual(MIN_CONTINUATION_SCORE);
    expect(continuationScore(folder, [set('MVI_0042.MOV', 121, 2)], false)).toBeGreaterThanOrEqual(MIN_CONTINUATION_SCORE);
    expect(continuationScore(folder, [set('IMG_20231105_120200.jpg', 121, 2)], true)).toBeGreaterThanOrEqual(MIN_CONTINUATION_SCORE);
  });

  it('does not join a cluster that is neither, however alike its names', () => {
    expect(continuationScore(folder, [set('IMG_0075.JPG', 121, 2)], false)).toBe(-Infinity);
  });

  it('does not join live entries to a deleted folder, nor deleted ones to a live folder', () => {
    expect(continuationScore(folder, [set('IMG_0042.JPG', 121, 2, false)], true)).toBe(-Infinity);
  });

  it('wants more than adjacency alone', () => {
    // Another kind of name, written before the folder's last file, its data before the last's.
    expect(continuationScore(folder, [set('NOTES.TXT', 50, 0)], true)).toBeLessThan(MIN_CONTINUATION_SCORE);
  });
});
