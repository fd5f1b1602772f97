import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import { BufferReader } from '../../src/reader.js';
import { bmffCarver, createBmffCarver, describeBoxes, formatOfBrands, walkBmff } from '../../carvers/bmff.js';
import { HAVE_SAMPLES, SAMPLES, ok, randomBytes, readSample, samples, u32be, walkBuffer } from './helpers.js';
import { tempDir } from '../support/fixtures.js';

const box = (type: string, body: Buffer | number) => {
  const data = typeof body === 'number' ? randomBytes(body, body) : body;
  return Buffer.concat([u32be(8 + data.length), Buffer.from(type, 'latin1'), data]);
};
const ftyp = (major: string, ...compatible: string[]) =>
  box('ftyp', Buffer.concat([Buffer.from(major, 'latin1'), u32be(0), ...compatible.map((c) => Buffer.from(c, 'latin1'))]));
const moov = box('moov', box('mvhd', Buffer.alloc(100)));

describe('bmff carver: detect', () => {
  it('accepts ftyp and the first boxes of ftyp-less QuickTime, rejects zeros and random bytes', () => {
    expect(bmffCarver.detect(ftyp('crx ', 'crx ', 'isom'))).toBe(true);
    expect(bmffCarver.detect(box('mdat', 100))).toBe(true);
    expect(bmffCarver.detect(box('free', 100))).toBe(false);
    expect(bmffCarver.detect(Buffer.alloc(64))).toBe(false);
    for (let seed = 1; seed <= 200; seed++) expect(bmffCarver.detect(randomBytes(64, seed))).toBe(false);
  });

  it('names formats from brands', () => {
    expect(formatOfBrands('crx ', [])).toEqual({ format: 'cr3', ext: 'cr3' });
    expect(formatOfBrands('qt  ', [])).toEqual({ format: 'mov', ext: 'mov' });
    expect(formatOfBrands('heic', ['mif1'])).toEqual({ format: 'heic', ext: 'heic' });
    expect(formatOfBrands('mif1', ['heic'])).toEqual({ format: 'heic', ext: 'heic' });
    expect(formatOfBrands('mif1', ['avif'])).toEqual({ format: 'avif', ext: 'avif' });
    expect(formatOfBrands('isom', ['iso2', 'avc1'])).toEqual({ format: 'mp4', ext: 'mp4' });
    expect(formatOfBrands('XAVC', [])).toEqual({ format: 'mp4', ext: 'mp4' });
    expect(formatOfBrands('3gp4', [])).toEqual({ format: 'mp4', ext: '3gp' });
  });
});

describe('bmff carver: walk', () => {
  const tail = randomBytes(4096, 11);

  it.each([
    ['ftyp moov mdat', [ftyp('isom'), moov, box('mdat', 5000)], 'mp4'],
    ['ftyp wide mdat moov (iPhone order)', [ftyp('qt  '), box('wide', 0), box('mdat', 5000), moov], 'mov'],
    ['ftyp meta mdat (HEIC)', [ftyp('heic', 'mif1'), box('meta', 300), box('mdat', 5000)], 'heic'],
    ['mdat moov without ftyp (old QuickTime)', [box('mdat', 5000), moov], 'mov'],
    ['ftyp moov uuid uuid mdat (CR3)', [ftyp('crx '), moov, box('uuid', 100), box('uuid', 200), box('mdat', 5000)], 'cr3'],
  ])('%s: exact length, followed by random bytes or another file', (_name, parts, format) => {
    const f = Buffer.concat(parts as Buffer[]);
    expect(ok(walkBuffer(bmffCarver, Buffer.concat([f, tail])))).toMatchObject({ length: f.length, format });
    expect(ok(walkBuffer(bmffCarver, Buffer.concat([f, f]))).length).toBe(f.length);
    expect(ok(walkBuffer(bmffCarver, Buffer.concat([f, Buffer.alloc(4096)]))).length).toBe(f.length);
  });

  it('follows the fragments of a fragmented MP4 after the first mdat', () => {
    const frag = () => [box('moof', 60), box('mdat', 700)];
    const f = Buffer.concat([ftyp('iso6'), moov, ...frag(), ...frag(), ...frag(), box('mfra', 40)]);
    expect(ok(walkBuffer(bmffCarver, Buffer.concat([f, tail]))).length).toBe(f.length);
    expect(ok(walkBuffer(bmffCarver, Buffer.concat([f, ftyp('iso6'), moov]))).length).toBe(f.length);
  });

  it('reads a 64-bit largesize', () => {
    const mdat = Buffer.concat([u32be(1), Buffer.from('mdat'), Buffer.from([0, 0, 0, 0, 0, 0, 0x10, 0x10]), randomBytes(0x1010 - 16, 4)]);
    const f = Buffer.concat([ftyp('mp42'), moov, mdat]);
    expect(ok(walkBuffer(bmffCarver, Buffer.concat([f, tail]))).length).toBe(f.length);
  });

  it('mdat of size 0 ("to the end") needs the expected size', () => {
    const f = Buffer.concat([ftyp('mp42'), moov, u32be(0), Buffer.from('mdat'), randomBytes(3000, 5)]);
    expect(walkBuffer(bmffCarver, f)).toMatchObject({ ok: false, reason: expect.stringMatching(/size 0/) });
    const r = ok(walkBuffer(bmffCarver, f, { expectedSize: f.length }));
    expect(r.length).toBe(f.length);
    expect(r.notes?.join()).toMatch(/size 0/);
  });

  it('fails without moov or mdat, and on a truncated box', () => {
    expect(walkBuffer(bmffCarver, Buffer.concat([ftyp('isom'), moov, tail])).ok).toBe(false);
    expect(walkBuffer(bmffCarver, Buffer.concat([ftyp('isom'), box('mdat', 300), tail])).ok).toBe(false);
    const f = Buffer.concat([ftyp('isom'), moov, box('mdat', 5000)]);
    const cut = f.subarray(0, f.length - 100);
    expect(walkBuffer(bmffCarver, cut)).toMatchObject({ ok: false, validUpTo: cut.length, reason: expect.stringMatching(/truncated/) });
    expect(walkBuffer(bmffCarver, f, { maxLength: f.length - 1 }).ok).toBe(false);
    expect(walkBuffer(bmffCarver, Buffer.concat([ftyp('isom'), Buffer.from([0, 0, 0, 4]), Buffer.from('moov')])).ok).toBe(false);
  });

  it('lastChunk: the named box ends the file when it follows moov; maxChunks bounds the walk', () => {
    const f = Buffer.concat([ftyp('isom'), moov, box('mdat', 500), box('free', 40)]);
    expect(ok(walkBuffer(bmffCarver, f)).length).toBe(f.length - 48); // default: mdat ends it
    const keepGoing = createBmffCarver({ lastChunk: 'none' });
    expect(ok(walkBuffer(keepGoing, Buffer.concat([f, tail]))).length).toBe(f.length);
    expect(walkBuffer(createBmffCarver({ maxChunks: 2 }), f).ok).toBe(false);
  });

  it('returns the box list for --verbose', () => {
    const f = Buffer.concat([ftyp('crx '), moov, box('uuid', 100), box('mdat', 500)]);
    const { result, boxes } = walkBmff(new BufferReader(f), 0, { maxLength: f.length });
    expect(result.ok).toBe(true);
    expect(boxes.map((b) => `${b.type}:${b.offset}:${b.size}`)).toEqual([
      'ftyp:0:16',
      `moov:16:${moov.length}`,
      `uuid:${16 + moov.length}:108`,
      `mdat:${16 + moov.length + 108}:508`,
    ]);
    expect(describeBoxes(boxes)[0]).toBe('ftyp 16 @0');
  });
});

// ---- real camera files --------------------------------------------------------------------

const BMFF_SAMPLES: [string, string][] = [
  ...samples('mov', /\.mov$/i).map((r): [string, string] => [r, 'mov']),
  ...samples('mp4', /\.mp4$/i).map((r): [string, string] => [r, 'mp4']),
  ...samples('heic', /\.heic$/i).map((r): [string, string] => [r, 'heic']),
  ['structure/CanonEOSM50_exiftool-stripped.CR3', 'cr3'],
];

describe.skipIf(!HAVE_SAMPLES)('bmff carver: real camera files', () => {
  it('finds the sample files', () => {
    expect(BMFF_SAMPLES.length).toBeGreaterThanOrEqual(15);
  });

  it.each(BMFF_SAMPLES)('%s: exact length followed by random bytes or another file', (rel, format) => {
    const file = readSample(rel);
    expect(bmffCarver.detect(file.subarray(0, 64))).toBe(true);
    const r = ok(walkBuffer(bmffCarver, Buffer.concat([file, randomBytes(65536, file.length)])));
    expect(r).toMatchObject({ length: file.length, format });
    const next = readSample(BMFF_SAMPLES[(BMFF_SAMPLES.findIndex((x) => x[0] === rel) + 1) % BMFF_SAMPLES.length][0]);
    expect(ok(walkBuffer(bmffCarver, Buffer.concat([file, next]))).length).toBe(file.length);
    expect(ok(walkBuffer(bmffCarver, file, { maxLength: file.length, expectedSize: file.length })).length).toBe(file.length);
  });

  it.each(BMFF_SAMPLES)('%s: truncated fails cleanly', (rel) => {
    const file = readSample(rel);
    const r = walkBuffer(bmffCarver, file.subarray(0, file.length - 1000));
    expect(r.ok).toBe(false);
  });

  it('reads the camera of a CR3 from CMT1', () => {
    const r = ok(walkBuffer(bmffCarver, readSample('structure/CanonEOSM50_exiftool-stripped.CR3')));
    expect(r.meta).toMatchObject({ camera: 'Canon EOS M50', date: '2018-02-21T12:08:56' });
  });

  it('truncated EOS R CR3 (131072 bytes) fails: its second uuid box runs past the end', () => {
    const file = readSample('structure/CanonEOSR_truncated-131072.CR3');
    expect(bmffCarver.detect(file)).toBe(true);
    expect(walkBuffer(bmffCarver, file)).toMatchObject({ ok: false, validUpTo: file.length, reason: expect.stringMatching(/uuid/) });
  });
});

const python = spawnSync('python3', ['--version']).status === 0;

describe.skipIf(!HAVE_SAMPLES || !python)('bmff carver: a complete CR3 built by complete-bmff', () => {
  // Inside the test run's scratch folder, which the global setup removes even if this run is cut short.
  const dir = fs.mkdtempSync(path.join(tempDir(), 'cr3-'));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  const build = (seed: number) => {
    const out = path.join(dir, `eosr-${seed}.cr3`);
    const run = spawnSync('python3', [path.join(SAMPLES, 'structure/complete-bmff'), path.join(SAMPLES, 'structure/CanonEOSR_truncated-131072.CR3'), out, String(seed)]);
    expect(run.status, run.stderr?.toString()).toBe(0);
    return fs.readFileSync(out);
  };

  it('walks the real EOS R box sequence to the exact end', () => {
    const a = build(1);
    expect(a.length).toBe(29_378_658);
    const b = build(2);
    const { result, boxes } = walkBmff(new BufferReader(Buffer.concat([a, b])), 0, { maxLength: a.length + b.length });
    expect(ok(result)).toMatchObject({ length: a.length, format: 'cr3', ext: 'cr3', meta: { camera: 'Canon EOS R' } });
    expect(boxes.map((x) => [x.type, x.size])).toEqual([
      ['ftyp', 24],
      ['moov', 31_216],
      ['uuid', 65_560],
      ['uuid', 306_442],
      ['mdat', 28_975_416],
    ]);
    // The second file, walked from where the first ends.
    expect(ok(walkBuffer(bmffCarver, Buffer.concat([a, b]), {}, a.length)).length).toBe(b.length);
    // Cut inside the mdat: not whole.
    expect(walkBuffer(bmffCarver, a.subarray(0, a.length - 4096)).ok).toBe(false);
  });
});
