import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { BufferReader } from '../src/reader.js';
import { runPipeline } from '../src/pipeline.js';
import { carveRegion } from '../src/carve.js';
import { jpegCarver, app1End, bareJpeg } from '../carvers/jpeg.js';
import { fixtureImage, noise } from './support/fixtures.js';

describe('a photo whose carve fails: its EXIF thumbnail is not a photo of its own', () => {
  // A JPEG with an EXIF thumbnail, from a fixture. Cameras write their thumbnails bare (no
  // APPn segment); ImageMagick's has JFIF, so take that APP0 out (and shorten APP1 to match).
  const disk = fs.readFileSync(fixtureImage('fragmented-deleted'));
  const jpegs = runPipeline(new BufferReader(disk)).files.map((f) => Buffer.concat(f.runs.map((r) => disk.subarray(r.offset, r.offset + r.length))));
  const source = jpegs.find((b) => {
    const end = app1End(b.subarray(0, 64));
    const t = b.indexOf(Buffer.from([0xff, 0xd8, 0xff, 0xe0]), 2);
    return end !== undefined && t > 0 && t < end;
  })!;
  const photo = (() => {
    const t = source.indexOf(Buffer.from([0xff, 0xd8, 0xff, 0xe0]), 2);
    const app0 = 2 + source.readUInt16BE(t + 4);
    const out = Buffer.concat([source.subarray(0, t + 2), source.subarray(t + 2 + app0)]);
    const app1 = out.indexOf(Buffer.from([0xff, 0xe1]), 2);
    out.writeUInt16BE(out.readUInt16BE(app1 + 2) - app0, app1 + 2);
    return out;
  })();
  const thumbAt = photo.indexOf(Buffer.from([0xff, 0xd8, 0xff]), 2);
  // Starts are tried every `g` bytes; make the thumbnail fall on one, as it does when the
  // thumbnail's offset in the file is a multiple of the cluster size.
  const g = thumbAt & -thumbAt;
  const broken = Buffer.concat([photo.subarray(0, app1End(photo)! + 600), noise(64 * 1024, 9)]);
  const region = { volume: 0, runs: [{ offset: 0, length: broken.length }], granularity: g, alignBase: 0 };

  it('finds such a photo in the fixtures, whole and with a bare thumbnail', () => {
    expect(source).toBeDefined();
    expect(bareJpeg(photo.subarray(thumbAt))).toBe(true);
    expect(jpegCarver.walk(new BufferReader(photo), 0, { maxLength: photo.length })).toMatchObject({ ok: true, length: photo.length });
    expect(g).toBeGreaterThanOrEqual(2);
  });

  it('is not written when the photo breaks; with keepPartial the broken photo is, thumbnail and all', () => {
    const plain = carveRegion(new BufferReader(broken), region, { carvers: [jpegCarver] });
    expect(plain.rejected.map((r) => r.offset)).toContain(0);
    expect(plain.files).toEqual([]);
    // Without the rule the thumbnail is carved as a photo: the rule is what keeps it out.
    const alone = carveRegion(new BufferReader(broken.subarray(thumbAt)), { ...region, runs: [{ offset: 0, length: broken.length - thumbAt }] }, { carvers: [jpegCarver] });
    expect(alone.files).toHaveLength(1);
    const kept = carveRegion(new BufferReader(broken), region, { carvers: [jpegCarver], keepPartial: true });
    expect(kept.files.map((f) => [f.runs[0].offset, f.status])).toEqual([[0, 'damaged']]);
    expect(kept.files[0].size).toBeGreaterThan(thumbAt);
  });

  it('a whole photo is carved once, its thumbnail inside it', () => {
    const whole = carveRegion(new BufferReader(photo), { ...region, runs: [{ offset: 0, length: photo.length }] }, { carvers: [jpegCarver] });
    expect(whole.files.map((f) => [f.runs[0].offset, f.size])).toEqual([[0, photo.length]]);
  });
});
