import { describe, expect, it } from 'vitest';
import { decodeFatTime, directoryShape, guessDcfFolderLead, guessLeadFromSiblings, parseDirectory, shortNameChecksum } from '../parsers/fat/dirent.js';
import fs from 'node:fs';
import { FatTable } from '../parsers/fat/table.js';
import { BufferReader } from '../src/reader.js';
import { runPipeline } from '../src/pipeline.js';
import { fixtureImage, noise, sha256 } from './support/fixtures.js';
import { seededRandom } from './support/random.js';

function shortEntry(name11: string, opts: { attr?: number; cluster?: number; size?: number; deleted?: boolean; nt?: number } = {}): Buffer {
  const e = Buffer.alloc(32);
  e.write(name11, 0, 'latin1');
  if (opts.deleted) e[0] = 0xe5;
  e[11] = opts.attr ?? 0x20;
  e[12] = opts.nt ?? 0;
  e.writeUInt16LE((opts.cluster ?? 0) >>> 16, 20);
  e.writeUInt16LE((opts.cluster ?? 0) & 0xffff, 26);
  e.writeUInt32LE(opts.size ?? 0, 28);
  // 2024-05-01 10:20:30
  e.writeUInt16LE(((2024 - 1980) << 9) | (5 << 5) | 1, 24);
  e.writeUInt16LE((10 << 11) | (20 << 5) | 15, 22);
  return e;
}

function lfnEntries(longName: string, name11: string, deleted = false): Buffer[] {
  const sum = shortNameChecksum(Buffer.from(name11, 'latin1'));
  const chars = [...longName].map((c) => c.charCodeAt(0));
  chars.push(0);
  while (chars.length % 13) chars.push(0xffff);
  const count = chars.length / 13;
  const out: Buffer[] = [];
  for (let ord = count; ord >= 1; ord--) {
    const e = Buffer.alloc(32);
    e[0] = deleted ? 0xe5 : ord | (ord === count ? 0x40 : 0);
    e[11] = 0x0f;
    e[13] = sum;
    const part = chars.slice((ord - 1) * 13, ord * 13);
    const slots = [1, 3, 5, 7, 9, 14, 16, 18, 20, 22, 24, 28, 30];
    part.forEach((ch, i) => e.writeUInt16LE(ch, slots[i]));
    out.push(e);
  }
  return out;
}

describe('FAT directory entries', () => {
  it('computes the LFN checksum of a short name', () => {
    // Value given by the FAT specification's algorithm for "FILENAMEEXT"... checked by round trip below.
    const a = shortNameChecksum(Buffer.from('IMG_0001JPG', 'latin1'));
    const b = shortNameChecksum(Buffer.from('IMG_0002JPG', 'latin1'));
    expect(a).not.toBe(b);
    expect(a).toBeGreaterThanOrEqual(0);
    expect(a).toBeLessThan(256);
  });

  it('joins long names whose checksum matches, and ignores ones that do not', () => {
    const good = [...lfnEntries('Sunset over the bay.jpg', 'SUNSET~1JPG'), shortEntry('SUNSET~1JPG', { cluster: 5, size: 10 })];
    const bad = [...lfnEntries('Wrong name.jpg', 'OTHER~1 JPG'), shortEntry('SUNSET~2JPG', { cluster: 6, size: 10 })];
    const parsed = parseDirectory(Buffer.concat([...good, ...bad]), false);
    expect(parsed.entries.map((e) => e.longName ?? e.shortName)).toEqual(['Sunset over the bay.jpg', 'SUNSET~2.JPG']);
  });

  it('applies the lower-case flags of 8.3 names', () => {
    const parsed = parseDirectory(shortEntry('NOTES   TXT', { nt: 0x18 }), false);
    expect(parsed.entries[0].shortName).toBe('notes.txt');
  });

  it('recovers the lost first letter of a deleted short name from its long name checksum', () => {
    const entries = [...lfnEntries('Holiday photo.jpg', 'HOLIDA~1JPG', true), shortEntry('HOLIDA~1JPG', { deleted: true, cluster: 9, size: 100 })];
    const parsed = parseDirectory(Buffer.concat(entries), false);
    expect(parsed.entries[0].deleted).toBe(true);
    expect(parsed.entries[0].shortName).toBe('HOLIDA~1.JPG');
    expect(parsed.entries[0].longName).toBe('Holiday photo.jpg');
  });

  it('reads a Kanji lead byte (0x05 for 0xE5), names without an extension and the dot entries, and leaves the bytes it parses as they were', () => {
    const kanji = shortEntry('\u0005BC     JPG', { cluster: 3, size: 1 });
    const slots = Buffer.concat([
      shortEntry('.          ', { attr: 0x10 }),
      shortEntry('..         ', { attr: 0x10 }),
      kanji,
      shortEntry('README     ', { cluster: 4, size: 1 }),
      shortEntry('.A      TXT', { cluster: 5, size: 1 }),
      // A deleted entry whose first letter comes back from the long name's checksum.
      ...lfnEntries('Beach.jpg', 'BEACH   JPG', true),
      shortEntry('BEACH   JPG', { deleted: true, cluster: 6, size: 1 }),
    ]);
    const before = Buffer.from(slots);
    const parsed = parseDirectory(slots, false);
    expect(parsed.entries.map((e) => [e.shortName, e.isDot, e.deleted])).toEqual([
      ['.', true, false],
      ['..', true, false],
      ['\u00e5BC.JPG', false, false],
      ['README', false, false],
      ['.A.TXT', false, false],
      ['BEACH.JPG', false, true],
    ]);
    expect(parsed.entries[5].longName).toBe('Beach.jpg');
    // The names that change (the Kanji byte, the recovered letter) are copies: a view would
    // have written into the caller's buffer, which during a scan is the card's bytes.
    expect(slots.equals(before)).toBe(true);
  });

  it('keeps the FAT32 high word of the first cluster', () => {
    const parsed = parseDirectory(shortEntry('IMG_0001JPG', { cluster: 0x12345, size: 1 }), true);
    expect(parsed.entries[0].firstCluster).toBe(0x12345);
    expect(parseDirectory(shortEntry('IMG_0001JPG', { cluster: 0x12345, size: 1 }), false).entries[0].firstCluster).toBe(0x2345);
  });

  it('stops at the end-of-directory marker', () => {
    const parsed = parseDirectory(Buffer.concat([shortEntry('A       TXT'), Buffer.alloc(32), shortEntry('B       TXT')]), false);
    expect(parsed.ended).toBe(true);
    expect(parsed.entries).toHaveLength(1);
  });

  it('decodes FAT times and rejects impossible ones', () => {
    const d = decodeFatTime(((2024 - 1980) << 9) | (5 << 5) | 1, (10 << 11) | (20 << 5) | 15, 150);
    expect(d?.toISOString()).toBe('2024-05-01T10:20:31.500Z');
    expect(decodeFatTime(0, 0)).toBeUndefined();
    expect(decodeFatTime(((2024 - 1980) << 9) | (13 << 5) | 1, 0)).toBeUndefined();
  });

  it('guesses the lost first letter from DCF sibling names only when unambiguous', () => {
    expect(guessLeadFromSiblings('?MG_0003.JPG', ['IMG_0001.JPG', 'IMG_0002.JPG'])).toBe('I');
    expect(guessLeadFromSiblings('?SC_0042.NEF', ['DSC_0041.NEF', 'DSC_0043.NEF'])).toBe('D');
    expect(guessLeadFromSiblings('?MG_0003.JPG', ['IMG_0001.JPG', 'XMG_0002.JPG'])).toBeUndefined();
    // Same prefix, another extension: a Canon's raw and JPEG files share it.
    expect(guessLeadFromSiblings('?MG_0003.JPG', ['IMG_0001.CR3'])).toBe('I');
    expect(guessLeadFromSiblings('?MG_0003.JPG', ['IMG_0001.CR3', 'XMG_0002.CR3'])).toBeUndefined();
    // No sibling with that prefix at all (every movie was deleted): the camera naming tells.
    expect(guessLeadFromSiblings('?VI_0017.MOV', ['IMG_5001.JPG', '?VI_0023.MP4'])).toBe('M');
    expect(guessLeadFromSiblings('?SCF0042.RAF', [])).toBe('D');
    expect(guessLeadFromSiblings('?Q_A0001.BIN', [])).toBeUndefined();
  });

  it('guesses the lost first digit of a deleted DCF folder from its sibling folders, else from DCF numbering', () => {
    expect(guessDcfFolderLead('?01CANON', ['100CANON', '102CANON', 'MISC'])).toEqual({ lead: '1', from: 'siblings' });
    expect(guessDcfFolderLead('?05NIKON', ['204NIKON', '206NIKON'])).toEqual({ lead: '2', from: 'siblings' });
    // Sibling folders of another camera say nothing; DCF numbers start at 100.
    expect(guessDcfFolderLead('?00TEST_', ['235CANON'])).toEqual({ lead: '1', from: 'numbering' });
    expect(guessDcfFolderLead('?00TEST_', [])).toEqual({ lead: '1', from: 'numbering' });
    expect(guessDcfFolderLead('?00TEST', ['101TEST'])).toEqual({ lead: '1', from: 'siblings' });
    // Siblings that disagree: no guess.
    expect(guessDcfFolderLead('?03CANON', ['100CANON', '204CANON'])).toBeUndefined();
    // Not a DCF folder name.
    expect(guessDcfFolderLead('?ISC', [])).toBeUndefined();
    expect(guessDcfFolderLead('?X0CANON', [])).toBeUndefined();
  });
});

describe('FAT tables', () => {
  it('reading a card in memory leaves its bytes as they were (the FAT is decoded in a buffer of its own)', () => {
    for (const name of ['fat32-mbr', 'quickformat-fat32', 'fat16-mbr']) {
      const card = fs.readFileSync(fixtureImage(name));
      const before = sha256(card);
      const { files } = runPipeline(new BufferReader(card));
      expect(files.length, name).toBeGreaterThan(0);
      expect(sha256(card), name).toBe(before);
    }
  });

  it('decodes a FAT32 where it lies as it does into fresh memory: 28 bits, end and bad markers', () => {
    const n = 5000;
    const raw = Buffer.alloc((n + 2) * 4 + 64);
    for (let c = 0; c < n + 2; c++) {
      // Chains, free entries, end markers (0x0ffffff8-f), bad (0x0ffffff7), and the reserved top 4 bits set.
      const kind = (c * 2654435761) >>> 29;
      const v = kind === 0 ? 0 : kind === 1 ? 0x0ffffff8 + (c % 8) : kind === 2 ? 0x0ffffff7 : kind === 3 ? 0xf0000000 | (c + 1) : (c * 7) % (n + 2);
      raw.writeUInt32LE(v >>> 0, c * 4);
    }
    const copied = FatTable.decode(raw, 'FAT32', n);
    const inPlace = FatTable.decode(Buffer.from(raw), 'FAT32', n, true);
    expect(Array.from(inPlace.entries)).toEqual(Array.from(copied.entries));
    expect(inPlace.entries.length).toBe(n + 2);
    expect(copied.entries.some((v) => v === FatTable.EOC) && copied.entries.some((v) => v === FatTable.BAD)).toBe(true);
    // Where it cannot (a FAT shorter than its clusters), it still decodes into fresh memory.
    const short = FatTable.decode(raw.subarray(0, 400), 'FAT32', n, true);
    expect(short.entries.length).toBe(n + 2);
    expect(Array.from(short.entries.subarray(0, 100))).toEqual(Array.from(copied.entries.subarray(0, 100)));
    expect(short.entries[200]).toBe(0);
  });

  it('decodes long free stretches (skipped a block at a time) with the entries around them, as one entry at a time would', () => {
    const n = 9000;
    const raw = Buffer.alloc((n + 2) * 4);
    // Entries at and next to the 1024-entry blocks' edges (some right after a free block) and
    // in one busy stretch; the rest free.
    const set = (c: number, v: number) => raw.writeUInt32LE(v >>> 0, c * 4);
    for (const c of [1024, 2047, 2048, 3072, 6143, 6144, 6145, 8192]) set(c, c % 3 ? 0xf0000000 | (c + 1) : 0x0ffffff8 + (c & 7));
    for (let c = 5000; c < 5300; c++) set(c, c % 17 ? c + 1 : 0x0ffffff7);
    set(n + 1, 0x0fffffff);
    const definition = Array.from({ length: n + 2 }, (_, c) => {
      const v = raw.readUInt32LE(c * 4) & 0x0fffffff;
      return v > 0x0ffffff7 ? FatTable.EOC : v;
    });
    expect(Array.from(FatTable.decode(raw, 'FAT32', n).entries)).toEqual(definition);
    expect(Array.from(FatTable.decode(Buffer.from(raw), 'FAT32', n, true).entries)).toEqual(definition);
  });
});

describe('directoryShape', () => {
  const shapeOf = (buf: Buffer) => {
    const parsed = parseDirectory(buf, false);
    return { entries: parsed.entries.length, ended: parsed.ended, implausible: parsed.implausible };
  };

  it('counts what parseDirectory returns, on every cluster of real cards', () => {
    let clusters = 0;
    let withEntries = 0;
    for (const name of ['fat16-mbr', 'fat32-mbr', 'quickformat-fat16', 'quickformat-interleaved', 'demo-card']) {
      const img = fs.readFileSync(fixtureImage(name));
      for (let off = 0; off + 2048 <= img.length; off += 2048) {
        const cluster = img.subarray(off, off + 2048);
        const shape = directoryShape(cluster);
        expect(shape, `${name} at ${off}`).toEqual(shapeOf(cluster));
        clusters++;
        if (shape.entries > 0 && shape.implausible === 0) withEntries++;
      }
    }
    expect(clusters).toBeGreaterThan(5000);
    expect(withEntries).toBeGreaterThan(10);
  });

  it('and on slots of every kind in random order', () => {
    const random = seededRandom(77);
    const kinds = [
      () => shortEntry('IMG_0001JPG'),
      () => shortEntry('IMG_0002JPG', { deleted: true }),
      () => shortEntry('CARD       ', { attr: 0x08 }),
      () => shortEntry('DCIM       ', { attr: 0x18 }),
      () => shortEntry('BAD*NAME   '),
      () => shortEntry('HIGHATTR   ', { attr: 0xc0 }),
      () => Buffer.from(noise(32, random(1000))),
      () => Object.assign(Buffer.alloc(32, 0x41), { [11]: 0x0f }),
      () => Buffer.alloc(32),
    ];
    for (let round = 0; round < 500; round++) {
      const buf = Buffer.concat(Array.from({ length: 1 + random(64) }, () => kinds[random(kinds.length)]()));
      expect(directoryShape(buf), `round ${round}`).toEqual(shapeOf(buf));
    }
  });
});
