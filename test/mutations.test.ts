import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { BufferReader } from '../src/reader.js';
import { runPipeline } from '../src/pipeline.js';
import { fixtureImage, manifest } from './support/fixtures.js';

/** xorshift32: the same cases on every run. */
function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 0x100000000;
  };
}

const IMAGES = ['fat12', 'fat16-mbr', 'fat32-mbr', 'exfat', 'gpt', 'quickformat-fat16'];
const CASES_PER_IMAGE = 40;

/**
 * Bit flips and byte runs where the structures live (boot sectors, FATs, directories,
 * file headers), and truncations: the whole pipeline must finish without throwing, in
 * bounded time, and whatever it calls whole must still be one of the original files.
 */
describe.each(IMAGES)('mutated %s', (name) => {
  const original = fs.readFileSync(fixtureImage(name));
  const known = new Set(manifest(name).files.map((f) => f.sha256));
  const hot = original.length >= 8 * 1024 * 1024 ? 6 * 1024 * 1024 : original.length;

  it(`survives ${CASES_PER_IMAGE} seeded mutations`, async () => {
    const { createHash } = await import('node:crypto');
    const random = rng(name.length * 7919);
    for (let i = 0; i < CASES_PER_IMAGE; i++) {
      const img = Buffer.from(original);
      const kind = i % 4;
      let bytes = img;
      if (kind === 0) for (let k = 0; k < 32; k++) img[Math.floor(random() * hot)] ^= 1 << Math.floor(random() * 8);
      else if (kind === 1) {
        const at = Math.floor(random() * hot);
        img.fill(random() < 0.5 ? 0 : 0xff, at, at + Math.floor(random() * 4096));
      } else if (kind === 2) bytes = img.subarray(0, Math.floor(random() * img.length));
      else for (let k = 0; k < 8; k++) img.writeUInt32LE(Math.floor(random() * 0x100000000), Math.floor(random() * Math.min(hot, 64 * 1024)) & ~3);
      const started = Date.now();
      const result = runPipeline(new BufferReader(bytes));
      expect(Date.now() - started, `case ${i}`).toBeLessThan(5000);
      // A file the walkers vouch for must be real: the mutations never create a valid new file.
      for (const f of result.files.filter((x) => x.validation?.ok && x.status === 'ok')) {
        const data = Buffer.concat(f.runs.map((r) => bytes.subarray(r.offset, r.offset + r.length)));
        const sha = createHash('sha256').update(data).digest('hex');
        if (!known.has(sha)) {
          // Mutated bytes inside an original are possible (a flip in image data); the file must still be as long as an original.
          expect(manifest(name).files.some((m) => m.size === f.size), `case ${i}: ${f.originalPath ?? f.name} ${f.size}`).toBe(true);
        }
      }
    }
  });
});

describe('nothing to find', () => {
  it('random bytes give no files', () => {
    const random = rng(42);
    const buf = Buffer.alloc(8 * 1024 * 1024);
    for (let i = 0; i < buf.length; i++) buf[i] = Math.floor(random() * 256);
    expect(runPipeline(new BufferReader(buf)).files).toEqual([]);
  });

  it('a zeroed card gives no files', () => {
    expect(runPipeline(new BufferReader(Buffer.alloc(8 * 1024 * 1024))).files).toEqual([]);
  });
});
