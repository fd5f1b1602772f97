import { describe, expect, it } from 'vitest';
import { exfatDriver } from '../../parsers/exfat/index.js';
import { fatDriver } from '../../parsers/fat/index.js';
import { BufferReader, RunsReader } from '../../src/reader.js';
import type { FileSystem, FsEntry } from '../../parsers/types.js';
import { END, ExfatImage, makeEntrySet } from './image.js';

function bytes(n: number, seed: number): Buffer {
  const b = Buffer.alloc(n);
  let s = seed;
  for (let i = 0; i < n; i++) b[i] = (s = (s * 1103515245 + 12345) >>> 0) >>> 24;
  return b;
}

function open(img: Buffer): FileSystem {
  const r = new BufferReader(img);
  expect(exfatDriver.probe(r)).toBe(true);
  return exfatDriver.open(r);
}

function find(fs: FileSystem, path: string): FsEntry {
  const e = fs.entries.find((x) => '/' + [...x.folder, x.name].join('/') === path);
  if (!e) throw new Error(`${path} not among ${fs.entries.map((x) => '/' + [...x.folder, x.name].join('/')).join(', ')}`);
  return e;
}

/** The bytes an entry's extents hold, cut to its size. */
function content(fs: FileSystem, img: Buffer, e: FsEntry): Buffer {
  const runs = e.extents.map((x) => ({ offset: fs.clusterOffset(x.first), length: x.count * fs.geometry.clusterSize }));
  return new RunsReader(new BufferReader(img), runs).read(0, e.size);
}

const codes = (fs: FileSystem) => fs.diagnostics.map((d) => d.code);

describe('exFAT volume (hand-built)', () => {
  it('fills the geometry from the boot sector and root directory', () => {
    const b = new ExfatImage({ label: 'CAMERA', serial: 0x1234abcd });
    const fs = open(b.build());
    expect(fs.type).toBe('exFAT');
    expect(fs.geometry).toEqual({
      bytesPerSector: 512,
      sectorsPerCluster: 2,
      clusterSize: 1024,
      clusterCount: 200,
      dataOffset: b.heapOffset * 512,
      fatOffset: 24 * 512,
      fatCount: 1,
      fatSize: b.fatLength * 512,
      volumeSize: b.volumeLength * 512,
      rootCluster: b.root,
      label: 'CAMERA',
      serial: '1234-ABCD',
      bootSector: 'main',
      activeFat: 0,
    });
    expect(fs.clusterOffset(2)).toBe(b.heapOffset * 512);
    expect(fs.clusterOffset(5)).toBe(b.heapOffset * 512 + 3 * 1024);
    expect(fs.isAllocated(b.root)).toBe(true);
    expect(fs.isAllocated(150)).toBe(false);
    expect(fs.diagnostics.filter((d) => d.severity !== 'info')).toEqual([]);
  });

  it('lists live files in their folders, with FAT chains and NoFatChain extents', () => {
    const b = new ExfatImage();
    const dcim = b.addDir(b.root, 'DCIM');
    const sub = b.addDir(dcim, '100CANON', { noFatChain: true });
    const jpg = bytes(3000, 1);
    b.addFile(sub, 'IMG_0001.JPG', jpg, { noFatChain: true });
    // A fragmented file: clusters 60, 61, 80, 70 in that order.
    const mp4 = bytes(3500, 2);
    b.addFile(sub, 'MVI_0002.MP4', mp4, { clusters: [60, 61, 80, 70] });
    b.addFile(b.root, 'empty.txt', Buffer.alloc(0));
    const img = b.build();
    const fs = open(img);
    expect(fs.diagnostics.filter((d) => d.severity !== 'info')).toEqual([]);
    const a = find(fs, '/DCIM/100CANON/IMG_0001.JPG');
    expect(a).toMatchObject({ folder: ['DCIM', '100CANON'], size: 3000, deleted: false, basis: 'no-fat-chain', isDirectory: false });
    expect(content(fs, img, a).equals(jpg)).toBe(true);
    const m = find(fs, '/DCIM/100CANON/MVI_0002.MP4');
    expect(m.basis).toBe('chain');
    expect(m.extents).toEqual([
      { first: 60, count: 2 },
      { first: 80, count: 1 },
      { first: 70, count: 1 },
    ]);
    expect(content(fs, img, m).equals(mp4)).toBe(true);
    expect(find(fs, '/DCIM')).toMatchObject({ isDirectory: true, basis: 'chain', extents: [{ first: dcim, count: 1 }] });
    expect(find(fs, '/DCIM/100CANON')).toMatchObject({ isDirectory: true, basis: 'no-fat-chain' });
    expect(find(fs, '/empty.txt')).toMatchObject({ size: 0, extents: [] });
    expect(a.mtime?.toISOString()).toBe('2024-05-01T10:20:30.000Z');
  });

  it('recovers a deleted NoFatChain file exactly', () => {
    const b = new ExfatImage();
    const data = bytes(5000, 3);
    b.addFile(b.root, 'GONE.JPG', data, { noFatChain: true, deleted: true });
    const img = b.build();
    const fs = open(img);
    const e = find(fs, '/GONE.JPG');
    expect(e).toMatchObject({ deleted: true, basis: 'no-fat-chain', size: 5000 });
    expect(e.overwritten).toBeUndefined();
    expect(content(fs, img, e).equals(data)).toBe(true);
  });

  it('follows the FAT chain of a deleted file while it is intact and free', () => {
    const b = new ExfatImage();
    const data = bytes(4000, 4);
    b.addFile(b.root, 'KEPT_CHAIN.MP4', data, { clusters: [40, 42, 44, 46], deleted: true, keepChain: true });
    b.alloc(1); // something else in use between them does not matter to a chain
    const img = b.build();
    const fs = open(img);
    const e = find(fs, '/KEPT_CHAIN.MP4');
    expect(e).toMatchObject({ deleted: true, basis: 'chain' });
    expect(content(fs, img, e).equals(data)).toBe(true);
  });

  it('falls back to a contiguous guess when the deleted file\'s chain is gone', () => {
    const b = new ExfatImage();
    const data = bytes(4000, 5);
    b.addFile(b.root, 'LOST_CHAIN.MP4', data, { clusters: [40, 41, 42, 43], deleted: true });
    const img = b.build();
    const fs = open(img);
    const e = find(fs, '/LOST_CHAIN.MP4');
    expect(e).toMatchObject({ deleted: true, basis: 'contiguous-guess', extents: [{ first: 40, count: 4 }] });
    expect(e.notes.join()).toMatch(/chain is gone/);
    expect(content(fs, img, e).equals(data)).toBe(true);
  });

  it('does not trust a deleted chain that runs over clusters in use', () => {
    const b = new ExfatImage();
    b.addFile(b.root, 'OLD.MP4', bytes(3000, 6), { clusters: [40, 41, 42], deleted: true, keepChain: true });
    b.addFile(b.root, 'NEW.JPG', bytes(500, 7), { clusters: [41], noFatChain: true });
    const fs = open(b.build());
    const e = find(fs, '/OLD.MP4');
    expect(e.basis).toBe('contiguous-guess');
    expect(e.extents).toEqual([
      { first: 40, count: 1 },
      { first: 42, count: 2 },
    ]);
  });

  it('marks a deleted file whose first cluster is in use again as overwritten', () => {
    const b = new ExfatImage();
    b.addFile(b.root, 'OLD.JPG', bytes(2000, 8), { clusters: [50, 51], deleted: true, noFatChain: true });
    b.addFile(b.root, 'NEW.JPG', bytes(1000, 9), { clusters: [50], noFatChain: true });
    const fs = open(b.build());
    expect(find(fs, '/OLD.JPG').overwritten).toBe(true);
  });

  it('walks deleted folders whose clusters are free, marking their contents deleted', () => {
    const b = new ExfatImage();
    const old = b.addDir(b.root, 'OLD', { noFatChain: true, deleted: true });
    const data = bytes(1500, 10);
    b.addFile(old, 'photo.jpg', data, { clusters: [100, 101], noFatChain: true, deleted: true });
    b.addFile(old, 'still-live-entry.jpg', bytes(100, 11), { noFatChain: true });
    b.setAllocated(old, false);
    const img = b.build();
    const fs = open(img);
    expect(find(fs, '/OLD')).toMatchObject({ isDirectory: true, deleted: true });
    const p = find(fs, '/OLD/photo.jpg');
    expect(p).toMatchObject({ deleted: true, folder: ['OLD'], basis: 'no-fat-chain' });
    expect(content(fs, img, p).equals(data)).toBe(true);
    expect(find(fs, '/OLD/still-live-entry.jpg')).toMatchObject({ deleted: true });
  });

  it('skips an entry set with a bad checksum and says so', () => {
    const b = new ExfatImage();
    b.addEntries(b.root, makeEntrySet({ name: 'BROKEN.JPG', firstCluster: 30, dataLength: 10, badChecksum: true }));
    b.addFile(b.root, 'OK.JPG', bytes(10, 12));
    const fs = open(b.build());
    expect(fs.entries.map((e) => e.name)).toEqual(['OK.JPG']);
    expect(codes(fs)).toContain('exfat.set-checksum');
  });

  it('reads a root directory spanning a FAT chain', () => {
    const b = new ExfatImage({ rootClusters: 2 });
    for (let i = 0; i < 14; i++) b.addFile(b.root, `IMG_${String(i).padStart(4, '0')}.JPG`, bytes(100, i));
    const fs = open(b.build());
    expect(fs.entries).toHaveLength(14);
  });

  it('uses the active FAT and its bitmap when there are two', () => {
    const b = new ExfatImage({ fats: 2, activeFat: 1 });
    const data = bytes(2500, 13);
    const { clusters } = b.addFile(b.root, 'CLIP.MP4', data, { clusters: [90, 95, 99] });
    // FAT 1 (inactive) says something else entirely.
    b.fat[0][90] = 0;
    const img = b.build();
    // The inactive bitmap (the first) marks nothing but itself.
    img.fill(0, b.offset(b.bitmapClusters[0]), b.offset(b.bitmapClusters[0]) + 1);
    const fs = open(img);
    expect(fs.geometry).toMatchObject({ fatCount: 2, activeFat: 1 });
    const e = find(fs, '/CLIP.MP4');
    expect(e.extents.map((x) => x.first)).toEqual(clusters);
    expect(content(fs, img, e).equals(data)).toBe(true);
    expect(fs.isAllocated(b.root)).toBe(true);
  });

  it('reports an up-case table whose checksum is wrong', () => {
    const b = new ExfatImage();
    b.upcaseChecksum = (b.upcaseChecksum ^ 1) >>> 0;
    const fs = open(b.build());
    expect(codes(fs)).toContain('exfat.upcase-checksum');
  });

  it('timestamps with a UTC offset become true UTC instants', () => {
    const b = new ExfatImage();
    b.addFile(b.root, 'TZ.JPG', bytes(10, 14), {
      modified: { year: 2024, month: 7, day: 1, hour: 12, minute: 0, second: 0, increment10ms: 10, utcOffset: 0x80 | 8 },
      created: { year: 2024, month: 7, day: 1, hour: 12, minute: 0, second: 0, utcOffset: 0 },
    });
    const fs = open(b.build());
    const e = find(fs, '/TZ.JPG');
    expect(e.mtime?.toISOString()).toBe('2024-07-01T10:00:00.100Z');
    expect(e.ctime?.toISOString()).toBe('2024-07-01T12:00:00.000Z');
    expect(codes(fs)).toContain('exfat.local-times');
  });
});

describe('exFAT damage', () => {
  it('stops at a loop in a FAT chain', () => {
    const b = new ExfatImage();
    b.addFile(b.root, 'LOOP.MP4', bytes(5000, 20), { clusters: [30, 31, 32, 33, 34] });
    b.setFat(32, 30);
    const fs = open(b.build());
    const e = find(fs, '/LOOP.MP4');
    expect(e.extents).toEqual([{ first: 30, count: 3 }]);
    expect(e.notes.join()).toMatch(/loops back to cluster 30/);
    expect(codes(fs)).toContain('exfat.chain-loop');
  });

  it('stops at a link outside the volume and at a chain shorter than the size', () => {
    const b = new ExfatImage();
    b.addFile(b.root, 'OUT.MP4', bytes(3000, 21), { clusters: [30, 31, 32] });
    b.setFat(31, 5000);
    b.addFile(b.root, 'SHORT.MP4', bytes(3000, 22), { clusters: [40, 41, 42] });
    b.setFat(41, END);
    const fs = open(b.build());
    expect(find(fs, '/OUT.MP4').extents).toEqual([{ first: 30, count: 2 }]);
    expect(find(fs, '/SHORT.MP4').extents).toEqual([{ first: 40, count: 2 }]);
    expect(find(fs, '/SHORT.MP4').notes.join()).toMatch(/holds 2 clusters, the size needs 3/);
    expect(codes(fs)).toEqual(expect.arrayContaining(['exfat.chain-out-of-range', 'exfat.chain-short']));
  });

  it('does not walk a folder that contains its ancestor', () => {
    const b = new ExfatImage();
    const a = b.addDir(b.root, 'A');
    b.addDir(a, 'BACK_TO_ROOT', { at: [b.root], noFatChain: true });
    b.addDir(a, 'SELF', { at: [a], noFatChain: true });
    const fs = open(b.build());
    expect(fs.entries.map((e) => e.name).sort()).toEqual(['A', 'BACK_TO_ROOT', 'SELF']);
    expect(codes(fs).filter((c) => c === 'exfat.dir-loop')).toHaveLength(2);
  });

  it('stops descending past the depth limit', () => {
    const b = new ExfatImage({ clusterCount: 400 });
    let dir = b.root;
    for (let i = 0; i < 70; i++) dir = b.addDir(dir, `d${i}`, { noFatChain: true });
    const fs = open(b.build());
    expect(codes(fs)).toContain('exfat.too-deep');
    expect(fs.entries.length).toBeLessThan(70);
  });

  it('uses the backup boot region when the main one is damaged', () => {
    const b = new ExfatImage({ label: 'BACKUP' });
    b.addFile(b.root, 'A.JPG', bytes(100, 30));
    const img = b.build();
    img[100] ^= 0xff; // serial number: the checksum no longer matches
    const fs = open(img);
    expect(fs.geometry.bootSector).toBe('backup');
    expect(fs.geometry.serial).toBe('1234-ABCD');
    expect(codes(fs)).toContain('exfat.boot-backup');
    expect(fs.entries.map((e) => e.name)).toEqual(['A.JPG']);
  });

  it('uses the backup when the main boot sector is gone entirely', () => {
    const b = new ExfatImage();
    const img = b.build();
    img.fill(0, 0, 512);
    expect(open(img).geometry.bootSector).toBe('backup');
  });

  it('keeps the main boot sector\'s fields when both regions fail only their checksums', () => {
    const b = new ExfatImage();
    const img = b.build();
    img[11 * 512] ^= 1;
    img[23 * 512] ^= 1;
    const fs = open(img);
    expect(fs.geometry.bootSector).toBe('main');
    expect(codes(fs)).toContain('exfat.boot-damaged');
  });

  it('probe says no to other things and never throws', () => {
    const no = (buf: Buffer) => expect(exfatDriver.probe(new BufferReader(buf))).toBe(false);
    no(Buffer.alloc(0));
    no(Buffer.alloc(100));
    no(Buffer.alloc(64 * 1024));
    const b = new ExfatImage();
    const img = b.build();
    no(img.subarray(0, 300));
    // Both boot sectors with an impossible sector size.
    const bad = Buffer.from(img);
    bad[108] = 13;
    bad[12 * 512 + 108] = 13;
    no(bad);
    // Cluster heap past the end of what is there.
    no(img.subarray(0, b.heapOffset * 512));
    // exFAT is not FAT, and FAT does not claim exFAT.
    expect(fatDriver.probe(new BufferReader(img))).toBe(false);
  });

  it('survives truncation and bit flips in its metadata without throwing', () => {
    const b = new ExfatImage({ fats: 2, activeFat: 1, label: 'FUZZ' });
    const d = b.addDir(b.root, 'DCIM');
    for (let i = 0; i < 5; i++) b.addFile(d, `IMG_${i}.JPG`, bytes(1500, 40 + i), { noFatChain: i % 2 === 0, deleted: i === 3 });
    const img = b.build();
    const metaEnd = b.offset(60);
    let seed = 99;
    const rand = (n: number) => (seed = (seed * 1103515245 + 12345) >>> 0) % n;
    for (let round = 0; round < 300; round++) {
      const copy = Buffer.from(img.subarray(0, round % 10 === 0 ? rand(img.length) : img.length));
      for (let k = 0; k < 8; k++) {
        const at = rand(metaEnd);
        if (at < copy.length) copy[at] ^= 1 << rand(8);
      }
      const r = new BufferReader(copy);
      if (!exfatDriver.probe(r)) continue;
      const fs = exfatDriver.open(r);
      for (const e of fs.entries) for (const x of e.extents) expect(x.first + x.count - 1).toBeLessThanOrEqual(fs.geometry.clusterCount + 1);
    }
  });
});
