import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CachedReader, BufferReader, RunsReader, readIntoAny, type Reader } from '../src/reader.js';
import { contentValidator } from '../src/validate.js';
import { runPipeline } from '../src/pipeline.js';
import { fixtureImage, freshOut, haveCommands, noise, noisePhoto, photoCard, sha256 } from './support/fixtures.js';
import { seededRandom } from './support/random.js';
import { jpegCarver } from '../carvers/jpeg.js';

/** A reader that counts the reads that reach it, and hands out copies (as a card's reads do). */
class CountingReader implements Reader {
  reads = 0;
  bytes = 0;
  constructor(private readonly data: Buffer) {}
  get size(): number {
    return this.data.length;
  }
  read(offset: number, length: number): Buffer {
    this.reads++;
    const got = Buffer.from(this.data.subarray(offset, Math.min(this.data.length, offset + Math.max(0, length))));
    this.bytes += got.length;
    return got;
  }
}

describe('the cached reader', () => {
  it('returns what its base returns, for reads of every size, inside and across blocks and past the end', () => {
    const data = noise(300_000, 11);
    const base = new CountingReader(data);
    const blocks = new CachedReader(base, 4096, 2);
    const random = seededRandom(2026);
    const kept: { at: number; got: Buffer }[] = [];
    for (let i = 0; i < 3000; i++) {
      // Mostly small reads near the last one, as a walk makes; now and then a jump, a read over
      // a few blocks, or one too big to cache.
      const at = i % 50 === 0 ? random(data.length + 100) : Math.min(data.length + 10, (kept.at(-1)?.at ?? 0) + random(600));
      const length = i % 37 === 0 ? 4096 + random(20_000) : i % 23 === 0 ? random(12_000) : random(300);
      const got = blocks.read(at, length);
      expect(got.equals(data.subarray(at, Math.min(data.length, at + Math.max(0, length)))), `read(${at}, ${length})`).toBe(true);
      if (i % 10 === 0) kept.push({ at, got });
      const target = Buffer.alloc(random(9000));
      const n = readIntoAny(blocks, target, at);
      expect(n).toBe(Math.max(0, Math.min(target.length, data.length - at)));
      expect(target.subarray(0, n).equals(data.subarray(at, at + n))).toBe(true);
    }
    // Buffers handed out earlier still hold their bytes: new blocks did not overwrite them.
    for (const { at, got } of kept) expect(got.equals(data.subarray(at, at + got.length))).toBe(true);
  });

});

describe('the content check\'s reads', () => {
  it('makes one read of its base where a header walk made three', () => {
    const disk = fs.readFileSync(fixtureImage('quickformat-fat16'));
    const plan = runPipeline(new BufferReader(disk));
    const photo = plan.files.find((f) => f.originalPath === '/DCIM/FOLDER75/IMG_0005.JPG')!;
    const bytes = disk.subarray(photo.runs[0].offset, photo.runs[0].offset + photo.size);
    // The JPEG walker on a plain reader: every segment header is a read of its own.
    const direct = new CountingReader(bytes);
    const walked = jpegCarver.walk(direct, 0, { maxLength: bytes.length, expectedSize: bytes.length });
    expect(walked).toMatchObject({ ok: true, length: bytes.length });
    expect(direct.reads).toBeGreaterThanOrEqual(3);

    // The content check reads it once.
    const counted = new CountingReader(bytes);
    expect(contentValidator()(counted, bytes.length, 'IMG_0005.JPG')).toMatchObject({ ok: true, by: 'jpeg', format: 'jpeg' });
    expect(bytes.length).toBeLessThan(64 * 1024);
    expect(counted.reads).toBe(1);
  });

  it.runIf(haveCommands('cjpeg'))('reads a file bigger than a block as the walker asks, no more', () => {
    const big = noisePhoto(400, 300, 9);
    expect(big.length).toBeGreaterThan(64 * 1024);
    const direct = new CountingReader(big);
    expect(jpegCarver.walk(direct, 0, { maxLength: big.length, expectedSize: big.length })).toMatchObject({ ok: true, length: big.length });
    const counted = new CountingReader(big);
    expect(contentValidator()(counted, big.length, 'BIG.JPG')).toMatchObject({ ok: true, by: 'jpeg' });
    // The check's own look at the first 64 bytes, and then the walker's reads.
    expect(counted.reads).toBe(direct.reads + 1);
    expect(counted.bytes).toBe(direct.bytes + 64);
  });

  it('the same checks on a file in pieces (runs), as the planner reads them', () => {
    const disk = fs.readFileSync(fixtureImage('quickformat-fat16'));
    const plan = runPipeline(new BufferReader(disk));
    const validate = contentValidator();
    let checked = 0;
    for (const f of plan.files.filter((x) => x.format === 'jpeg')) {
      const counted = new CountingReader(disk);
      const check = validate(new RunsReader(counted, f.runs), f.size, f.name);
      const whole = new RunsReader(new BufferReader(disk), f.runs).read(0, f.size);
      expect(check).toEqual(validate(new BufferReader(whole), f.size, f.name));
      expect(check?.ok).toBe(true);
      // A read per 64 KiB block (aligned in the file) and per run it crosses.
      expect(counted.reads).toBeLessThanOrEqual(Math.ceil(f.size / (64 * 1024)) + f.runs.length);
      checked++;
    }
    expect(checked).toBeGreaterThan(5);
  });
});

const haveTools = haveCommands('mkfs.fat', 'mcopy', 'mmd', 'cjpeg');

describe.runIf(haveTools)('a card of many small live photos', () => {
  it('is checked with one read a photo, and every photo comes back whole', () => {
    const photos = Array.from({ length: 200 }, (_, i) => noisePhoto(16, 16, 500 + i));
    const { img, names } = photoCard(freshOut('block-reader-card'), 16, ['-F', '16', '-s', '4', '-i', '0C0FFEE5'], photos);

    const disk = new CountingReader(fs.readFileSync(img));
    const result = runPipeline(disk, { carve: false });
    const live = result.files.filter((f) => f.provenance === 'allocated');
    expect(live).toHaveLength(200);
    for (const [i, name] of names.entries()) {
      const f = live.find((x) => x.originalPath === `/DCIM/100TEST/${name}`)!;
      expect(f.status, name).toBe('ok');
      expect(f.validation).toMatchObject({ ok: true, by: 'jpeg' });
      expect(sha256(new RunsReader(new BufferReader(fs.readFileSync(img)), f.runs).read(0, f.size))).toBe(sha256(photos[i]));
    }
    // A read a photo, and a few for the file system. (Read segment by segment, it took 4 a photo.)
    expect(disk.reads).toBeLessThan(photos.length + 40);
  });
});
