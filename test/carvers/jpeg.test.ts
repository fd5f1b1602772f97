import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { jpegCarver } from '../../carvers/jpeg.js';
import { carveRegion, SCAN_CHUNK } from '../../src/carve.js';
import { BufferReader } from '../../src/reader.js';
import { ByteSource } from '../../src/source/source.js';
import { freshOut } from '../support/fixtures.js';
import {
  HAVE_SAMPLES,
  ok,
  randomBytes,
  readSample,
  samples,
  tiffHeader,
  tiffIfd,
  tiffIfdSize,
  u16be,
  u32le,
  walkBuffer,
  type TagSpec,
} from './helpers.js';

// ---- synthetic JPEGs ----------------------------------------------------------------------

const seg = (marker: number, body: Buffer) => Buffer.concat([Buffer.from([0xff, marker]), u16be(body.length + 2), body]);
const SOI = Buffer.from([0xff, 0xd8]);
const EOI = Buffer.from([0xff, 0xd9]);
const DQT = seg(0xdb, Buffer.concat([Buffer.from([0]), Buffer.alloc(64, 1)]));
const DHT = seg(0xc4, Buffer.concat([Buffer.from([0]), Buffer.alloc(16, 0)]));
const sof = (marker: number, w: number, h: number) =>
  seg(marker, Buffer.from([8, h >> 8, h & 255, w >> 8, w & 255, 3, 1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1]));
const SOS = seg(0xda, Buffer.from([3, 1, 0x00, 2, 0x11, 3, 0x11, 0, 63, 0]));
/** Entropy-coded bytes with FF00 stuffing and a restart marker, which must not end the scan. */
const ENTROPY = Buffer.from([0x12, 0xff, 0x00, 0x34, 0xff, 0xd0, 0x56, 0x9a, 0xff, 0x00, 0xff, 0xd7, 0x01]);

function jpeg(opts: { pre?: Buffer[]; w?: number; h?: number; progressive?: boolean } = {}): Buffer {
  const parts = [SOI, ...(opts.pre ?? []), DQT, sof(opts.progressive ? 0xc2 : 0xc0, opts.w ?? 64, opts.h ?? 48), DHT, SOS, ENTROPY];
  if (opts.progressive) parts.push(DHT, SOS, ENTROPY, Buffer.from([0xff, 0xff]) /* fill */, DHT, SOS, ENTROPY);
  return Buffer.concat([...parts, EOI]);
}

/** APP1 Exif whose IFD1 carries a whole thumbnail JPEG (with its own EOI). */
function exifApp1(thumb: Buffer): Buffer {
  const le = true;
  const ifd0 = (exifAt: number): TagSpec[] => [
    { tag: 0x010f, type: 2, value: 'TestMake' },
    { tag: 0x0110, type: 2, value: 'Model 1' },
    { tag: 0x8769, type: 4, value: [exifAt] },
  ];
  const exif: TagSpec[] = [{ tag: 0x9003, type: 2, value: '2021:02:03 04:05:06' }];
  const ifd1 = (thumbAt: number): TagSpec[] => [
    { tag: 0x0201, type: 4, value: [thumbAt] },
    { tag: 0x0202, type: 4, value: [thumb.length] },
  ];
  const exifAt = 8 + tiffIfdSize(le, ifd0(0));
  const ifd1At = exifAt + tiffIfdSize(le, exif);
  const thumbAt = ifd1At + tiffIfdSize(le, ifd1(0));
  const tiff = Buffer.concat([
    tiffHeader(le, 8),
    tiffIfd(le, 8, ifd0(exifAt), ifd1At),
    tiffIfd(le, exifAt, exif),
    tiffIfd(le, ifd1At, ifd1(thumbAt)),
    thumb,
  ]);
  return seg(0xe1, Buffer.concat([Buffer.from('Exif\0\0', 'latin1'), tiff]));
}

/** A primary JPEG with an MPF index listing `second`, placed after `gap`. */
function withMpf(second: Buffer, gap: Buffer, mpType = 0x010001): Buffer {
  const entries = (primarySize: number, off2: number) => {
    const b = Buffer.alloc(32);
    b.writeUInt32BE(0x20030000, 0);
    b.writeUInt32BE(primarySize, 4);
    b.writeUInt32BE(mpType, 16);
    b.writeUInt32BE(second.length, 20);
    b.writeUInt32BE(off2, 24);
    return b;
  };
  const app2 = (p: number, o: number) =>
    seg(
      0xe2,
      Buffer.concat([
        Buffer.from('MPF\0', 'latin1'),
        tiffHeader(false, 8),
        tiffIfd(false, 8, [
          { tag: 0xb000, type: 7, value: Buffer.from('0100') },
          { tag: 0xb001, type: 4, value: [2] },
          { tag: 0xb002, type: 7, value: entries(p, o) },
        ]),
      ]),
    );
  const primaryLen = jpeg({ pre: [app2(0, 0)] }).length;
  const mpfTiffStart = 2 + 4 + 4; // SOI, APP2 marker + length, 'MPF\0'
  const primary = jpeg({ pre: [app2(primaryLen, primaryLen + gap.length - mpfTiffStart)] });
  return Buffer.concat([primary, gap, second]);
}

/** A Samsung SEF trailer: one data block, the SEFH directory pointing back to it, length, 'SEFT'. */
function sefTrailer(data = Buffer.from('1234567890', 'latin1')): Buffer {
  const block = Buffer.concat([Buffer.from([0, 0, 0x01, 0x0a]), u32le(14), Buffer.from('Image_UTC_Data', 'latin1'), data]);
  const dir = Buffer.alloc(24);
  dir.write('SEFH', 0, 'latin1');
  dir.writeUInt32LE(106, 4);
  dir.writeUInt32LE(1, 8);
  dir.writeUInt16LE(0x0a01, 14);
  dir.writeUInt32LE(block.length, 16); // distance back from SEFH to the block
  dir.writeUInt32LE(block.length, 20);
  return Buffer.concat([block, dir, u32le(dir.length), Buffer.from('SEFT', 'latin1')]);
}

describe('jpeg carver: detect', () => {
  it('accepts SOI followed by a marker segment', () => {
    expect(jpegCarver.detect(jpeg())).toBe(true);
    expect(jpegCarver.detect(Buffer.from([0xff, 0xd8, 0xff, 0xe1, 0x12, 0x34]))).toBe(true);
  });
  it('rejects zeros, random bytes and SOI without a segment', () => {
    expect(jpegCarver.detect(Buffer.alloc(64))).toBe(false);
    expect(jpegCarver.detect(Buffer.from([0xff, 0xd8, 0xff, 0x00, 0x00, 0x10]))).toBe(false);
    expect(jpegCarver.detect(Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0x00, 0x01]))).toBe(false);
    for (let seed = 1; seed <= 200; seed++) expect(jpegCarver.detect(randomBytes(64, seed))).toBe(false);
  });
});

describe('jpeg carver: walk', () => {
  const tail = randomBytes(4096, 7);

  it('ends a baseline JPEG at its EOI, not in stuffed or restart bytes', () => {
    const f = jpeg({ w: 640, h: 480 });
    const r = ok(walkBuffer(jpegCarver, Buffer.concat([f, tail])));
    expect(r.length).toBe(f.length);
    expect(r).toMatchObject({ format: 'jpeg', ext: 'jpg', meta: { width: 640, height: 480 } });
  });

  it('skips the EXIF thumbnail by the APP1 length and reads camera and date', () => {
    const f = jpeg({ pre: [exifApp1(jpeg({ w: 160, h: 120 }))] });
    const r = ok(walkBuffer(jpegCarver, Buffer.concat([f, tail])));
    expect(r.length).toBe(f.length);
    expect(r.meta).toMatchObject({ camera: 'TestMake Model 1', date: '2021-02-03T04:05:06', width: 64, height: 48 });
  });

  it('follows every scan of a progressive JPEG, with DHT and fill bytes between', () => {
    const f = jpeg({ progressive: true });
    expect(ok(walkBuffer(jpegCarver, Buffer.concat([f, tail]))).length).toBe(f.length);
  });

  it('extends to the end of the last MPF image', () => {
    const second = jpeg({ w: 16, h: 16 });
    const f = withMpf(second, Buffer.from([0, 0, 0]));
    const r = ok(walkBuffer(jpegCarver, Buffer.concat([f, tail])));
    expect(r.length).toBe(f.length);
    expect(r.format).toBe('jpeg');
    expect(r.notes ?? []).toEqual([]);
  });

  it('calls a multi-frame (disparity) MPF file an MPO', () => {
    const f = withMpf(jpeg(), Buffer.alloc(0), 0x020002);
    expect(ok(walkBuffer(jpegCarver, f))).toMatchObject({ length: f.length, format: 'mpo', ext: 'mpo' });
  });

  it('keeps only the primary image when an MPF image is missing or is not a JPEG', () => {
    const second = jpeg();
    const f = withMpf(second, Buffer.alloc(10));
    const primaryEnd = f.length - second.length - 10;
    const cut = ok(walkBuffer(jpegCarver, f.subarray(0, f.length - 5)));
    expect(cut.length).toBe(primaryEnd);
    expect(cut.notes?.join()).toMatch(/outside the limits/);
    const broken = Buffer.from(f);
    broken[primaryEnd + 10] = 0;
    const other = ok(walkBuffer(jpegCarver, broken));
    expect(other.length).toBe(primaryEnd);
    expect(other.notes?.join()).toMatch(/does not start with SOI/);
  });

  it('keeps a smaller bare JPEG written right after the EOI, but not one after a gap or with an APP header', () => {
    const a = jpeg({ pre: [exifApp1(jpeg())] });
    const b = jpeg({ w: 8, h: 8 });
    expect(ok(walkBuffer(jpegCarver, Buffer.concat([a, b, tail]))).length).toBe(a.length + b.length);
    expect(ok(walkBuffer(jpegCarver, Buffer.concat([a, Buffer.alloc(1), b]))).length).toBe(a.length);
    // The next camera file (it starts with APP0/APP1) is not swallowed even when adjacent.
    expect(ok(walkBuffer(jpegCarver, Buffer.concat([a, a]))).length).toBe(a.length);
  });

  it('keeps a Samsung SEF trailer whose directory points back to the EOI', () => {
    const f = Buffer.concat([jpeg(), sefTrailer()]);
    const r = ok(walkBuffer(jpegCarver, Buffer.concat([f, tail])));
    expect(r.length).toBe(f.length);
    expect(r.notes?.join()).toMatch(/SEF/);
  });

  it("keeps a SEF trailer whose 'SEFT' lies across the end of the scan's chunk", () => {
    // The trailer is searched in what the scan holds (readSome), piece by piece: 'SEFT' split
    // between two pieces must still be found, at the chunk's end and at the end of the 64
    // bytes a chunk holds of the next.
    const photo = jpeg();
    const start = SCAN_CHUNK - 512 * 64;
    for (const seftAt of [SCAN_CHUNK - 3, SCAN_CHUNK - 2, SCAN_CHUNK - 1, SCAN_CHUNK, SCAN_CHUNK + 61, SCAN_CHUNK + 62, SCAN_CHUNK + 63]) {
      const trailer = sefTrailer(Buffer.alloc(seftAt + 4 - start - photo.length - 54, 0x41));
      expect(start + photo.length + trailer.length - 4).toBe(seftAt);
      const card = Buffer.alloc(2 * SCAN_CHUNK);
      Buffer.concat([photo, trailer]).copy(card, start);
      const region = { volume: 0, runs: [{ offset: 0, length: card.length }], granularity: 512, alignBase: 0 };
      const out = carveRegion(new BufferReader(card), region, { carvers: [jpegCarver] });
      expect(out.files.map((f) => [f.runs[0].offset, f.size]), `SEFT at ${seftAt}`).toEqual([[start, photo.length + trailer.length]]);
    }
  });

  it('searches a photo that runs on into the next chunk there, as the reading thread read it', () => {
    // A photo from the end of the first 4 MiB chunk into the last MiB of the second, then a SEF
    // trailer. Its scan data and the trailer are searched piece by piece in what the scan holds
    // (readSome): the second chunk, which the read-ahead thread read. None of it is read again
    // by the scan itself, which the card would pay for twice.
    // 3.5 MiB of scan data with no FF in it (hex digits).
    const entropy = Buffer.from(randomBytes((7 * SCAN_CHUNK) / 16, 7).toString('hex'), 'latin1');
    const photo = Buffer.concat([SOI, DQT, sof(0xc0, 4000, 3000), DHT, SOS, entropy, EOI]);
    const trailer = sefTrailer();
    const start = SCAN_CHUNK - 32768;
    const card = Buffer.alloc(72 * 1024 * 1024);
    Buffer.concat([photo, trailer]).copy(card, start);
    expect(start + photo.length).toBeGreaterThan(2 * SCAN_CHUNK - 1024 * 1024);
    expect(start + photo.length + trailer.length).toBeLessThan(2 * SCAN_CHUNK);
    const image = path.join(freshOut('jpeg-next-chunk'), 'card.img');
    fs.writeFileSync(image, card);
    const region = { volume: 0, runs: [{ offset: 0, length: card.length }], granularity: 32768, alignBase: 0 };
    const readSync = vi.spyOn(fs, 'readSync');
    try {
      const source = ByteSource.open(image);
      expect(source.directFile()).toBeDefined();
      const out = carveRegion(source, region, { carvers: [jpegCarver] });
      source.close();
      expect(out.files.map((f) => [f.runs[0].offset, f.size])).toEqual([[start, photo.length + trailer.length]]);
      const bytesReadHere = readSync.mock.calls.reduce((n, call) => n + Number(call[3] ?? 0), 0);
      expect(bytesReadHere).toBeLessThan(64 * 1024);
    } finally {
      readSync.mockRestore();
    }
  });

  it('reports camera padding to a 32 KiB boundary as a trailer, and keeps it with expectedSize', () => {
    const f = jpeg();
    const padded = Buffer.concat([f, Buffer.alloc(32768 - f.length, 0)]);
    const r = ok(walkBuffer(jpegCarver, Buffer.concat([padded, tail])));
    expect(r.length).toBe(f.length);
    expect(r.trailer).toEqual({ length: 32768 - f.length, kind: 'zero padding to a 32 KiB boundary' });
    const e = ok(walkBuffer(jpegCarver, padded, { expectedSize: padded.length }));
    expect(e.length).toBe(padded.length);
    expect(e.notes?.join()).toMatch(/zero padding/);
    // Random bytes after the EOI are no trailer.
    expect(ok(walkBuffer(jpegCarver, Buffer.concat([f, tail]))).trailer).toBeUndefined();
  });

  it('rejects SOS before SOF, impossible lengths, garbage between segments', () => {
    const noSof = Buffer.concat([SOI, DQT, DHT, SOS, ENTROPY, EOI]);
    expect(walkBuffer(jpegCarver, noSof)).toMatchObject({ ok: false, reason: 'SOS before any SOF' });
    const badLen = Buffer.concat([SOI, Buffer.from([0xff, 0xe1, 0x00, 0x01]), jpeg().subarray(2)]);
    expect(walkBuffer(jpegCarver, badLen)).toMatchObject({ ok: false, reason: expect.stringMatching(/impossible segment length/) });
    const garbage = Buffer.concat([SOI, DQT, Buffer.from([0x12, 0x34]), jpeg().subarray(2)]);
    expect(walkBuffer(jpegCarver, garbage)).toMatchObject({ ok: false, validUpTo: 2 + DQT.length });
    const eoiFirst = Buffer.concat([SOI, DQT, EOI]);
    expect(walkBuffer(jpegCarver, eoiFirst).ok).toBe(false);
  });

  it('fails without an EOI within the limits and says how far it is valid', () => {
    const f = jpeg();
    const cut = f.subarray(0, f.length - 2);
    const r = walkBuffer(jpegCarver, cut);
    expect(r).toMatchObject({ ok: false, validUpTo: cut.length });
    // Zeros after the cut (unwritten space) are not counted as valid data.
    expect(walkBuffer(jpegCarver, Buffer.concat([cut, Buffer.alloc(5000)]))).toMatchObject({ ok: false, validUpTo: cut.length });
    // A limit shorter than the file: the walk must not look past it.
    expect(walkBuffer(jpegCarver, Buffer.concat([f, tail]), { maxLength: f.length - 1 }).ok).toBe(false);
  });

  it('walks from a start offset inside a larger reader', () => {
    const f = jpeg({ pre: [exifApp1(jpeg())] });
    const buf = Buffer.concat([randomBytes(1000, 3), f, tail]);
    expect(ok(walkBuffer(jpegCarver, buf, {}, 1000)).length).toBe(f.length);
  });
});

// ---- real camera files --------------------------------------------------------------------

/**
 * Camera files with bytes after the last image's EOI (see the samples README): the walk
 * ends at the last EOI without expectedSize, and keeps them when the directory entry's
 * size is given. `sonyPadding`: Sony pads every JPEG to 32 KiB, so the walk keeps that
 * padding even without a size (on other cameras the same run is only slack).
 */
const TRAILING: Record<string, { bytes: number; sonyPadding?: boolean; why: string }> = {
  'jpeg/hp_photosmart_433/IM000961.JPG': { bytes: 23, why: 'HP data block after the EOI' },
  'jpeg/hp_photosmart_m425/HPIM0041.JPG': { bytes: 1, why: 'one 0xFF byte' },
  'jpeg/hp_photosmart_m627/HPIM3417.JPG': { bytes: 2, why: 'two 0xFF bytes' },
  'jpeg/htc_one_m8/HTC_One_M8.jpg': { bytes: 1525700, why: "HTC 'htcI' blocks (depth data, a second JPEG)" },
  'jpeg/olympus_c_3000/PA250002.JPG': { bytes: 1, why: 'one 0xFF byte' },
  'jpeg/panasonic_dmc_lx7/Panasonic_Lumix_DMC-LX7.jpg': { bytes: 426, why: '0xFF padding then Panasonic data after the MPF preview' },
  'jpeg/panasonic_pv_sd4090/P1000240.JPG': { bytes: 521, why: 'stale data after the EOI' },
  'jpeg/sony_a6400/DSC00007.JPG': { bytes: 14435, sonyPadding: true, why: 'zero padding to 32 KiB' },
  'jpeg/sony_slt_a55/_DSC3757.JPG': { bytes: 4457, sonyPadding: true, why: '0xFF padding to 32 KiB' },
  'jpeg/sony_slt_a57/_DSC8833.JPG': { bytes: 16757, sonyPadding: true, why: 'zero padding to 32 KiB' },
  'crw/canon_powershot_g2/CRW_0313.THM': { bytes: 1, why: 'one zero byte' },
  'crw/canon_powershot_s40/CRW_0101.THM': { bytes: 1, why: 'one zero byte' },
};

const JPEG_SAMPLES = [
  ...samples('jpeg', /\.jpe?g$/i),
  ...samples('mpo', /\.mpo$/i),
  ...samples('avi', /\.thm$/i),
  ...samples('crw', /\.thm$/i),
];

describe.skipIf(!HAVE_SAMPLES)('jpeg carver: real camera files', () => {
  it('finds the sample files', () => {
    expect(JPEG_SAMPLES.length).toBeGreaterThanOrEqual(72);
  });

  it.each(JPEG_SAMPLES)('%s: exact length when followed by random bytes or by another file', (rel) => {
    const file = readSample(rel);
    const known = TRAILING[rel];
    const structural = file.length - (known && !known.sonyPadding ? known.bytes : 0);
    expect(jpegCarver.detect(file.subarray(0, 64))).toBe(true);

    const r = ok(walkBuffer(jpegCarver, Buffer.concat([file, randomBytes(65536, file.length)])));
    expect(r.length).toBe(structural);
    expect(r.format).toMatch(/^(jpeg|mpo)$/);
    if (known?.sonyPadding) expect(r.notes?.join()).toMatch(/Sony cameras of this line pad/);
    expect(r.trailer).toBeUndefined();
    expect((r.notes ?? []).filter((n) => /ignored/.test(n))).toEqual([]);

    const next = readSample(JPEG_SAMPLES[(JPEG_SAMPLES.indexOf(rel) + 1) % JPEG_SAMPLES.length]);
    expect(ok(walkBuffer(jpegCarver, Buffer.concat([file, next]))).length).toBe(structural);

    // With the directory entry's size (what the validator passes), the whole file.
    const e = ok(walkBuffer(jpegCarver, file, { maxLength: file.length, expectedSize: file.length }));
    expect(e.length).toBe(file.length);
  });

  it.each(JPEG_SAMPLES)('%s: truncated inside the image data fails cleanly', (rel) => {
    const file = readSample(rel);
    const cut = file.subarray(0, Math.floor(file.length * 0.3));
    const r = walkBuffer(jpegCarver, cut);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.validUpTo ?? 0).toBeLessThanOrEqual(cut.length);
  });

  it('reads camera and date from EXIF, and MPF/appended images', () => {
    const rp = ok(walkBuffer(jpegCarver, readSample('jpeg/canon_eos_rp/_MG_0635.JPG')));
    expect(rp.meta).toMatchObject({ camera: 'Canon EOS RP', date: '2020-02-18T08:56:13', width: 3120, height: 2080 });
    const mpo = ok(walkBuffer(jpegCarver, readSample('mpo/nintendo_3ds/frozenpond.mpo')));
    expect(mpo).toMatchObject({ format: 'mpo', ext: 'mpo', meta: { camera: 'Nintendo 3DS' } });
    const s730 = ok(walkBuffer(jpegCarver, readSample('jpeg/samsung_kenox_s730_samsung_s730/Samsung_S730.jpg')));
    expect(s730.notes?.join()).toMatch(/second JPEG/);
    const s7 = ok(walkBuffer(jpegCarver, readSample('jpeg/samsung_sm_g935l/Samsung_SM-G935L_Galaxy_S7_Edge.jpg')));
    expect(s7.notes?.join()).toMatch(/Samsung SEF trailer \(67 bytes\)/);
  });
});

describe.skipIf(!HAVE_SAMPLES)('jpeg carver: Sony padding is kept only for the bodies that write it', () => {
  it('a Sony compact followed by zeroed slack ends at its EOI, the zeros only reported', () => {
    const file = readSample('jpeg/sony_dsc_p5/DSC00002.JPG');
    const slack = Buffer.alloc(32768 - (file.length % 32768), 0);
    const r = ok(walkBuffer(jpegCarver, Buffer.concat([file, slack, randomBytes(4096, 7)])));
    expect(r.length).toBe(file.length);
    expect(r.trailer?.length).toBe(slack.length);
  });
});
