import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { BufferReader } from '../src/reader.js';
import { JpegValidator, validateJpeg, validateJpegFile } from '../carvers/jpeg-validate.js';
import { noise, SAMPLES, tempDir } from './support/fixtures.js';

const CLUSTER = 4096;

function listJpegs(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (/\.jpe?g$/i.test(e.name)) out.push(p);
    }
  };
  if (fs.existsSync(dir)) walk(dir);
  return out.sort();
}

/** `file` with the cluster at `at` replaced by `fill`. */
function damaged(file: Buffer, at: number, fill: Buffer): Buffer {
  const b = Buffer.from(file);
  fill.copy(b, at, 0, Math.min(fill.length, b.length - at));
  return b;
}

const samples = listJpegs(path.join(SAMPLES, 'jpeg'));

describe.runIf(samples.length > 0)('the JPEG entropy validator on the real camera samples', () => {
  const files = samples.map((p) => ({ name: path.relative(SAMPLES, p), data: fs.readFileSync(p), end: 0 }));

  it('decodes every sample whole: every MCU, EOI right after the last, MPF images too', () => {
    for (const { name, data } of files) {
      const r = validateJpegFile(new BufferReader(data), 0, data.length);
      expect(r.ok, `${name}: ${r.reason}`).toBe(true);
      expect(r.mcus, name).toBe(r.expectedMcus);
      expect(r.mcus, name).toBeGreaterThan(0);
      // The primary image ends at its EOI, within the file (MPF images and trailers follow).
      expect(r.validUpTo, name).toBeLessThanOrEqual(data.length);
      const primary = validateJpeg(new BufferReader(data));
      expect(data.readUInt16BE(primary.validUpTo - 2), name).toBe(0xffd9);
      files.find((f) => f.name === name)!.end = primary.validUpTo;
      for (const img of r.images ?? []) expect(img.ok, `${name} MPF image at ${img.offset}: ${img.reason}`).toBe(true);
    }
  });

  /**
   * One 4 KiB cluster at 40% of the primary image replaced. Observed over the 72 samples:
   * random bytes are noticed at most ~750 bytes after the damage starts (median ~100), zeros
   * within 50 bytes; the next sample's scan data (often the same standard Huffman tables)
   * median ~170 bytes, 85% within 4 KiB, the rest later (max ~480 KB: foreign data can decode
   * in range for long, until a DC value leaves its range or the MCU count gives it away).
   */
  const lags = (fill: (i: number) => Buffer) =>
    files.map(({ name, data, end: known }, i) => {
      const end = known || validateJpeg(new BufferReader(data)).validUpTo;
      const at = Math.floor((end * 0.4) / CLUSTER) * CLUSTER;
      const r = validateJpeg(new BufferReader(damaged(data, at, fill(i))));
      return { name, ok: r.ok, lag: (r.failedAt ?? r.validUpTo) - at, before: at - r.validUpTo, reason: r.reason };
    });

  it('says where random bytes break a file: within 1 KiB of the damage', () => {
    const out = lags((i) => noise(CLUSTER, 1000 + i));
    for (const x of out) {
      expect(x.ok, x.name).toBe(false);
      expect(x.lag, `${x.name}: ${x.reason}`).toBeLessThanOrEqual(1024);
      // validUpTo is where the failing MCU starts: at most one MCU before the damage.
      expect(x.before, x.name).toBeLessThan(1024);
    }
  });

  it('says where zeros break a file: within a few hundred bytes', () => {
    for (const x of lags(() => Buffer.alloc(CLUSTER))) {
      expect(x.ok, x.name).toBe(false);
      expect(x.lag, `${x.name}: ${x.reason}`).toBeLessThanOrEqual(512);
    }
  });

  it("notices a cluster of another JPEG's scan data, mostly within a few KiB", () => {
    // The next sample's middle: usually another camera's tables and quantisers.
    const out = lags((i) => {
      const donor = files[(i + 1) % files.length].data;
      return donor.subarray(donor.length >> 1, (donor.length >> 1) + CLUSTER);
    });
    const found = out.filter((x) => !x.ok);
    expect(found.length / out.length).toBeGreaterThanOrEqual(0.95);
    const near = out.filter((x) => !x.ok && x.lag <= 4 * 1024).length;
    expect(near / out.length).toBeGreaterThanOrEqual(0.8);
  });

  it('resumes from a snapshot on another reader exactly as a straight run', () => {
    const { data } = files.find((f) => f.data.length > 1024 * 1024) ?? files[0];
    const straight = validateJpeg(new BufferReader(data));
    const v = new JpegValidator(new BufferReader(data), 0);
    const at = Math.floor(data.length / 2);
    const r = v.runUntil(at);
    expect('snapshot' in r && r.snapshot).toBeTruthy();
    const snap = (r as { snapshot: NonNullable<ReturnType<JpegValidator['snapshot']>> }).snapshot;
    expect(snap.pos).toBeLessThanOrEqual(at);
    // The bytes after the pause point come from another reader (a copy): same verdict.
    const w = new JpegValidator(new BufferReader(Buffer.from(data)), 0);
    w.restore(snap, new BufferReader(Buffer.from(data)));
    const resumed = w.run();
    expect(resumed).toEqual(straight);
    // And with the rest damaged, it fails after the pause point.
    const bad = damaged(data, at + CLUSTER, noise(CLUSTER, 7));
    const x = new JpegValidator(new BufferReader(bad), 0);
    x.restore(snap, new BufferReader(bad));
    const failed = x.run();
    expect(failed.ok).toBe(false);
    expect(failed.validUpTo).toBeGreaterThanOrEqual(at);
  });

  it('is fast enough to check every carved JPEG (logs its MB/s)', () => {
    const { data } = files.reduce((a, b) => (b.data.length > a.data.length ? b : a));
    validateJpeg(new BufferReader(data)); // warm up
    const t = performance.now();
    const rounds = 5;
    for (let i = 0; i < rounds; i++) validateJpeg(new BufferReader(data));
    const mbs = (data.length * rounds) / 1e6 / ((performance.now() - t) / 1000);
    console.log(`entropy validation: ${mbs.toFixed(0)} MB/s`);
    expect(mbs).toBeGreaterThan(5);
  });
});

/** A 8-bit PPM with gradients and noise: a picture with content in every block. */
function ppm(width: number, height: number, seed: number): Buffer {
  const head = Buffer.from(`P6\n${width} ${height}\n255\n`);
  const px = Buffer.alloc(width * height * 3);
  const n = noise(px.length, seed);
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++) {
      const i = 3 * (y * width + x);
      px[i] = (x * 255) / width + (n[i] & 15);
      px[i + 1] = (y * 255) / height + (n[i + 1] & 31);
      px[i + 2] = 128 + 100 * Math.sin((x + y) / 17) + (n[i + 2] & 7);
    }
  return Buffer.concat([head, px]);
}

const hasCjpeg = spawnSync('cjpeg', ['-version'], { encoding: 'utf8' }).status === 0;

describe.runIf(hasCjpeg)('the JPEG entropy validator on files cjpeg writes (libjpeg-turbo-progs)', () => {
  const dir = fs.mkdtempSync(path.join(tempDir(), 'cjpeg-'));
  const src = path.join(dir, 'src.ppm');
  fs.writeFileSync(src, ppm(333, 221, 5));
  const make = (args: string[]): Buffer => {
    const out = path.join(dir, `${args.join('_').replace(/[^a-z0-9_]/gi, '') || 'base'}.jpg`);
    const r = spawnSync('cjpeg', [...args, '-outfile', out, src], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    return fs.readFileSync(out);
  };
  const variants: [string, string[]][] = [
    ['baseline 4:2:0', []],
    ['4:4:4', ['-sample', '1x1']],
    ['4:1:1', ['-sample', '4x1']],
    ['greyscale', ['-grayscale']],
    ['optimised tables', ['-optimize']],
    ['quality 100', ['-quality', '100']],
    ['restart every MCU row', ['-restart', '1']],
    ['restart every 7 MCUs', ['-restart', '7B']],
    ['progressive', ['-progressive']],
    ['progressive with restarts', ['-progressive', '-restart', '2']],
  ];

  it.each(variants)('%s: decodes whole', (_name, args) => {
    const data = make(args);
    const r = validateJpeg(new BufferReader(data));
    expect(r.ok, r.reason).toBe(true);
    expect(r.validUpTo).toBe(data.length);
    expect(r.mcus).toBe(r.expectedMcus);
    expect(r.progressive ?? false).toBe(args.includes('-progressive'));
  });

  it.each(variants)('%s: a damaged cluster is found', (_name, args) => {
    const data = make(args);
    const at = Math.floor(data.length / 2 / 512) * 512;
    for (const fill of [noise(1024, 3), Buffer.alloc(1024)]) {
      const r = validateJpeg(new BufferReader(damaged(data, at, fill)));
      expect(r.ok).toBe(false);
      expect(r.validUpTo).toBeLessThanOrEqual(at + 1024 + 512);
    }
  });

  it('with restart markers, the damage lies after the last one in sequence (syncedTo)', () => {
    const data = make(['-restart', '1']);
    const at = Math.floor(data.length / 2 / 512) * 512;
    const r = validateJpeg(new BufferReader(damaged(data, at, noise(512, 9))));
    expect(r.ok).toBe(false);
    expect(r.syncedTo).toBeGreaterThan(0);
    expect(r.syncedTo).toBeLessThanOrEqual(at);
  });

  it('arithmetic coding: only the marker structure is checked', () => {
    const data = make(['-arithmetic']);
    const r = validateJpeg(new BufferReader(data));
    expect(r.ok).toBe(true);
    expect(r.structureOnly).toBe(true);
    expect(r.validUpTo).toBe(data.length);
  });

  it('a file cut short, or an EOI too early, or data after the last MCU, is not whole', () => {
    const data = make([]);
    const cut = validateJpeg(new BufferReader(data.subarray(0, data.length - 300)));
    expect(cut.ok).toBe(false);
    expect(cut.reason).toMatch(/data ends/);
    const early = Buffer.concat([data.subarray(0, Math.floor(data.length * 0.7)), Buffer.from([0xff, 0xd9])]);
    const e = validateJpeg(new BufferReader(early));
    expect(e.ok).toBe(false);
    expect(e.reason).toMatch(/FFD9/);
    expect(e.mcus).toBeLessThan(e.expectedMcus);
    const longer = Buffer.concat([data.subarray(0, data.length - 2), noise(64, 4).map((x) => (x === 0xff ? 0 : x)), Buffer.from([0xff, 0xd9])]);
    expect(validateJpeg(new BufferReader(longer)).ok).toBe(false);
  });
});

describe('the JPEG entropy validator on hand-made structure', () => {
  it('refuses what is not a JPEG, and never throws', () => {
    expect(validateJpeg(new BufferReader(Buffer.from('not a jpeg at all'))).ok).toBe(false);
    expect(validateJpeg(new BufferReader(Buffer.from([0xff, 0xd8, 0xff, 0xd9]))).reason).toMatch(/EOI before any scan/);
    for (let seed = 1; seed < 50; seed++) {
      const b = Buffer.concat([Buffer.from([0xff, 0xd8]), noise(2000, seed)]);
      expect(() => validateJpeg(new BufferReader(b))).not.toThrow();
      expect(validateJpeg(new BufferReader(b)).ok).toBe(false);
    }
  });
});
