import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ByteSource } from '../src/source/source.js';
import { RangeSet, mergeRanges, unreadableParts, firstUnreadableAt } from '../src/source/ranges.js';
import { runPipeline } from '../src/pipeline.js';
import { BufferReader } from '../src/reader.js';
import { recoverCommand } from '../src/commands/recover.js';
import type { Report } from '../src/report.js';
import { faultyReadSync } from './support/faulty.js';
import { fixtureImage, freshOut, manifest, sha256, sha256File, tempDir } from './support/fixtures.js';

const MiB = 1024 * 1024;
const runs = (xs: [number, number][]) => xs.map(([offset, length]) => ({ offset, length }));
const pairs = (rs: readonly { offset: number; length: number }[]) => rs.map((r) => [r.offset, r.length]);

function randomImage(size: number): { file: string; data: Buffer } {
  const data = Buffer.alloc(size);
  let x = 12345;
  for (let i = 0; i < size; i += 4) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    data.writeUInt32LE(x >>> 0, i);
  }
  const file = path.join(tempDir(), `random-${size}-${Math.random().toString(36).slice(2)}.img`);
  fs.writeFileSync(file, data);
  return { file, data };
}

describe('RangeSet', () => {
  it('keeps ranges sorted and merges overlapping and touching ones', () => {
    const s = new RangeSet();
    s.add(1000, 10);
    s.add(0, 5);
    s.add(5, 5); // touches [0,5)
    s.add(2000, 100);
    s.add(1005, 1000); // overlaps [1000,1010) and touches [2000,2100)
    expect(pairs(s.ranges)).toEqual([[0, 10], [1000, 1100]]);
    expect(s.totalBytes).toBe(1110);
    expect(pairs(s.within(5, 1000))).toEqual([[5, 5], [1000, 5]]);
    expect(s.overlaps(10, 990)).toBe(false);
    expect(s.overlaps(10, 991)).toBe(true);
  });

  it('maps a file\'s runs onto bad ranges', () => {
    const bad = mergeRanges(runs([[4096, 512], [10_000, 100]]));
    const fileRuns = runs([[12288, 4096], [0, 5000]]); // second run holds the bad sector
    expect(pairs(unreadableParts(fileRuns, bad))).toEqual([[4096, 512]]);
    expect(firstUnreadableAt(fileRuns, bad)).toBe(4096 + 4096);
    expect(firstUnreadableAt(runs([[0, 100]]), bad)).toBe(-1);
  });
});

describe('ByteSource over unreadable sectors', () => {
  for (const mode of ['linux', 'whole'] as const) {
    it(`zero-fills what fails, returns the rest, remembers merged sector ranges (${mode} read errors)`, () => {
      const { file, data } = randomImage(16 * MiB);
      const bad = runs([[3 * MiB + 1000, 3000], [3 * MiB + 4000, 100], [9 * MiB, 64 * 1024 + 512]]);
      const source = ByteSource.open(file, { readSync: faultyReadSync(bad, mode) });
      const expected = Buffer.from(data);
      // Whole sectors are lost: [3 MiB + 512, 3 MiB + 4608) and the 64.5 KiB at 9 MiB.
      expected.fill(0, 3 * MiB + 512, 3 * MiB + 4608);
      expected.fill(0, 9 * MiB, 9 * MiB + 65536 + 512);
      const got = Buffer.concat([source.read(0, 8 * MiB), source.read(8 * MiB, 8 * MiB)]);
      expect(sha256(got)).toBe(sha256(expected));
      expect(pairs(source.badRanges)).toEqual([[3 * MiB + 512, 4096], [9 * MiB, 65536 + 512]]);
      expect(source.badBytes).toBe(4096 + 65536 + 512);
      // A bad area costs sector reads only in its own 64 KiB pieces, not over the 8 MiB chunk.
      expect(source.stats.calls).toBeLessThan(600);
      // Known bad sectors are not read again (a failing read can take seconds on a real card).
      const before = { ...source.stats };
      expect(source.read(3 * MiB + 512, 4096).equals(Buffer.alloc(4096))).toBe(true);
      expect(source.stats).toEqual(before);
      // A read around them reads only the good parts.
      const around = source.read(3 * MiB, 8192);
      expect(around.equals(expected.subarray(3 * MiB, 3 * MiB + 8192))).toBe(true);
      expect(source.stats.failed).toBe(before.failed);
      source.close();
    });
  }

  it('a bad 4 KiB in an 8 MiB read costs some 150 reads, not one per sector of the chunk', () => {
    const { file } = randomImage(8 * MiB);
    for (const mode of ['linux', 'whole'] as const) {
      const source = ByteSource.open(file, { readSync: faultyReadSync(runs([[3 * MiB, 4096]]), mode) });
      source.read(0, 8 * MiB);
      expect(pairs(source.badRanges)).toEqual([[3 * MiB, 4096]]);
      // Sector by sector over the whole chunk would be 16384 reads; here: the 64 KiB piece around it.
      expect(source.stats.calls, mode).toBeLessThan(200);
      expect(source.stats.failed, mode).toBeLessThanOrEqual(10); // the 8 bad sectors, and the reads that found them
      source.close();
    }
  });

  it('a read that fails once and then works is not recorded', () => {
    const { file, data } = randomImage(MiB);
    let fails = 1;
    const flaky: Parameters<typeof ByteSource.open>[1] = {
      readSync: (fd, buf, off, len, pos) => {
        if (fails-- > 0) throw Object.assign(new Error('EIO'), { code: 'EIO' });
        return fs.readSync(fd, buf, off, len, pos);
      },
    };
    const source = ByteSource.open(file, flaky);
    expect(source.read(0, MiB).equals(data)).toBe(true);
    expect(source.badRanges).toEqual([]);
    source.close();
  });

  it('other errors are not hidden', () => {
    const { file } = randomImage(4096);
    const source = ByteSource.open(file, {
      readSync: () => {
        throw Object.assign(new Error('EBADF'), { code: 'EBADF' });
      },
    });
    expect(() => source.read(0, 512)).toThrow(/EBADF/);
    source.close();
  });

  it('ranges known from a map are zeros and never read', () => {
    const { file, data } = randomImage(2 * MiB);
    const source = ByteSource.open(file, { knownBad: runs([[MiB, 4096], [2 * MiB - 512, 4096]]) });
    const got = source.read(0, 2 * MiB);
    const expected = Buffer.from(data);
    expected.fill(0, MiB, MiB + 4096);
    expected.fill(0, 2 * MiB - 512);
    expect(got.equals(expected)).toBe(true);
    expect(pairs(source.badRanges)).toEqual([[MiB, 4096], [2 * MiB - 512, 512]]); // clipped to the source
    source.close();
  });
});

/** Page-aligned bytes well inside a file's first run. */
function insideFile(image: string, originalPath: string, at = 4096): { offset: number; length: number } {
  const result = runPipeline(new BufferReader(fs.readFileSync(image)));
  const f = result.files.find((x) => x.originalPath === originalPath);
  if (!f) throw new Error(`${originalPath} not found`);
  const start = Math.ceil((f.runs[0].offset + at) / 4096) * 4096;
  if (start + 4096 > f.runs[0].offset + f.runs[0].length) throw new Error(`${originalPath}: run too short`);
  return { offset: start, length: 4096 };
}

describe('recover over a card with read errors (injected EIO)', () => {
  it('writes every file, marks the ones touching unreadable sectors damaged with their ranges', async () => {
    const name = 'demo-card';
    const image = fixtureImage(name);
    const m = manifest(name);
    const live = insideFile(image, '/DCIM/100CANON/IMG_0004.JPG');
    const deleted = insideFile(image, '/DCIM/100CANON/IMG_0003.JPG', 2048);
    const source = ByteSource.open(image, { readSync: faultyReadSync([live, deleted]) });
    const out = path.join(freshOut('eio'), 'out');
    const code = await recoverCommand(source, { out, quiet: true });
    source.close();
    expect(code).toBe(5); // partial: finished, some files damaged
    const report = JSON.parse(fs.readFileSync(path.join(out, 'report.json'), 'utf8')) as Report;
    expect(report.complete).toBe(true);
    expect(pairs(mergeRanges(report.badRanges.map(([offset, length]) => ({ offset, length }))))).toEqual(pairs(mergeRanges([live, deleted])));
    expect(report.summary.unreadableBytes).toBe(8192);

    const liveFile = report.files.find((f) => f.originalPath === '/DCIM/100CANON/IMG_0004.JPG')!;
    expect(liveFile.status).toBe('damaged');
    expect(liveFile.badRanges).toEqual([[live.offset, live.length]]);
    expect(liveFile.notes.join(' ')).toMatch(/unreadable: 4096 byte/);
    const written = fs.readFileSync(path.join(out, liveFile.path!));
    expect(written.length).toBe(liveFile.size);
    const within = live.offset - liveFile.runs[0][0];
    expect(written.subarray(within, within + 4096).equals(Buffer.alloc(4096))).toBe(true);

    // The deleted file's content check may fail on the zeros: it is kept anyway, damaged.
    const deletedFile = report.files.find((f) => f.originalPath === '/DCIM/100CANON/IMG_0003.JPG')!;
    expect(deletedFile, 'deleted file touching a bad sector is still written').toBeDefined();
    expect(deletedFile.status).toBe('damaged');
    expect(deletedFile.badRanges).toEqual([[deleted.offset, deleted.length]]);

    // Everything else is byte-exact.
    let intact = 0;
    for (const f of m.files.filter((x) => x.state === 'live' || x.state === 'deleted')) {
      const hit = report.files.find((x) => x.originalPath === '/' + f.path);
      expect(hit, f.path).toBeDefined();
      if (hit!.badRanges.length) continue;
      expect(hit!.status, f.path).not.toBe('damaged');
      expect(sha256File(path.join(out, hit!.path!)), f.path).toBe(f.sha256);
      intact++;
    }
    expect(intact).toBe(m.files.filter((x) => x.state === 'live' || x.state === 'deleted').length - 2);
  });
});
