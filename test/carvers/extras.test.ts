import { describe, expect, it } from 'vitest';
import { crwCarver } from '../../carvers/crw.js';
import { rafCarver } from '../../carvers/raf.js';
import { mpegTsCarver } from '../../carvers/mpegts.js';
import { mpegPsCarver } from '../../carvers/mpegps.js';
import { HAVE_SAMPLES, ok, randomBytes, readSample, samples, u16be, u32le, walkBuffer } from './helpers.js';

// ---- MPEG transport stream ----------------------------------------------------------------

/** `n` 192-byte M2TS packets: a PAT first, then packets of PID 0x1011. */
function m2ts(n: number): Buffer {
  const packets: Buffer[] = [];
  for (let i = 0; i < n; i++) {
    const p = randomBytes(192, i + 1);
    p.writeUInt32BE(i * 1000, 0);
    p[4] = 0x47;
    if (i === 0) Buffer.from([0x40, 0x00, 0x10, 0x00, 0x00]).copy(p, 5);
    else Buffer.from([0x10, 0x11, 0x10]).copy(p, 5);
    packets.push(p);
  }
  return Buffer.concat(packets);
}

describe('mpeg-ts carver', () => {
  it('detects a PAT packet at the start (M2TS and TS), not zeros or random bytes', () => {
    expect(mpegTsCarver.detect(m2ts(2))).toBe(true);
    expect(mpegTsCarver.detect(m2ts(2).subarray(4))).toBe(true);
    expect(mpegTsCarver.detect(Buffer.alloc(64))).toBe(false);
    for (let seed = 1; seed <= 200; seed++) expect(mpegTsCarver.detect(randomBytes(64, seed))).toBe(false);
  });

  it('ends where the sync byte stops recurring', () => {
    const f = m2ts(50);
    expect(ok(walkBuffer(mpegTsCarver, Buffer.concat([f, randomBytes(5000, 3)])))).toMatchObject({ length: f.length, format: 'mts' });
    expect(ok(walkBuffer(mpegTsCarver, Buffer.concat([f, Buffer.alloc(5000)]))).length).toBe(f.length);
    expect(walkBuffer(mpegTsCarver, m2ts(3)).ok).toBe(false);
    expect(ok(walkBuffer(mpegTsCarver, Buffer.concat([f, Buffer.alloc(100)]), { expectedSize: f.length + 100 })).length).toBe(f.length + 100);
  });
});

// ---- MPEG program stream ------------------------------------------------------------------

const pack = () => Buffer.from([0, 0, 1, 0xba, 0x21, 0, 1, 0, 1, 0x80, 0x0e, 0x3b]);
const pes = (id: number, n: number) => Buffer.concat([Buffer.from([0, 0, 1, id]), u16be(n), randomBytes(n, n)]);
const END = Buffer.from([0, 0, 1, 0xb9]);

describe('mpeg-ps carver', () => {
  it('walks packs and packets to the end code', () => {
    const f = Buffer.concat([pack(), pes(0xbb, 12), pes(0xe0, 2000), pack(), pes(0xc0, 500), pes(0xe0, 1000), END]);
    expect(mpegPsCarver.detect(f)).toBe(true);
    expect(ok(walkBuffer(mpegPsCarver, Buffer.concat([f, randomBytes(3000, 1)])))).toMatchObject({ length: f.length, format: 'mpeg', ext: 'mpg' });
    expect(walkBuffer(mpegPsCarver, f.subarray(0, f.length - 4)).ok).toBe(false);
    const broken = Buffer.concat([pack(), pes(0xe0, 100), randomBytes(100, 9), END]);
    expect(walkBuffer(mpegPsCarver, broken)).toMatchObject({ ok: false, validUpTo: 12 + 106 });
  });
});

// ---- Canon CRW (CIFF) ---------------------------------------------------------------------

/** A heap: records, then the directory (count, 10-byte entries), then the directory offset. */
function heap(records: { tag: number; data: Buffer }[]): Buffer {
  const data = Buffer.concat(records.map((r) => r.data));
  const dir = Buffer.alloc(2 + 10 * records.length);
  dir.writeUInt16LE(records.length, 0);
  let off = 0;
  records.forEach((r, i) => {
    dir.writeUInt16LE(r.tag, 2 + 10 * i);
    dir.writeUInt32LE(r.data.length, 4 + 10 * i);
    dir.writeUInt32LE(off, 8 + 10 * i);
    off += r.data.length;
  });
  return Buffer.concat([data, dir, u32le(data.length)]);
}

function crw(): Buffer {
  const props = heap([{ tag: 0x080a, data: Buffer.from('Canon\0Canon PowerShot Test\0', 'latin1') }]);
  const root = heap([
    { tag: 0x2005, data: randomBytes(5000, 4) },
    { tag: 0x300a, data: props },
  ]);
  const header = Buffer.concat([Buffer.from('II', 'latin1'), u32le(26), Buffer.from('HEAPCCDR', 'latin1'), Buffer.from([2, 0, 1, 0]), Buffer.alloc(8)]);
  return Buffer.concat([header, root]);
}

describe('crw carver', () => {
  it('finds the end from the root directory and reads the camera', () => {
    const f = crw();
    expect(crwCarver.detect(f)).toBe(true);
    expect(ok(walkBuffer(crwCarver, Buffer.concat([f, randomBytes(20000, 2)])))).toMatchObject({
      length: f.length,
      format: 'crw',
      meta: { camera: 'Canon PowerShot Test' },
    });
    expect(ok(walkBuffer(crwCarver, f, { expectedSize: f.length })).length).toBe(f.length);
    expect(walkBuffer(crwCarver, f.subarray(0, f.length - 1)).ok).toBe(false);
    expect(walkBuffer(crwCarver, f, { expectedSize: f.length - 1 }).ok).toBe(false);
  });
});

// ---- Fuji RAF -----------------------------------------------------------------------------

describe('raf carver', () => {
  it('ends at the furthest part the header lists', () => {
    const head = Buffer.alloc(0x94);
    head.write('FUJIFILMCCD-RAW 0201FF000000', 0, 'latin1');
    head.write('FinePix Test', 0x1c, 'latin1');
    const jpeg = Buffer.concat([Buffer.from([0xff, 0xd8]), randomBytes(500, 1)]);
    const parts = [
      [0x94, jpeg.length],
      [0x94 + jpeg.length, 100],
      [0x94 + jpeg.length + 100, 3000],
    ];
    parts.forEach(([o, l], i) => {
      head.writeUInt32BE(o, 0x54 + 8 * i);
      head.writeUInt32BE(l, 0x58 + 8 * i);
    });
    const f = Buffer.concat([head, jpeg, randomBytes(3100, 2)]);
    expect(ok(walkBuffer(rafCarver, Buffer.concat([f, randomBytes(1000, 3)])))).toMatchObject({ length: f.length, format: 'raf', meta: { camera: 'FUJIFILM FinePix Test' } });
    expect(walkBuffer(rafCarver, f.subarray(0, f.length - 1)).ok).toBe(false);
  });
});

// ---- real camera files --------------------------------------------------------------------

const EXTRA_SAMPLES: [string, typeof crwCarver, string][] = [
  ...samples('crw', /\.crw$/i).map((r): [string, typeof crwCarver, string] => [r, crwCarver, 'crw']),
  ...samples('mts', /\.(mts|m2ts)$/i).map((r): [string, typeof crwCarver, string] => [r, mpegTsCarver, 'mts']),
  ...samples('mpg', /\.mpe?g$/i).map((r): [string, typeof crwCarver, string] => [r, mpegPsCarver, 'mpeg']),
  ...samples('structure', /\.raf$/i).map((r): [string, typeof crwCarver, string] => [r, rafCarver, 'raf']),
];

describe.skipIf(!HAVE_SAMPLES)('extra carvers: real camera files', () => {
  it('finds the sample files', () => expect(EXTRA_SAMPLES.length).toBeGreaterThanOrEqual(5));

  it.each(EXTRA_SAMPLES)('%s: exact length followed by random bytes, expected size, truncated', (rel, carver, format) => {
    const file = readSample(rel);
    expect(carver.detect(file.subarray(0, 64))).toBe(true);
    expect(ok(walkBuffer(carver, Buffer.concat([file, randomBytes(65536, file.length)])))).toMatchObject({ length: file.length, format });
    expect(ok(walkBuffer(carver, file, { expectedSize: file.length })).length).toBe(file.length);
    const cut = walkBuffer(carver, file.subarray(0, Math.floor(file.length / 2)));
    // A transport stream has no end marker: cut in half it is a shorter stream, not an error.
    if (format === 'mts') expect(ok(cut).length).toBeLessThanOrEqual(file.length / 2);
    else expect(cut.ok).toBe(false);
  });

  it('reads the CRW camera model', () => {
    expect(ok(walkBuffer(crwCarver, readSample('crw/canon_powershot_g2/CRW_0304.CRW'))).meta).toEqual({ camera: 'Canon PowerShot G2' });
  });
});
