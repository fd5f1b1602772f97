import fs from 'node:fs';
import path from 'node:path';
import { BufferReader } from '../../src/reader.js';
import { runPipeline } from '../../src/pipeline.js';
import { fixtureImage, tempDir } from './fixtures.js';

/**
 * A card without a file system, `size` bytes of JPEG copies (the demo card's photos) one
 * after another at 4 KiB steps: many files to carve and write, for tests that need a
 * recovery that takes a while or fills a disk. Returns the image path and how many copies.
 */
export function jpegCardImage(size: number, name = `jpegs-${size}`): { image: string; copies: number; jpegs: Buffer[] } {
  const demo = fs.readFileSync(fixtureImage('demo-card'));
  const jpegs = runPipeline(new BufferReader(demo), { carve: false })
    .files.filter((f) => f.format === 'jpeg' && f.provenance === 'allocated' && f.status === 'ok')
    .map((f) => Buffer.concat(f.runs.map((r) => demo.subarray(r.offset, r.offset + r.length))));
  if (jpegs.length === 0) throw new Error('no JPEGs on the demo card');
  const out = path.join(tempDir(), `${name}.img`);
  const fd = fs.openSync(out, 'w');
  const STEP = 4096;
  const chunk = Buffer.alloc(8 * 1024 * 1024);
  let pos = 0;
  let copies = 0;
  let used = 0;
  const flush = () => {
    fs.writeSync(fd, chunk, 0, used, pos);
    pos += used;
    used = 0;
    chunk.fill(0);
  };
  for (;;) {
    const j = jpegs[copies % jpegs.length];
    const span = Math.ceil(j.length / STEP) * STEP;
    if (pos + used + span > size) break;
    if (used + span > chunk.length) flush();
    j.copy(chunk, used);
    used += span;
    copies++;
  }
  flush();
  fs.ftruncateSync(fd, size);
  fs.closeSync(fd);
  return { image: out, copies, jpegs };
}
