import { describe, expect, it } from 'vitest';
import { tiffCarver } from '../../carvers/tiff.js';
import { cameraName, readIfd } from '../../carvers/ifd.js';
import { ByteSource } from '../../carvers/bytes.js';
import { BufferReader } from '../../src/reader.js';
import {
  HAVE_SAMPLES,
  ok,
  randomBytes,
  readSample,
  tiffHeader,
  tiffIfd,
  tiffIfdSize,
  walkBuffer,
  type TagSpec,
} from './helpers.js';

// ---- synthetic TIFF raws ------------------------------------------------------------------

interface RawOptions {
  le?: boolean;
  make?: string;
  magic?: number;
  /** Photometric of the raw SubIFD: 32803 (CFA) makes it a raw, 2 (RGB) a plain TIFF. */
  photometric?: number;
  dng?: boolean;
  /** Bytes of the Nikon-style maker note preview, placed after the raw strip. */
  makerPreview?: number;
  /** An extra reference far outside the file (a damaged preview offset). */
  absurdPreview?: boolean;
  /** IFD0's next pointer points back at IFD0. */
  loop?: boolean;
  cr2?: boolean;
}

/**
 * IFD0 (Make, Model, a small strip, SubIFDs, EXIF) → SubIFD (the raw strip) and the EXIF
 * IFD (DateTimeOriginal, a Nikon type-3 maker note with its own TIFF header and a
 * PreviewIFD whose offsets count from that header). The raw strip comes last unless a
 * maker-note preview follows it.
 */
function buildRaw(o: RawOptions = {}): { file: Buffer; rawEnd: number } {
  const le = o.le ?? true;
  const start = o.cr2 ? 16 : 8;
  const ifd0 = (sub: number, exif: number, strip: number): TagSpec[] => [
    { tag: 0x010f, type: 2, value: o.make ?? 'NIKON CORPORATION' },
    { tag: 0x0110, type: 2, value: 'NIKON D1' },
    { tag: 0x0111, type: 4, value: [strip] },
    { tag: 0x0117, type: 4, value: [16] },
    { tag: 0x014a, type: 4, value: [sub] },
    { tag: 0x8769, type: 4, value: [exif] },
    ...(o.dng ? [{ tag: 0xc612, type: 1, value: Buffer.from([1, 4, 0, 0]) }] : []),
    ...(o.absurdPreview ? [{ tag: 0x0201, type: 4, value: [0x7ff00000] }, { tag: 0x0202, type: 4, value: [5000] }] : []),
  ];
  const sub = (strip: number): TagSpec[] => [
    { tag: 0x00fe, type: 4, value: [0] },
    { tag: 0x0106, type: 3, value: [o.photometric ?? 32803] },
    { tag: 0x0111, type: 4, value: [strip] },
    { tag: 0x0117, type: 4, value: [4000] },
  ];
  // Maker note: 'Nikon\0' 02 10 00 00, then a TIFF header; offsets count from that header.
  const makerTags = (previewIfd: number): TagSpec[] => [
    { tag: 0x0001, type: 7, value: Buffer.from('0210') },
    { tag: 0x0011, type: 4, value: [previewIfd] },
  ];
  const previewTags = (at: number): TagSpec[] => [
    { tag: 0x0201, type: 4, value: [at] },
    { tag: 0x0202, type: 4, value: [o.makerPreview ?? 0] },
  ];
  const makerSize = 10 + 8 + tiffIfdSize(le, makerTags(0)) + tiffIfdSize(le, previewTags(0));
  const exifTags = (): TagSpec[] => [
    { tag: 0x9003, type: 2, value: '2004:06:09 16:02:35' },
    { tag: 0x927c, type: 7, value: Buffer.alloc(makerSize) },
  ];

  const ifd0At = start;
  const subAt = ifd0At + tiffIfdSize(le, ifd0(0, 0, 0));
  const exifAt = subAt + tiffIfdSize(le, sub(0));
  const exifSize = tiffIfdSize(le, exifTags());
  const makerAt = exifAt + 2 + 12 * 2 + 4 + 20; // the DateTimeOriginal text (20 bytes) comes first
  const smallStrip = exifAt + exifSize;
  const rawStrip = smallStrip + 16;
  const rawEnd = rawStrip + 4000;
  const makerBase = makerAt + 10;
  const makerIfdRel = 8;
  const previewIfdRel = makerIfdRel + tiffIfdSize(le, makerTags(0));
  const previewRel = rawEnd - makerBase; // the preview data sits after the raw strip

  const maker = Buffer.concat([
    Buffer.from('Nikon\0\x02\x10\0\0', 'latin1'),
    tiffHeader(le, makerIfdRel),
    tiffIfd(le, makerIfdRel, makerTags(previewIfdRel)),
    tiffIfd(le, previewIfdRel, previewTags(previewRel)),
  ]);
  const exif = tiffIfd(le, exifAt, [
    { tag: 0x9003, type: 2, value: '2004:06:09 16:02:35' },
    { tag: 0x927c, type: 7, value: maker },
  ]);
  if (exif.indexOf(maker) !== makerAt - exifAt) throw new Error('maker note layout');

  const head = Buffer.alloc(start);
  tiffHeader(le, ifd0At, o.magic ?? 42).copy(head);
  if (o.cr2) head.write('CR\x02\0', 8, 'latin1');
  const file = Buffer.concat([
    head,
    tiffIfd(le, ifd0At, ifd0(subAt, exifAt, smallStrip), o.loop ? ifd0At : 0),
    tiffIfd(le, subAt, sub(rawStrip)),
    exif,
    Buffer.alloc(16, 0x11),
    randomBytes(4000, 5),
    Buffer.alloc(o.makerPreview ?? 0, 0x22),
  ]);
  return { file, rawEnd };
}

describe('tiff carver: detect', () => {
  it('accepts II*\\0 / MM\\0* and the raw variants, rejects zeros and random bytes', () => {
    expect(tiffCarver.detect(buildRaw().file)).toBe(true);
    expect(tiffCarver.detect(buildRaw({ le: false }).file)).toBe(true);
    expect(tiffCarver.detect(Buffer.from('IIRO\x08\0\0\0', 'latin1'))).toBe(true);
    expect(tiffCarver.detect(Buffer.from('IIU\0\x18\0\0\0', 'latin1'))).toBe(true);
    expect(tiffCarver.detect(Buffer.alloc(64))).toBe(false);
    expect(tiffCarver.detect(Buffer.from('II*\0\0\0\0\0', 'latin1'))).toBe(false);
    for (let seed = 1; seed <= 200; seed++) expect(tiffCarver.detect(randomBytes(64, seed))).toBe(false);
  });
});

describe('tiff carver: walk', () => {
  const tail = randomBytes(8192, 9);

  it.each([true, false])('ends at the last strip, both byte orders (little-endian: %s)', (le) => {
    const { file } = buildRaw({ le });
    const r = ok(walkBuffer(tiffCarver, Buffer.concat([file, tail])));
    expect(r.length).toBe(file.length);
    expect(r).toMatchObject({ format: 'nef', ext: 'nef', meta: { camera: 'NIKON D1', date: '2004-06-09T16:02:35' } });
  });

  it("follows a Nikon maker note's own TIFF header to a preview after the raw data", () => {
    const { file, rawEnd } = buildRaw({ makerPreview: 3000 });
    const r = ok(walkBuffer(tiffCarver, Buffer.concat([file, tail])));
    expect(r.length).toBe(rawEnd + 3000);
    expect(r.length).toBe(file.length);
  });

  it('names the format from the header, DNGVersion, Make and raw photometric', () => {
    const fmt = (o: RawOptions) => ok(walkBuffer(tiffCarver, buildRaw(o).file)).format;
    expect(fmt({ photometric: 2 })).toBe('tif'); // a camera TIFF, not a raw
    expect(fmt({ make: 'SONY' })).toBe('arw');
    expect(fmt({ make: 'PENTAX Corporation' })).toBe('pef');
    expect(fmt({ make: 'Canon', photometric: 2 })).toBe('tif');
    expect(fmt({ dng: true, make: 'Leica Camera AG' })).toBe('dng');
    expect(fmt({ magic: 0x4f52 })).toBe('orf');
    expect(fmt({ magic: 0x55 })).toBe('rw2');
    expect(fmt({ cr2: true, make: 'Canon' })).toBe('cr2');
  });

  it('survives an IFD loop', () => {
    const { file } = buildRaw({ loop: true });
    expect(ok(walkBuffer(tiffCarver, file)).length).toBe(file.length);
  });

  it('ignores an absurdly far reference with a note instead of swallowing what follows', () => {
    const { file } = buildRaw({ absurdPreview: true });
    const r = ok(walkBuffer(tiffCarver, Buffer.concat([file, tail])));
    expect(r.length).toBe(file.length);
    expect(r.notes?.join()).toMatch(/outside the limits were ignored/);
  });

  it('fails when the main image data is cut off, and says how far it is valid', () => {
    const { file } = buildRaw();
    const cut = file.subarray(0, file.length - 1000);
    const r = walkBuffer(tiffCarver, cut);
    expect(r).toMatchObject({ ok: false, reason: expect.stringMatching(/main image/) });
    if (!r.ok) expect(r.validUpTo).toBeLessThanOrEqual(cut.length);
    expect(walkBuffer(tiffCarver, file, { maxLength: file.length - 1 }).ok).toBe(false);
  });

  it('keeps bytes up to the expected size with a note', () => {
    const { file } = buildRaw();
    const padded = Buffer.concat([file, Buffer.alloc(100)]);
    const r = ok(walkBuffer(tiffCarver, padded, { expectedSize: padded.length }));
    expect(r.length).toBe(padded.length);
    expect(r.notes?.join()).toMatch(/100 bytes after the last referenced byte/);
  });

  it('fails without an IFD0 and on a header alone', () => {
    expect(walkBuffer(tiffCarver, Buffer.from('II*\0\x08\0\0\0', 'latin1')).ok).toBe(false);
    expect(walkBuffer(tiffCarver, Buffer.concat([Buffer.from('II*\0\x08\0\0\0', 'latin1'), Buffer.alloc(100)])).ok).toBe(false);
  });
});

// ---- real camera files --------------------------------------------------------------------

/** Complete TIFF-based camera files whose structure ends exactly at the end of the file. */
const EXACT = [
  ['cr2/canon_eos_30d/IMG_5952.CR2', 'cr2', 'Canon EOS 30D'],
  ['gpr/gopro_hero7black/GOPR8513.GPR', 'dng', 'GoPro HERO7 Black'],
  ['structure/NikonD70_exiftool-stripped.NEF', 'nef', 'NIKON D70'],
  ['structure/CanonEOS350D_exiftool-stripped.DNG', 'dng', 'Canon EOS 350D DIGITAL'],
];

describe.skipIf(!HAVE_SAMPLES)('tiff carver: real camera files', () => {
  it.each(EXACT)('%s: exact length followed by random bytes or another file', (rel, format, camera) => {
    const file = readSample(rel);
    expect(tiffCarver.detect(file.subarray(0, 64))).toBe(true);
    const r = ok(walkBuffer(tiffCarver, Buffer.concat([file, randomBytes(65536, file.length)])));
    expect(r).toMatchObject({ length: file.length, format, meta: { camera } });
    const other = readSample(EXACT[(EXACT.findIndex((x) => x[0] === rel) + 1) % EXACT.length][0]);
    expect(ok(walkBuffer(tiffCarver, Buffer.concat([file, other]))).length).toBe(file.length);
    expect(ok(walkBuffer(tiffCarver, file, { expectedSize: file.length })).length).toBe(file.length);
  });

  it('CR2 with 18 bytes of non-TIFF data appended by ExifTool: ends at the last referenced byte', () => {
    // ExifTool's test file ends in "Non-TIFF data test", which no IFD references. Without a
    // directory entry the walk stops before it; with one, the entry's size is kept.
    const file = readSample('structure/CanonEOS350D_exiftool-stripped.CR2');
    expect(file.subarray(file.length - 18).toString('latin1')).toBe('Non-TIFF data test');
    const r = ok(walkBuffer(tiffCarver, Buffer.concat([file, randomBytes(65536, 2)])));
    expect(r).toMatchObject({ length: file.length - 18, format: 'cr2', meta: { camera: 'Canon EOS 350D DIGITAL' } });
    const e = ok(walkBuffer(tiffCarver, file, { maxLength: file.length, expectedSize: file.length }));
    expect(e.length).toBe(file.length);
    expect(e.notes?.join()).toMatch(/18 bytes after the last referenced byte kept/);
  });

  it('RW2 whose strip offset was stripped to 0xFFFFFFFF: the main image is missing, so not ok', () => {
    const file = readSample('structure/PanasonicLX3_exiftool-stripped.RW2');
    expect(tiffCarver.detect(file)).toBe(true);
    expect(walkBuffer(tiffCarver, file)).toMatchObject({ ok: false, reason: expect.stringMatching(/main image/) });
  });

  it.each(['structure/SonyZVE10_truncated-100000.ARW', 'structure/LeicaM10_truncated-100000.DNG'])(
    '%s: truncated real raw fails cleanly',
    (rel) => {
      const file = readSample(rel);
      expect(tiffCarver.detect(file)).toBe(true);
      const r = walkBuffer(tiffCarver, file);
      expect(r.ok).toBe(false);
      if (!r.ok) expect(r.validUpTo ?? 0).toBeLessThanOrEqual(file.length);
    },
  );

  it.each(['cr2/canon_eos_30d/IMG_5952.CR2', 'gpr/gopro_hero7black/GOPR8513.GPR'])('%s: truncated at half fails cleanly', (rel) => {
    const file = readSample(rel);
    const r = walkBuffer(tiffCarver, file.subarray(0, Math.floor(file.length / 2)));
    expect(r).toMatchObject({ ok: false, reason: expect.stringMatching(/main image/) });
  });

  it('Fuji RAF is not TIFF: not detected', () => {
    expect(tiffCarver.detect(readSample('structure/FujiS5Pro_exiftool-stripped.RAF'))).toBe(false);
  });
});

// ---- the IFD reader's shortcuts ----------------------------------------------------------

describe('readIfd asked for some tags only', () => {
  it('judges the IFD whole as before, and lists just the tags asked for', () => {
    for (const le of [true, false]) {
      const tags: TagSpec[] = [
        { tag: 0x010f, type: 2, value: 'Canon' },
        { tag: 0x0110, type: 2, value: 'Canon EOS R5' },
        { tag: 0x0112, type: 3, value: [1] },
        { tag: 0x0132, type: 2, value: '2024:05:01 10:20:30' },
        { tag: 0x8769, type: 4, value: [200] },
      ];
      const buf = Buffer.concat([tiffHeader(le, 8), tiffIfd(le, 8, tags, 0)]);
      const src = new ByteSource(new BufferReader(buf));
      const whole = readIfd(src, 0, 8, le);
      const some = readIfd(src, 0, 8, le, [0x0110, 0x8769, 0x9003]);
      if (typeof whole === 'string' || typeof some === 'string') throw new Error('not read as an IFD');
      expect(some.entries).toEqual(whole.entries.filter((e) => e.tag === 0x0110 || e.tag === 0x8769));
      expect([some.at, some.next, some.end]).toEqual([whole.at, whole.next, whole.end]);
      // Mostly unknown field types: no IFD, whichever tags were asked for (type 0x99 is none).
      const junk = Buffer.concat([tiffHeader(le, 8), tiffIfd(le, 8, tags.map((t, i) => (i < 3 ? { ...t, type: 0x99, value: [0] } : t)), 0)]);
      const junkSrc = new ByteSource(new BufferReader(junk));
      expect(typeof readIfd(junkSrc, 0, 8, le)).toBe('string');
      expect(readIfd(junkSrc, 0, 8, le, [0x8769])).toEqual(readIfd(junkSrc, 0, 8, le));
    }
  });
});

describe('cameraName', () => {
  it('names a camera the same the first time and every time after, whatever came between', () => {
    const pairs: [string, string][] = [
      ['NIKON CORPORATION', 'NIKON D90'],
      ['SONY', 'ILCE-6400'],
      ['OLYMPUS OPTICAL CO.,LTD', 'C3000Z'],
      ['', ''],
      ['Canon', ''],
    ];
    const first = pairs.map(([make, model]) => cameraName(make, model));
    expect(first).toEqual(['NIKON D90', 'SONY ILCE-6400', 'OLYMPUS C3000Z', undefined, 'Canon']);
    for (let round = 0; round < 3; round++) for (const [i, [make, model]] of pairs.entries()) expect(cameraName(make, model)).toBe(first[i]);
  });
});
