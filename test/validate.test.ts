import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { BufferReader } from '../src/reader.js';
import { contentValidator } from '../src/validate.js';
import { runPipeline } from '../src/pipeline.js';
import { fixtureImage, noise } from './support/fixtures.js';

describe('content check of a deleted or lost entry', () => {
  const validate = contentValidator();
  const disk = fs.readFileSync(fixtureImage('quickformat-fat16'));
  const plain = runPipeline(new BufferReader(disk));
  const victim = plain.files.find((f) => f.originalPath === '/DCIM/FOLDER75/IMG_0005.JPG')!;
  const jpeg = disk.subarray(victim.runs[0].offset, victim.runs[0].offset + victim.size);

  it('fails when the name names a known format and the bytes do not start like it', () => {
    expect(validate(new BufferReader(jpeg), jpeg.length, 'IMG_0005.JPG')).toMatchObject({ ok: true, by: 'jpeg' });
    expect(validate(new BufferReader(noise(4096, 7)), 4096, 'IMG_0005.JPG')).toMatchObject({ ok: false, by: 'jpeg', reason: expect.stringMatching(/name says \.JPG/) });
    expect(validate(new BufferReader(Buffer.alloc(4096)), 4096, 'MVI_0001.MOV')).toMatchObject({ ok: false, by: 'bmff' });
    // No format is claimed: no verdict.
    expect(validate(new BufferReader(noise(4096, 7)), 4096, 'NOTES.TXT')).toBeNull();
    expect(validate(new BufferReader(noise(4096, 7)), 4096)).toBeNull();
  });

  it('an old folder\'s photo whose clusters were written over is not written, and says why', () => {
    const overwritten = Buffer.from(disk);
    noise(2048, 3).copy(overwritten, victim.runs[0].offset);
    const r = runPipeline(new BufferReader(overwritten));
    expect(r.files.find((f) => f.originalPath === '/DCIM/FOLDER75/IMG_0005.JPG')).toBeUndefined();
    const why = r.skipped.find((s) => s.originalPath === '/DCIM/FOLDER75/IMG_0005.JPG');
    expect(why?.reason).toMatch(/does not start like one/);
    // The other files of the folder are untouched.
    expect(r.files.filter((f) => f.provenance === 'orphan')).toHaveLength(plain.files.filter((f) => f.provenance === 'orphan').length - 1);
  });
});
