import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { BufferReader } from '../src/reader.js';
import { runPipeline } from '../src/pipeline.js';
import { caseSeed, mutate, rng, structureTargets } from '../src/fuzz/mutate.js';
import { caseOptions, checkCase } from '../src/fuzz/check.js';
import { knownFiles } from '../src/fuzz/images.js';
import { fixtureImage } from './support/fixtures.js';

/**
 * A fixed-seed slice of `npm run fuzz` (src/fuzz/): the same mutations — bit flips, byte
 * runs, hostile integers, copied blocks and truncations aimed at partition tables, boot
 * sectors, FATs, directories and file headers — and the same checks: the whole pipeline
 * and the writer finish without throwing, in bounded time, with sane runs, and whatever a
 * walker vouches for is (nearly always) one of the original files.
 */
const IMAGES = ['fat12', 'fat16-mbr', 'fat32-mbr', 'exfat', 'gpt', 'quickformat-fat16', 'quickformat-exfat', 'demo-card'];
const CASES_PER_IMAGE = 50;
const SEED = 20261122;

describe.each(IMAGES)('mutated %s', (name) => {
  it(`survives ${CASES_PER_IMAGE} seeded mutations`, () => {
    const image = fs.readFileSync(fixtureImage(name));
    const targets = structureTargets(new BufferReader(image));
    const known = knownFiles(name);
    let suspects = 0;
    for (let i = 0; i < CASES_PER_IMAGE; i++) {
      const seed = caseSeed(SEED + name.length, i);
      const m = mutate(image, targets, seed);
      try {
        const result = checkCase(m.bytes, known, { pipeline: caseOptions(seed) });
        expect(result.ms, `case ${i}: ${m.ops.join('; ')}`).toBeLessThan(5000);
        expect(result.problems, `case ${i}: ${m.ops.join('; ')}`).toEqual([]);
        suspects += result.suspects.length ? 1 : 0;
      } finally {
        m.undo();
      }
    }
    // A walker may follow a mutated length field to a plausible end: rare, and never a crash.
    expect(suspects).toBeLessThanOrEqual(Math.ceil(CASES_PER_IMAGE * 0.04));
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
