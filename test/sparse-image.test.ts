import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { holesOf } from '../src/source/holes.js';
import { freshOut, haveCommands, noise, noisePhoto, photoCard, recoverHashes, runCli, runTool, sha256 } from './support/fixtures.js';

const MiB = 1024 * 1024;

/** Holes are found through fs-ext (a native addon, optional): without it images are read whole. */
const fsExtLoads = (() => {
  try {
    createRequire(import.meta.url)('fs-ext');
    return true;
  } catch {
    return false;
  }
})();

describe.runIf(process.platform === 'linux')('the holes of a sparse image', () => {
  it.runIf(fsExtLoads)('are found where the file system keeps no data, and only there', () => {
    const dir = freshOut('holes');
    const file = path.join(dir, 'sparse.img');
    // 32 MiB: data at 0 and at 20 MiB, 64 KiB each; holes between and after.
    const fd = fs.openSync(file, 'w');
    fs.ftruncateSync(fd, 32 * MiB);
    fs.writeSync(fd, noise(64 * 1024, 1), 0, 64 * 1024, 0);
    fs.writeSync(fd, noise(64 * 1024, 2), 0, 64 * 1024, 20 * MiB);
    fs.closeSync(fd);
    const rd = fs.openSync(file, 'r');
    try {
      const holes = holesOf(rd, 32 * MiB, MiB);
      // File systems keep data in blocks (4 KiB here); a hole is at least a block from the data.
      expect(holes).toHaveLength(2);
      expect(holes[0].offset).toBeGreaterThanOrEqual(64 * 1024);
      expect(holes[0].offset + holes[0].length).toBeLessThanOrEqual(20 * MiB);
      expect(holes[0].length).toBeGreaterThan(19 * MiB);
      expect(holes[1].offset).toBeGreaterThanOrEqual(20 * MiB + 64 * 1024);
      expect(holes[1].offset + holes[1].length).toBe(32 * MiB);
      // What they say is zeros reads as zeros.
      for (const h of holes) {
        const b = Buffer.alloc(h.length, 0xaa);
        fs.readSync(rd, b, 0, h.length, h.offset);
        expect(b.every((x) => x === 0)).toBe(true);
      }
      expect(holesOf(rd, 32 * MiB, 64 * MiB)).toHaveLength(0);
    } finally {
      fs.closeSync(rd);
    }
    // A file written whole has none (and is not even looked at: its blocks cover its size).
    const dense = path.join(dir, 'dense.img');
    fs.writeFileSync(dense, Buffer.alloc(8 * MiB));
    const dd = fs.openSync(dense, 'r');
    expect(holesOf(dd, 8 * MiB, MiB)).toEqual([]);
    fs.closeSync(dd);
  });
});

describe.runIf(process.platform === 'linux' && haveCommands('mkfs.fat', 'mcopy', 'mmd', 'mdel', 'cjpeg', 'cp'))('a sparse copy of a quick-formatted card', () => {
  it('lists what the full copy lists, without reading its holes, and recovers every photo byte-exact', () => {
    const dir = freshOut('sparse-card');
    // 80 MiB: one region of more than READ_AHEAD_MIN, read by the reading thread; the photos
    // take the first few MiB, the rest is free space that the sparse copy keeps as holes.
    const photos = Array.from({ length: 24 }, (_, i) => noisePhoto(256 + 16 * i, 192, 700 + i));
    const mkfs = ['-F', '32', '-s', '1', '-i', '0C0FFEE7'];
    const { img, names } = photoCard(dir, 80, mkfs, photos);
    runTool('mdel', ['-i', img, ...names.filter((_, i) => i % 4 === 0).map((n) => `::DCIM/100TEST/${n}`)]);
    // Quick-formatted: the folder is an old one now, found by the sweep that rides along the scan.
    runTool('mkfs.fat', [...mkfs, '-n', 'CARD', img]);
    const sparse = path.join(dir, 'sparse.img');
    runTool('cp', ['--sparse=always', img, sparse]);
    expect(fs.statSync(sparse).blocks * 512).toBeLessThan(40 * MiB);

    const files = (image: string) => {
      const r = runCli(['list', '--json', '-q', image], { CARDRESCUE_TIMING: '1' });
      expect(r.status, r.stderr).toBe(0);
      return { files: (JSON.parse(r.stdout) as { files: unknown[] }).files, stderr: r.stderr };
    };
    const full = files(img);
    const holey = files(sparse);
    expect(holey.files).toEqual(full.files);
    expect(full.stderr).not.toContain('in holes of the image');
    const skipped = /(\d+) of the bytes in holes of the image, not read/.exec(holey.stderr);
    if (fsExtLoads) {
      expect(skipped, holey.stderr).not.toBeNull();
      expect(Number(skipped![1])).toBeGreaterThan(32 * MiB);
    } else expect(skipped).toBeNull();
    expect(full.files.filter((f) => (f as { provenance: string }).provenance === 'orphan').length).toBeGreaterThan(0);

    const r = recoverHashes(sparse, path.join(dir, 'out'));
    expect(r.status, r.stderr).toBe(0);
    for (const [i, p] of photos.entries()) expect(r.hashes.has(sha256(p)), names[i]).toBe(true);
  });
});
