import zlib from 'node:zlib';
import { describe, expect, it } from 'vitest';
import {
  bootChecksum,
  checkBootIntegrity,
  checkBootSector,
  decodeTimestamp,
  entrySetChecksum,
  nameHash,
  parseBootSector,
  parseEntrySets,
  UpcaseTable,
  upcaseTableChecksum,
} from '../../parsers/exfat/index.js';
import { makeEntrySet, packTimestamp } from './image.js';

/** Entry sets written by exfat-fuse (an independent implementation) on a real volume. */
const REAL_SETS = {
  'IMG_0002.JPG':
    '85026a7620000000731d765d731d765d731d765d000080808000000000000000c003000c4ba70000881300000000000000000000580000008813000000000000c10049004d0047005f0030003000300032002e004a0050004700000000000000',
  unicode:
    '8505475220000000731d765d731d765d731d765d000080808000000000000000c0030039c36000007011010000000000000000005a0000007011010000000000c100dc006e00ef006300f8006400e9002000700068006f0074006f0020007700c100690074006800200061002000760065007200790020006c006f006e006700c10020006e0061006d006500200069006e006400650065006400200032003000c100320034002d00300035002d00300031002e006a0070006700000000000000',
};

/** The 12-sector main boot region mkfs.exfat (exfatprogs 1.2) wrote on an 8 MiB file, gzipped. */
const MKFS_BOOT_REGION =
  'H4sIAAAAAAACA+3YsQnCUBSG0RtExE6sUr7SKUQLnUAhG7iBtSM4h67hKlaZQFLoA0ewkdxz4Cd9PgLh9ufrrttvD6WU+Mnm+2jrFnWrumEWMa3P13M9RBMxnzSX4I8cb96B/uiP/uiP/uiP/oy//5vUfAO5PU73peVd7/7v/w/90R/90R/90R/9GXV/F3D3f/JyA8+9D/knCWUAMAAA';

describe('exFAT checksums', () => {
  it('agrees with the set checksums exfat-fuse wrote', () => {
    for (const hex of Object.values(REAL_SETS)) {
      const set = Buffer.from(hex, 'hex');
      expect(entrySetChecksum(set)).toBe(set.readUInt16LE(2));
    }
  });

  it('checks a deleted set as it was when written (in-use bits set)', () => {
    const set = Buffer.from(REAL_SETS['IMG_0002.JPG'], 'hex');
    for (let o = 0; o < set.length; o += 32) set[o] &= 0x7f;
    expect(entrySetChecksum(set)).toBe(set.readUInt16LE(2));
    expect(entrySetChecksum(set, false)).not.toBe(set.readUInt16LE(2));
  });

  it('agrees with the boot checksum mkfs.exfat wrote, ignoring VolumeFlags and PercentInUse', () => {
    const region = zlib.gunzipSync(Buffer.from(MKFS_BOOT_REGION, 'base64'));
    const bs = parseBootSector(region);
    expect(checkBootSector(bs)).toEqual([]);
    expect(checkBootIntegrity(bs, region)).toEqual([]);
    const sum = bootChecksum(region, 512);
    expect(region.readUInt32LE(11 * 512)).toBe(sum);
    region[106] ^= 1; // VolumeFlags: not covered
    region[112] = 42; // PercentInUse: not covered
    expect(bootChecksum(region, 512)).toBe(sum);
    region[100] ^= 1; // VolumeSerialNumber: covered
    expect(bootChecksum(region, 512)).not.toBe(sum);
    expect(checkBootIntegrity(parseBootSector(region), region).join()).toMatch(/boot checksum/);
  });

  it('computes NameHash over the up-cased name, as exfat-fuse did', () => {
    const set = Buffer.from(REAL_SETS['IMG_0002.JPG'], 'hex');
    expect(nameHash('IMG_0002.JPG')).toBe(set.readUInt16LE(36));
    expect(nameHash('img_0002.jpg')).toBe(set.readUInt16LE(36));
  });

  it('decodes a compressed up-case table and checksums it', () => {
    const words = [0xffff, 0x61, ...Array.from({ length: 26 }, (_, i) => 0x41 + i), 0xffff, 0xfc - 0x7b, 0x00dc];
    const bytes = Buffer.alloc(words.length * 2);
    words.forEach((w, i) => bytes.writeUInt16LE(w, i * 2));
    const t = UpcaseTable.decode(bytes);
    expect(t.upcase(0x61)).toBe(0x41);
    expect(t.upcase(0x7a)).toBe(0x5a);
    expect(t.upcase(0x41)).toBe(0x41);
    expect(t.upcase(0xfc)).toBe(0xdc); // ü, after a run of identities from 0x7B
    expect(t.upcase(0x4e00)).toBe(0x4e00);
    expect(upcaseTableChecksum(Buffer.from([1, 0]))).toBe(0x80000000);
  });
});

describe('exFAT timestamps', () => {
  const ts = packTimestamp({ year: 2024, month: 5, day: 1, hour: 10, minute: 20, second: 30 });

  it('applies a valid positive UTC offset and the 10 ms increment', () => {
    // +02:00 is 8 steps of 15 minutes; 150 × 10 ms = 1.5 s.
    const t = decodeTimestamp(ts, 150, 0x80 | 8)!;
    expect(t.utcKnown).toBe(true);
    expect(t.date.toISOString()).toBe('2024-05-01T08:20:31.500Z');
  });

  it('applies a valid negative UTC offset', () => {
    // −05:30 is −22 steps: a 7-bit two's complement 0x6A.
    const t = decodeTimestamp(ts, 0, 0x80 | (0x80 - 22))!;
    expect(t.date.toISOString()).toBe('2024-05-01T15:50:30.000Z');
  });

  it('reads local time as UTC when the offset is not valid', () => {
    const t = decodeTimestamp(ts, 0, 0x08)!;
    expect(t.utcKnown).toBe(false);
    expect(t.date.toISOString()).toBe('2024-05-01T10:20:30.000Z');
  });

  it('rejects zero and impossible timestamps', () => {
    expect(decodeTimestamp(0)).toBeUndefined();
    expect(decodeTimestamp(packTimestamp({ year: 2024, month: 2, day: 31, hour: 0, minute: 0, second: 0 }))).toBeUndefined();
    expect(decodeTimestamp(packTimestamp({ year: 2024, month: 13, day: 1, hour: 0, minute: 0, second: 0 }))).toBeUndefined();
    expect(decodeTimestamp(packTimestamp({ year: 2024, month: 1, day: 1, hour: 25, minute: 0, second: 0 }))).toBeUndefined();
  });

  it('decodes the times exfat-fuse wrote', () => {
    const set = parseEntrySets(Buffer.from(REAL_SETS['IMG_0002.JPG'], 'hex')).sets[0];
    expect(set.mtime?.toISOString()).toBe('2026-11-22T03:43:38.000Z');
    expect(set.localTime).toBe(false);
  });
});

describe('parseEntrySets', () => {
  it('reads names, sizes, clusters and flags of real sets', () => {
    const buf = Buffer.concat([Buffer.from(REAL_SETS['IMG_0002.JPG'], 'hex'), Buffer.from(REAL_SETS.unicode, 'hex')]);
    const { sets, diagnostics } = parseEntrySets(buf);
    expect(diagnostics).toEqual([]);
    expect(sets.map((s) => s.name)).toEqual(['IMG_0002.JPG', 'Ünïcødé photo with a very long name indeed 2024-05-01.jpg']);
    expect(sets[0]).toMatchObject({ offset: 0, entryCount: 3, dataLength: 5000, firstCluster: 88, noFatChain: true, isDirectory: false, deleted: false, nameHashOk: true });
    expect(sets[1]).toMatchObject({ offset: 96, entryCount: 6, dataLength: 70000, firstCluster: 90 });
    // Non-ASCII names need the volume's up-case table to judge the hash.
    expect(sets[1].nameHashOk).toBeUndefined();
  });

  it('reads a crafted directory set with times and a FAT chain', () => {
    const set = makeEntrySet({
      name: 'DCIM',
      attributes: 0x10,
      firstCluster: 7,
      dataLength: 4096,
      modified: { year: 2023, month: 12, day: 31, hour: 23, minute: 59, second: 59, increment10ms: 50, utcOffset: 0x80 | 4 },
      created: { year: 2023, month: 1, day: 2, hour: 3, minute: 4, second: 6, utcOffset: 0 },
    });
    const s = parseEntrySets(set).sets[0];
    expect(s).toMatchObject({ name: 'DCIM', isDirectory: true, noFatChain: false, firstCluster: 7, dataLength: 4096 });
    expect(s.mtime?.toISOString()).toBe('2023-12-31T22:59:59.500Z');
    expect(s.ctime?.toISOString()).toBe('2023-01-02T03:04:06.000Z');
    expect(s.localTime).toBe(true);
  });

  it('finds deleted sets and marks them', () => {
    const live = makeEntrySet({ name: 'KEEP.JPG', firstCluster: 10, dataLength: 100 });
    const gone = makeEntrySet({ name: 'GONE.JPG', firstCluster: 20, dataLength: 5000, noFatChain: true, deleted: true });
    const { sets } = parseEntrySets(Buffer.concat([live, gone]));
    expect(sets.map((s) => [s.name, s.deleted])).toEqual([
      ['KEEP.JPG', false],
      ['GONE.JPG', true],
    ]);
    expect(sets[1]).toMatchObject({ firstCluster: 20, dataLength: 5000, noFatChain: true });
    expect(parseEntrySets(Buffer.concat([live, gone]), { includeDeleted: false }).sets).toHaveLength(1);
  });

  it('skips a set whose checksum does not match, with one diagnostic, and goes on', () => {
    const bad = makeEntrySet({ name: 'A long name that needs two entries.jpg', firstCluster: 10, dataLength: 100, badChecksum: true });
    const good = makeEntrySet({ name: 'GOOD.JPG', firstCluster: 11, dataLength: 100 });
    const { sets, diagnostics } = parseEntrySets(Buffer.concat([bad, good]), { offsetOf: (o) => 4096 + o });
    expect(sets.map((s) => s.name)).toEqual(['GOOD.JPG']);
    expect(diagnostics).toHaveLength(1);
    expect(diagnostics[0]).toMatchObject({ code: 'exfat.set-checksum', severity: 'warning', offset: 4096 });
  });

  it('skips a deleted set whose tail was reused, quietly', () => {
    const old = makeEntrySet({ name: 'An old deleted file with a long name.jpg', firstCluster: 10, dataLength: 100, deleted: true });
    const fresh = makeEntrySet({ name: 'NEW.JPG', firstCluster: 12, dataLength: 100 });
    const buf = Buffer.concat([old]);
    fresh.copy(buf, 64); // a new set written over the old one's name entries
    const { sets, diagnostics } = parseEntrySets(buf);
    expect(sets.map((s) => [s.name, s.deleted])).toEqual([['NEW.JPG', false]]);
    expect(diagnostics).toEqual([]);
  });

  it('rejects a set whose name does not fit its entries', () => {
    const set = makeEntrySet({ name: 'SHORT.JPG', firstCluster: 5, dataLength: 1 });
    set[32 + 3] = 40; // NameLength 40 needs three File Name entries, there is one
    set.writeUInt16LE(entrySetChecksum(set), 2);
    const { sets, diagnostics } = parseEntrySets(set);
    expect(sets).toEqual([]);
    expect(diagnostics[0].code).toBe('exfat.set-shape');
  });

  it('stops at the end-of-directory entry unless told to look past it', () => {
    const a = makeEntrySet({ name: 'A.JPG', firstCluster: 5, dataLength: 1 });
    const b = makeEntrySet({ name: 'B.JPG', firstCluster: 6, dataLength: 1 });
    const buf = Buffer.concat([a, Buffer.alloc(32), b]);
    expect(parseEntrySets(buf).sets.map((s) => s.name)).toEqual(['A.JPG']);
    expect(parseEntrySets(buf).ended).toBe(true);
    expect(parseEntrySets(buf, { stopAtEnd: false }).sets.map((s) => s.name)).toEqual(['A.JPG', 'B.JPG']);
  });

  it('reads the volume entries of a root directory', () => {
    const label = Buffer.alloc(32);
    label[0] = 0x83;
    label[1] = 6;
    label.write('CAMERA', 2, 'utf16le');
    const bitmap = Buffer.alloc(32);
    bitmap[0] = 0x81;
    bitmap.writeUInt32LE(2, 20);
    bitmap.writeBigUInt64LE(100n, 24);
    const upcase = Buffer.alloc(32);
    upcase[0] = 0x82;
    upcase.writeUInt32LE(0xe619d30d, 4);
    upcase.writeUInt32LE(3, 20);
    upcase.writeBigUInt64LE(5836n, 24);
    const parsed = parseEntrySets(Buffer.concat([label, bitmap, upcase]));
    expect(parsed.label).toBe('CAMERA');
    expect(parsed.bitmaps).toEqual([{ offset: 32, type: 0x81, bitmapFlags: 0, firstCluster: 2, dataLength: 100 }]);
    expect(parsed.upcase).toMatchObject({ firstCluster: 3, dataLength: 5836, tableChecksum: 0xe619d30d });
  });

  it('never throws on random bytes and reports nothing it cannot stand behind', () => {
    let seed = 7;
    const rand = () => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 16) & 0xff;
    for (let round = 0; round < 50; round++) {
      const buf = Buffer.alloc(4096);
      for (let i = 0; i < buf.length; i++) buf[i] = rand();
      // Sprinkle plausible type bytes on slot boundaries.
      for (let o = 0; o < buf.length; o += 32) if (rand() < 64) buf[o] = [0x85, 0x05, 0xc0, 0xc1, 0x40, 0x41][rand() % 6];
      const parsed = parseEntrySets(buf, { stopAtEnd: false });
      for (const s of parsed.sets) expect(entrySetChecksum(buf.subarray(s.offset, s.offset + s.entryCount * 32))).toBe(s.setChecksum);
    }
  });
});
