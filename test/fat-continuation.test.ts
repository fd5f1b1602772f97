import { describe, expect, it } from 'vitest';
import { assignContinuations, continuationScore, longNameJoin, mayContinueFolder, startFolder } from '../parsers/fat/continuation.js';
import { parseDirectory, shortNameChecksum } from '../parsers/fat/dirent.js';

const CLUSTER = 512;

/** A 32-byte 8.3 entry ('IMG_0001JPG' form, 11 characters). */
function shortEntry(name11: string, firstCluster: number, size = 1000, attr = 0x20): Buffer {
  const e = Buffer.alloc(32);
  e.write(name11.padEnd(11, ' '), 0, 'latin1');
  e[11] = attr;
  e.writeUInt16LE(firstCluster >>> 16, 20);
  e.writeUInt16LE(firstCluster & 0xffff, 26);
  e.writeUInt32LE(size, 28);
  return e;
}

/** The long-name slots of `name` for the 8.3 name `name11`, in on-disk order (last part first). */
function longEntries(name: string, name11: string): Buffer[] {
  const checksum = shortNameChecksum(Buffer.from(name11.padEnd(11, ' '), 'latin1'));
  const units = [...name].map((c) => c.charCodeAt(0));
  units.push(0);
  while (units.length % 13) units.push(0xffff);
  const parts = units.length / 13;
  const slots: Buffer[] = [];
  for (let p = 0; p < parts; p++) {
    const e = Buffer.alloc(32);
    const ord = p + 1;
    e[0] = ord | (ord === parts ? 0x40 : 0);
    e[11] = 0x0f;
    e[13] = checksum;
    const chars = units.slice(p * 13, p * 13 + 13);
    const at = [1, 3, 5, 7, 9, 14, 16, 18, 20, 22, 24, 28, 30];
    chars.forEach((u, i) => e.writeUInt16LE(u, at[i]));
    slots.push(e);
  }
  return slots.reverse();
}

function cluster(slots: Buffer[]): Buffer {
  const b = Buffer.alloc(CLUSTER);
  Buffer.concat(slots).copy(b, 0, 0, CLUSTER);
  return b;
}

function dotEntries(self: number, parent: number): Buffer[] {
  return [shortEntry('.', self, 0, 0x10), shortEntry('..', parent, 0, 0x10)];
}

/** 16 slots per cluster: `count` camera files numbered from `from`, at rising clusters. */
function cameraFiles(from: number, count: number, firstCluster: number): Buffer[] {
  return Array.from({ length: count }, (_, i) => shortEntry(`IMG_${String(from + i).padStart(4, '0')}JPG`, firstCluster + i * 10));
}

function logFiles(from: number, count: number, firstCluster: number): Buffer[] {
  return Array.from({ length: count }, (_, i) => shortEntry(`LOG_${String(from + i).padStart(4, '0')}TXT`, firstCluster + i * 3));
}

describe('a long name split across two clusters', () => {
  const slots = longEntries('notes from the beach day 01.txt', 'NOTESF~1TXT');
  const entry = shortEntry('NOTESF~1TXT', 900);
  // 13 other entries, then the first two long-name slots: the rest must open the next cluster.
  const before = cluster([...logFiles(1, 14), slots[0], slots[1]]);

  it('joins only the cluster that carries the rest of it, with the same checksum', () => {
    expect(slots.length).toBe(3);
    expect(longNameJoin(before, cluster([slots[2], entry]))).toBe(1);
    expect(longNameJoin(before, cluster(logFiles(15, 4)))).toBe(-1);
    const other = longEntries('another long file name 02.txt', 'ANOTHE~1TXT');
    expect(longNameJoin(before, cluster([other[other.length - 1], shortEntry('ANOTHE~1TXT', 950)]))).toBe(-1);
  });

  it('and a cluster that starts inside a long name follows no cluster that left none open', () => {
    expect(longNameJoin(cluster(logFiles(1, 16)), cluster([slots[2], entry]))).toBe(-1);
    expect(longNameJoin(cluster(logFiles(1, 16)), cluster(logFiles(17, 3)))).toBe(0);
  });

  it('gives the long name back whole once joined', () => {
    const folder = startFolder(40, before);
    assignContinuations([folder], [{ cluster: 90, bytes: cluster([slots[2], entry]) }], (c) => c + 1, 64);
    expect(folder.clusters).toEqual([40, 90]);
    const names = parseDirectory(Buffer.concat(folder.parts), false).entries.map((e) => e.longName ?? e.shortName);
    expect(names).toContain('notes from the beach day 01.txt');
  });
});

describe('two old folders that grew in turns', () => {
  // 100CANON at 4, MISC at 5, then 100CANON's later clusters 6, 7 and MISC's 8, as mtools leaves them.
  const canon = cluster([...dotEntries(4, 0), ...cameraFiles(1, 14, 100)]);
  const misc = cluster([...dotEntries(5, 0), ...logFiles(1, 14, 2000)]);
  const canon2 = cluster(cameraFiles(15, 16, 240));
  const canon3 = cluster(cameraFiles(31, 3, 400));
  const misc2 = cluster(logFiles(15, 5, 2042));

  it('gives every later cluster to the folder whose names it continues, not to the nearest', () => {
    const folders = [startFolder(4, canon), startFolder(5, misc)];
    const nextFree = (c: number) => (c + 1 === 5 ? 6 : c + 1);
    assignContinuations(
      folders,
      [
        { cluster: 6, bytes: canon2 },
        { cluster: 7, bytes: canon3 },
        { cluster: 8, bytes: misc2 },
      ],
      nextFree,
      64,
    );
    expect(folders[0].clusters).toEqual([4, 6, 7]);
    expect(folders[1].clusters).toEqual([5, 8]);
  });

  it('scores a far cluster only on what its entries say', () => {
    const folder = startFolder(4, canon);
    expect(continuationScore(folder, { cluster: 300, bytes: canon2 }, false)).toBeGreaterThanOrEqual(2.5);
    expect(continuationScore(folder, { cluster: 300, bytes: misc2 }, false)).toBeLessThan(1);
    // Next door, plain adjacency is enough when nothing speaks against it (the old rule).
    expect(continuationScore(folder, { cluster: 5, bytes: cluster(logFiles(30, 2, 9000)) }, true)).toBeGreaterThan(0);
  });

  it('stops at a folder cluster that ends the folder', () => {
    const folders = [startFolder(4, canon)];
    assignContinuations(folders, [{ cluster: 6, bytes: canon3 }, { cluster: 7, bytes: canon2 }], (c) => c + 1, 64);
    expect(folders[0].clusters).toEqual([4, 6]);
    expect(folders[0].ended).toBe(true);
  });
});

describe("the scan's cheap test for a folder's later cluster", () => {
  it('passes entries and rejects text, zeros and random bytes', () => {
    expect(mayContinueFolder(cluster(cameraFiles(1, 3, 10)))).toBe(true);
    expect(mayContinueFolder(cluster(longEntries('a long name for a test.txt', 'ALONGN~1TXT')))).toBe(true);
    expect(mayContinueFolder(Buffer.from('2021-06-01 12:00:00 shot 1/125 f/8 ISO 100 battery 78%\r\n'.repeat(10)))).toBe(false);
    expect(mayContinueFolder(Buffer.alloc(CLUSTER))).toBe(false);
    let seed = 7;
    let passed = 0;
    for (let i = 0; i < 20000; i++) {
      const b = Buffer.alloc(64);
      for (let j = 0; j < 64; j++) b[j] = (seed = (seed * 1103515245 + 12345) >>> 0) >>> 24;
      if (mayContinueFolder(b)) passed++;
    }
    expect(passed).toBeLessThan(5);
  });
});
