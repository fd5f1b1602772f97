import { describe, expect, it } from 'vitest';
import { riffCarver } from '../../carvers/riff.js';
import { HAVE_SAMPLES, ok, randomBytes, readSample, samples, u32le, walkBuffer } from './helpers.js';

const chunk = (id: string, body: Buffer) =>
  Buffer.concat([Buffer.from(id, 'latin1'), u32le(body.length), body, body.length & 1 ? Buffer.alloc(1) : Buffer.alloc(0)]);
const list = (type: string, ...items: Buffer[]) => chunk('LIST', Buffer.concat([Buffer.from(type, 'latin1'), ...items]));
const riff = (form: string, ...items: Buffer[]) => {
  const body = Buffer.concat([Buffer.from(form, 'latin1'), ...items]);
  return Buffer.concat([Buffer.from('RIFF'), u32le(body.length), body]);
};
const avi = () => riff('AVI ', list('hdrl', chunk('avih', Buffer.alloc(56))), list('movi', chunk('00dc', randomBytes(999, 2))), chunk('idx1', Buffer.alloc(16)));

describe('riff carver', () => {
  const tail = randomBytes(4096, 13);

  it('detects AVI, WAV, WebP; not zeros, random bytes or unknown forms', () => {
    expect(riffCarver.detect(avi())).toBe(true);
    expect(riffCarver.detect(riff('WAVE', chunk('fmt ', Buffer.alloc(16))))).toBe(true);
    expect(riffCarver.detect(riff('XXXX'))).toBe(false);
    expect(riffCarver.detect(Buffer.alloc(64))).toBe(false);
    for (let seed = 1; seed <= 200; seed++) expect(riffCarver.detect(randomBytes(64, seed))).toBe(false);
  });

  it('length is 8 + the size field (odd chunk sizes padded)', () => {
    const f = avi();
    expect(ok(walkBuffer(riffCarver, Buffer.concat([f, tail])))).toMatchObject({ length: f.length, format: 'avi', ext: 'avi' });
    const wav = riff('WAVE', chunk('fmt ', Buffer.alloc(16)), chunk('data', randomBytes(1001, 3)));
    expect(ok(walkBuffer(riffCarver, Buffer.concat([wav, tail])))).toMatchObject({ length: wav.length, format: 'wav' });
  });

  it('follows OpenDML RIFF AVIX continuation chunks', () => {
    const f = Buffer.concat([avi(), riff('AVIX', list('movi', chunk('00dc', randomBytes(500, 4)))), riff('AVIX', list('movi', chunk('01wb', Buffer.alloc(10))))]);
    const r = ok(walkBuffer(riffCarver, Buffer.concat([f, avi()])));
    expect(r.length).toBe(f.length);
    expect(r.notes?.join()).toMatch(/AVIX/);
  });

  it('rejects a size beyond the limit and chunks that are not chunks', () => {
    const f = avi();
    expect(walkBuffer(riffCarver, f.subarray(0, f.length - 10))).toMatchObject({ ok: false, reason: expect.stringMatching(/truncated/) });
    expect(walkBuffer(riffCarver, f, { maxLength: f.length - 1 }).ok).toBe(false);
    const broken = Buffer.from(f);
    broken.fill(0, 12, 20); // the first chunk header
    expect(walkBuffer(riffCarver, broken)).toMatchObject({ ok: false, validUpTo: 12 });
  });
});

const AVI_SAMPLES = samples('avi', /\.avi$/i);

describe.skipIf(!HAVE_SAMPLES)('riff carver: real camera files', () => {
  it('finds the sample files', () => expect(AVI_SAMPLES.length).toBeGreaterThanOrEqual(7));

  it.each(AVI_SAMPLES)('%s: exact length followed by random bytes or another file', (rel) => {
    const file = readSample(rel);
    expect(riffCarver.detect(file.subarray(0, 64))).toBe(true);
    expect(ok(walkBuffer(riffCarver, Buffer.concat([file, randomBytes(65536, file.length)])))).toMatchObject({ length: file.length, format: 'avi' });
    const next = readSample(AVI_SAMPLES[(AVI_SAMPLES.indexOf(rel) + 1) % AVI_SAMPLES.length]);
    expect(ok(walkBuffer(riffCarver, Buffer.concat([file, next]))).length).toBe(file.length);
    expect(ok(walkBuffer(riffCarver, file, { expectedSize: file.length })).length).toBe(file.length);
    expect(walkBuffer(riffCarver, file.subarray(0, file.length - 1000)).ok).toBe(false);
  });
});
