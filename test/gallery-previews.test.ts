import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { beforeAll, describe, expect, it } from 'vitest';
import { checkJpeg, findPreview, type PreviewOptions, type PreviewResult } from '../carvers/previews.js';
import { BufferReader, type Reader } from '../src/reader.js';
import { FileReader, withFile } from '../src/gallery/file-reader.js';
import { SAMPLES, freshOut } from './support/fixtures.js';
import { bitFlipped, randomBytes, tiffHeader, tiffIfd, tiffIfdSize, type TagSpec } from './carvers/helpers.js';
import { recoveredDemo } from './gallery-helpers.js';

const HAVE_SAMPLES = fs.existsSync(SAMPLES);

/** A Reader that counts what is read. */
class CountingReader implements Reader {
  bytesRead = 0;
  constructor(private readonly inner: Reader) {}
  get size() {
    return this.inner.size;
  }
  read(offset: number, length: number): Buffer {
    const b = this.inner.read(offset, length);
    this.bytesRead += b.length;
    return b;
  }
}

/** `head` followed by zeros up to `size` bytes, without holding them. */
class SparseReader implements Reader {
  constructor(
    private readonly head: Buffer,
    readonly size: number,
  ) {}
  read(offset: number, length: number): Buffer {
    const n = Math.max(0, Math.min(length, this.size - offset));
    const out = Buffer.alloc(n);
    if (offset < this.head.length) this.head.copy(out, 0, offset, Math.min(this.head.length, offset + n));
    return out;
  }
}

const previewOf = (buf: Buffer, options?: PreviewOptions): PreviewResult => findPreview(new BufferReader(buf), options);
const sample = (rel: string) => path.join(SAMPLES, rel);
const fromFile = (p: string, options?: PreviewOptions) => withFile(p, (r) => findPreview(r, options));

// ---- building blocks: small real JPEGs from the demo card (always there) ------------------

let thumb160: Buffer; // an EXIF thumbnail, 160x120
let jpeg320: Buffer; // a whole small JPEG with an EXIF thumbnail, 320 wide
let plainJpeg: Buffer; // a JPEG without an EXIF thumbnail
let bigJpeg: Buffer; // > 60 KiB, with an EXIF thumbnail

beforeAll(() => {
  const { out } = recoveredDemo();
  const read = (p: string) => fs.readFileSync(path.join(out, p));
  jpeg320 = read('DCIM/100CANON/IMG_0008.JPG');
  plainJpeg = read('DCIM/100CANON/IMG_0004.JPG');
  bigJpeg = read('deleted/DCIM/100CANON/IMG_0003.JPG');
  const t = previewOf(read('DCIM/100CANON/IMG_0001.JPG')).preview!;
  thumb160 = t.data;
});

describe('JPEG', () => {
  it('takes the EXIF thumbnail (IFD1 JPEGInterchangeFormat) from APP1', () => {
    const r = previewOf(jpeg320);
    expect(r.container).toBe('jpeg');
    expect(r.preview).toMatchObject({ from: 'exif-thumbnail', mime: 'image/jpeg', width: 160, height: 120 });
    expect(r.preview!.data.subarray(0, 2).toString('hex')).toBe('ffd8');
    expect(r.preview!.data.subarray(-2).toString('hex')).toBe('ffd9');
    expect(jpeg320.subarray(r.preview!.offset, r.preview!.offset + r.preview!.data.length).equals(r.preview!.data)).toBe(true);
    expect(r.meta.camera).toBe('Canon EOS 5D Mark III');
  });

  it('uses a small JPEG without a thumbnail as it is, a large one not at all', () => {
    const small = previewOf(plainJpeg);
    expect(small.preview).toMatchObject({ from: 'file', offset: 0 });
    expect(small.preview!.data.equals(plainJpeg)).toBe(true);
    const large = previewOf(plainJpeg, { wholeFileMax: 10_000 });
    expect(large.preview).toBeUndefined();
    expect(large.reason).toMatch(/too large/);
  });

  it('reads only the header and the thumbnail of a huge file', () => {
    // A "2 GiB JPEG": the demo file's first 16 KiB (APP1 with its thumbnail), then zeros.
    const reader = new CountingReader(new SparseReader(jpeg320.subarray(0, 16 * 1024), 2 ** 31));
    const r = findPreview(reader);
    expect(r.preview?.from).toBe('exif-thumbnail');
    expect(reader.bytesRead).toBeLessThan(256 * 1024);
  });

  it('refuses what a browser cannot decode (lossless SOF3) and damaged thumbnails', () => {
    const lossless = Buffer.from(thumb160);
    const sof = lossless.indexOf(Buffer.from([0xff, 0xc0]));
    lossless[sof + 1] = 0xc3;
    expect(checkJpeg(lossless)).toMatch(/do not decode/);
    expect(checkJpeg(thumb160.subarray(0, thumb160.length - 200))).toMatch(/damaged/);
    expect(typeof checkJpeg(thumb160)).toBe('object');
  });
});

// ---- TIFF raws ----------------------------------------------------------------------------

/** A TIFF whose IFD chain (and optional SubIFD) reference the given JPEGs. */
function buildTiff(opts: { ifd0Strip?: Buffer; ifd1Thumb?: Buffer; subJpeg?: Buffer; orientation?: number; le?: boolean }): Buffer {
  const le = opts.le ?? true;
  const blobs = [opts.ifd0Strip, opts.ifd1Thumb, opts.subJpeg];
  const tags0 = (at: number[], sub?: number): TagSpec[] => [
    { tag: 0x010f, type: 2, value: 'NIKON CORPORATION' },
    { tag: 0x0110, type: 2, value: 'NIKON D90' },
    { tag: 0x0112, type: 3, value: [opts.orientation ?? 1] },
    ...(opts.ifd0Strip
      ? [
          { tag: 0x0103, type: 3, value: [6] },
          { tag: 0x0111, type: 4, value: [at[0]] },
          { tag: 0x0117, type: 4, value: [opts.ifd0Strip.length] },
        ]
      : [{ tag: 0x0103, type: 3, value: [1] }]),
    ...(sub !== undefined ? [{ tag: 0x014a, type: 4, value: [sub] }] : []),
  ];
  const tags1 = (at: number[]): TagSpec[] => [
    { tag: 0x0103, type: 3, value: [6] },
    { tag: 0x0201, type: 4, value: [at[1]] },
    { tag: 0x0202, type: 4, value: [opts.ifd1Thumb?.length ?? 0] },
  ];
  const tagsSub = (at: number[]): TagSpec[] => [
    { tag: 0x00fe, type: 4, value: [1] },
    { tag: 0x0103, type: 3, value: [7] },
    { tag: 0x0111, type: 4, value: [at[2]] },
    { tag: 0x0117, type: 4, value: [opts.subJpeg?.length ?? 0] },
  ];
  const dummy = [0, 0, 0];
  const size0 = tiffIfdSize(le, tags0(dummy, opts.subJpeg ? 0 : undefined));
  const size1 = opts.ifd1Thumb ? tiffIfdSize(le, tags1(dummy)) : 0;
  const sizeSub = opts.subJpeg ? tiffIfdSize(le, tagsSub(dummy)) : 0;
  const ifd1At = 8 + size0;
  const subAt = ifd1At + size1;
  let p = subAt + sizeSub;
  const at = blobs.map((b) => {
    const here = p;
    p += b?.length ?? 0;
    return here;
  });
  return Buffer.concat([
    tiffHeader(le, 8),
    tiffIfd(le, 8, tags0(at, opts.subJpeg ? subAt : undefined), opts.ifd1Thumb ? ifd1At : 0),
    opts.ifd1Thumb ? tiffIfd(le, ifd1At, tags1(at)) : Buffer.alloc(0),
    opts.subJpeg ? tiffIfd(le, subAt, tagsSub(at)) : Buffer.alloc(0),
    ...blobs.map((b) => b ?? Buffer.alloc(0)),
  ]);
}

describe('TIFF raws', () => {
  it('skips a preview over the cap for the IFD1 thumbnail, and keeps the orientation', () => {
    const r = previewOf(buildTiff({ ifd0Strip: bigJpeg, ifd1Thumb: thumb160, orientation: 6 }));
    expect(bigJpeg.length).toBeGreaterThan(60 * 1024);
    expect(r.container).toBe('tiff');
    expect(r.preview).toMatchObject({ from: 'ifd1', width: 160 });
    expect(r.meta).toMatchObject({ camera: 'NIKON D90', orientation: 6 });
  });

  it('chooses the smallest JPEG at least 160 wide; else the widest', () => {
    const file = buildTiff({ ifd0Strip: jpeg320, ifd1Thumb: thumb160, le: false });
    expect(previewOf(file).preview).toMatchObject({ from: 'ifd1', width: 160 });
    expect(previewOf(file, { minWidth: 200 }).preview).toMatchObject({ from: 'ifd0-strip', width: 320 });
    expect(previewOf(file, { minWidth: 2000 }).preview).toMatchObject({ from: 'ifd0-strip', width: 320 });
  });

  it('finds a DNG-style SubIFD preview (NewSubfileType 1, Compression 7 strip)', () => {
    expect(previewOf(buildTiff({ subJpeg: thumb160 })).preview).toMatchObject({ from: 'subifd0-strip', width: 160 });
  });

  it('takes the EXIF thumbnail inside a preview too large to embed', () => {
    const r = previewOf(buildTiff({ ifd0Strip: bigJpeg }));
    expect(r.preview?.from).toBe('ifd0-strip-exif-thumbnail');
    expect(r.preview?.width).toBe(160);
  });

  it('gives a placeholder reason when the only preview is large', () => {
    const r = previewOf(buildTiff({ ifd0Strip: plainJpeg }), { maxBytes: 20_000 });
    expect(r.preview).toBeUndefined();
    expect(r.reason).toMatch(/ifd0-strip is \d+ KiB \(more than 20 KiB\)/);
  });

  it('refuses a preview reference outside the file', () => {
    const file = buildTiff({ ifd1Thumb: thumb160 });
    const r = previewOf(file.subarray(0, file.length - 100));
    expect(r.preview).toBeUndefined();
    expect(r.reason).toMatch(/outside the file/);
  });
});

// ---- CR3 ----------------------------------------------------------------------------------

function box(type: string, ...parts: Buffer[]): Buffer {
  const body = Buffer.concat(parts);
  const h = Buffer.alloc(8);
  h.writeUInt32BE(8 + body.length);
  h.write(type, 4, 'latin1');
  return Buffer.concat([h, body]);
}

/** THMB / PRVW: header (width, height, JPEG size), the JPEG at byte 24 of the box. */
function canonJpeg(type: 'THMB' | 'PRVW', jpeg: Buffer, width: number, height: number): Buffer {
  const h = Buffer.alloc(16);
  if (type === 'THMB') {
    h.writeUInt16BE(width, 4);
    h.writeUInt16BE(height, 6);
    h.writeUInt32BE(jpeg.length, 8);
    h.writeUInt16BE(1, 12);
  } else {
    h.writeUInt16BE(1, 4);
    h.writeUInt16BE(width, 6);
    h.writeUInt16BE(height, 8);
    h.writeUInt16BE(1, 10);
    h.writeUInt32BE(jpeg.length, 12);
  }
  return box(type, h, jpeg);
}

function buildCr3(opts: { thmb?: Buffer; prvw?: Buffer }): Buffer {
  const ftyp = box('ftyp', Buffer.from('crx \0\0\0\x01crx isom', 'latin1'));
  const canon = box('uuid', Buffer.from('85c0b687820f11e08111f4ce462b6a48', 'hex'), ...(opts.thmb ? [opts.thmb] : []));
  const moov = box('moov', canon);
  const prvw = opts.prvw ? box('uuid', Buffer.from('eaf42b5e1c984b88b9fbb7dc406e4d16', 'hex'), Buffer.from('0000000000000001', 'hex'), opts.prvw) : Buffer.alloc(0);
  return Buffer.concat([ftyp, moov, prvw, box('mdat', Buffer.alloc(64))]);
}

describe('CR3', () => {
  it('prefers THMB (moov/uuid Canon) to PRVW', () => {
    const r = previewOf(buildCr3({ thmb: canonJpeg('THMB', thumb160, 160, 120), prvw: canonJpeg('PRVW', jpeg320, 320, 240) }));
    expect(r.container).toBe('cr3');
    expect(r.preview).toMatchObject({ from: 'cr3-thmb', width: 160, height: 120 });
    expect(r.preview!.data.equals(thumb160)).toBe(true);
  });

  it('falls back on PRVW when THMB is missing or damaged', () => {
    expect(previewOf(buildCr3({ prvw: canonJpeg('PRVW', jpeg320, 320, 240) })).preview?.from).toBe('cr3-prvw');
    const junk = canonJpeg('THMB', Buffer.from('<Dummy thumbnail image>\0'), 160, 120);
    expect(previewOf(buildCr3({ thmb: junk, prvw: canonJpeg('PRVW', jpeg320, 320, 240) })).preview?.from).toBe('cr3-prvw');
    const none = previewOf(buildCr3({ thmb: junk }));
    expect(none.preview).toBeUndefined();
    expect(none.reason).toMatch(/cr3-thmb/);
  });

  it('says why for HEIF and video', () => {
    const heic = Buffer.concat([box('ftyp', Buffer.from('heic\0\0\0\0mif1heic', 'latin1')), box('meta', Buffer.alloc(8))]);
    expect(previewOf(heic)).toMatchObject({ container: 'heif', reason: expect.stringMatching(/HEIF/) });
    expect(previewOf(heic).preview).toBeUndefined();
    const mp4 = Buffer.concat([box('ftyp', Buffer.from('isom\0\0\0\0isomavc1', 'latin1')), box('moov', Buffer.alloc(8))]);
    expect(previewOf(mp4)).toMatchObject({ container: 'bmff', reason: expect.stringMatching(/video/) });
    expect(previewOf(mp4).preview).toBeUndefined();
  });
});

describe('hostile bytes', () => {
  it('never throws on random, truncated or bit-flipped files', () => {
    const inputs: Buffer[] = [];
    const bases = [jpeg320, buildTiff({ ifd0Strip: jpeg320, ifd1Thumb: thumb160 }), buildCr3({ thmb: canonJpeg('THMB', thumb160, 160, 120) })];
    for (const [k, b] of bases.entries()) {
      for (let cut = 0; cut < Math.min(b.length, 4096); cut += 97) inputs.push(b.subarray(0, cut));
      for (let seed = 1; seed <= 60; seed++) inputs.push(bitFlipped(b, 4, seed * 31 + k, 2048));
    }
    for (let seed = 1; seed <= 40; seed++) {
      const r = randomBytes(3000, seed);
      for (const magic of ['ffd8ff', '49492a0008000000', '4d4d002a00000008', '000000186674797063727820']) inputs.push(Buffer.concat([Buffer.from(magic, 'hex'), r]));
    }
    for (const input of inputs) {
      const r = previewOf(input);
      expect(r.reason ?? '').not.toMatch(/^preview not read/);
      if (r.preview) expect(typeof checkJpeg(r.preview.data) === 'object' || r.preview.from === 'file').toBe(true);
    }
  });
});

describe('FileReader', () => {
  it('reads by offset, short at the end', () => {
    const p = path.join(freshOut('gallery-reader'), 'f.bin');
    fs.writeFileSync(p, Buffer.from('0123456789'));
    const r = FileReader.open(p);
    try {
      expect(r.size).toBe(10);
      expect(r.read(3, 4).toString()).toBe('3456');
      expect(r.read(8, 10).toString()).toBe('89');
      expect(r.read(10, 1).length).toBe(0);
    } finally {
      r.close();
    }
  });
});

// ---- real camera files ----------------------------------------------------------------------

describe.skipIf(!HAVE_SAMPLES)('real camera files (../shared/samples)', () => {
  it('JPEG (Canon EOS RP): the EXIF thumbnail where exiftool puts it', () => {
    const r = fromFile(sample('jpeg/canon_eos_rp/_MG_0635.JPG'));
    expect(r.preview).toMatchObject({ from: 'exif-thumbnail', offset: 16880, width: 160, height: 120 });
    expect(r.preview!.data.length).toBeLessThanOrEqual(10797);
    expect(r.meta.camera).toBe('Canon EOS RP');
  });

  it('CR2 (Canon EOS 30D): the 160x120 IFD1 JPEG, not the 373 KB IFD0 preview', () => {
    const r = fromFile(sample('cr2/canon_eos_30d/IMG_5952.CR2'));
    expect(r.container).toBe('tiff');
    expect(r.preview).toMatchObject({ from: 'ifd1', offset: 76800, width: 160, height: 120 });
    expect(r.meta.camera).toBe('Canon EOS 30D');
  });

  it('CR3 (Canon EOS R, header boxes): THMB in the Canon uuid, with CMT1 camera and orientation', () => {
    const r = fromFile(sample('structure/CanonEOSR_truncated-131072.CR3'));
    expect(r.container).toBe('cr3');
    expect(r.preview).toMatchObject({ from: 'cr3-thmb', offset: 12824, width: 160, height: 120 });
    expect(r.meta).toMatchObject({ camera: 'Canon EOS R', orientation: 6 });
    expect(r.meta.date).toMatch(/^2019-12-05T/);
  });

  it.skipIf(spawnSync('python3', ['--version']).status !== 0)('CR3 completed by complete-bmff: the same THMB, reading a few KiB of 29 MB', () => {
    const dst = path.join(freshOut('gallery-cr3'), 'eosr.cr3');
    const made = spawnSync('python3', [sample('structure/complete-bmff'), sample('structure/CanonEOSR_truncated-131072.CR3'), dst, '1'], { encoding: 'utf8' });
    expect(made.status, made.stderr).toBe(0);
    const file = FileReader.open(dst);
    try {
      const counting = new CountingReader(file);
      const r = findPreview(counting);
      expect(r.preview).toMatchObject({ from: 'cr3-thmb', offset: 12824, width: 160 });
      expect(file.size).toBeGreaterThan(20_000_000);
      expect(counting.bytesRead).toBeLessThan(512 * 1024);
    } finally {
      file.close();
    }
  });

  it('CR3 with stripped image data (Canon EOS M50): the dummy THMB is refused, metadata still read', () => {
    const r = fromFile(sample('structure/CanonEOSM50_exiftool-stripped.CR3'));
    expect(r.preview).toBeUndefined();
    expect(r.reason).toMatch(/cr3-thmb: not a JPEG/);
    expect(r.meta.camera).toBe('Canon EOS M50');
  });

  it('ARW (Sony ZV-E10): the IFD1 thumbnail', () => {
    expect(fromFile(sample('structure/SonyZVE10_truncated-100000.ARW')).preview).toMatchObject({ from: 'ifd1', offset: 43302, width: 160 });
  });

  it('DNG (Leica M10): a SubIFD preview strip', () => {
    const r = fromFile(sample('structure/LeicaM10_truncated-100000.DNG'));
    expect(r.preview?.from).toMatch(/^subifd\d-strip$/);
    expect(r.preview?.width).toBe(160);
  });

  it("NEF (Nikon D70, stripped): IFD0's SubIFDs and the maker note's PreviewIFD are looked at", () => {
    const r = fromFile(sample('structure/NikonD70_exiftool-stripped.NEF'));
    expect(r.preview).toBeUndefined();
    expect(r.reason).toMatch(/nikon-preview/);
    expect(r.meta.camera).toBe('NIKON D70');
  });

  it('CRW (Canon PowerShot G2): the heap thumbnail', () => {
    expect(fromFile(sample('crw/canon_powershot_g2/CRW_0304.CRW')).preview).toMatchObject({ from: 'crw-thumbnail', width: 160 });
  });

  it('HEIC: no preview, a reason', () => {
    const r = fromFile(sample('heic/apple_iphone_13_pro/IMG_8563.HEIC'));
    expect(r.container).toBe('heif');
    expect(r.preview).toBeUndefined();
    expect(r.reason).toMatch(/HEVC/);
  });

  it('nearly every sample JPEG yields a checked preview, within the cap', () => {
    const dir = sample('jpeg');
    const files = fs.readdirSync(dir).flatMap((d) => fs.readdirSync(path.join(dir, d)).map((f) => path.join(dir, d, f)));
    let found = 0;
    for (const f of files) {
      const r = fromFile(f);
      if (!r.preview) continue;
      found++;
      if (r.preview.from !== 'file') {
        expect(r.preview.data.length, f).toBeLessThanOrEqual(60 * 1024);
        expect(typeof checkJpeg(r.preview.data), f).toBe('object');
      }
    }
    expect(files.length).toBeGreaterThan(50);
    expect(found / files.length).toBeGreaterThan(0.9);
  });
});
