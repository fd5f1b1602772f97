import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { BufferReader, type ByteRun } from '../src/reader.js';
import { runPipeline, type PipelineOptions } from '../src/pipeline.js';
import type { RecoveredFile } from '../src/record.js';
import { fixtureImage, sha256 } from './support/fixtures.js';
import { HEAD, OWN_READ_CHUNK } from '../src/scan-memory.js';
import { INFER_PIECE } from '../src/pool.js';

/**
 * The orphan-folder sweep rides along the carving scan so that a card is read once. That
 * must not change what comes back: every fixture gives the same files, names, provenance,
 * runs and status either way, and the files recovered from old folders are really read once.
 */
const IMAGES = [
  'demo-card', 'exfat', 'fat12', 'fat16-mbr', 'fat16-superfloppy', 'fat32-mbr', 'fragmented-deleted',
  'fragmented-quickformat', 'gpt', 'quickformat-exfat', 'quickformat-fat16', 'quickformat-fat32', 'reformat-fat16',
];

function summary(disk: Buffer, files: RecoveredFile[]): string[] {
  const bytes = (runs: ByteRun[]) => Buffer.concat(runs.map((r) => disk.subarray(r.offset, r.offset + r.length)));
  return files
    .map((f) => [f.provenance, f.originalPath ?? f.name, f.status, f.basis, JSON.stringify(f.runs), sha256(bytes(f.runs))].join(' '))
    .sort();
}

/** Counts the bytes read from the source, per offset range touched. */
class CountingReader extends BufferReader {
  bytesRead = 0;
  /** Where each of the scan's own chunk reads began, in order (not the file system's reads, nor the pieces a geometry is inferred from). */
  chunkReads: number[] = [];
  override read(offset: number, length: number): Buffer {
    const b = super.read(offset, length);
    this.bytesRead += b.length;
    return b;
  }
  readInto(target: Buffer, offset: number): number {
    const b = super.read(offset, target.length);
    b.copy(target);
    this.bytesRead += b.length;
    if (target.length === OWN_READ_CHUNK + HEAD) this.chunkReads.push(offset);
    return b.length;
  }
}

describe('the orphan sweep during the carving scan', () => {
  it.each(IMAGES)('%s: the same files as sweeping before carving', (name) => {
    const disk = fs.readFileSync(fixtureImage(name));
    for (const extra of [{}, { keepPartial: true }] as PipelineOptions[]) {
      const during = runPipeline(new BufferReader(disk), extra);
      const before = runPipeline(new BufferReader(disk), { ...extra, sweepDuringScan: false });
      expect(summary(disk, during.files)).toEqual(summary(disk, before.files));
      expect(during.skipped.map((s) => s.originalPath).sort()).toEqual(before.skipped.map((s) => s.originalPath).sort());
    }
  });

  it('a start whose walk ran into an old folder\'s file is walked again once that file owns its clusters', () => {
    // quickformat-fat16: old folder DCIM/FOLDER75 lists IMG_0008.JPG. Move it to free space
    // (patching its directory entry) and lay another JPEG in two pieces around it: carving
    // before the sweep skips IMG_0008's clusters and finds the other whole; during the scan
    // its walk first runs into IMG_0008's header and fails, and must be tried again.
    const disk = Buffer.from(fs.readFileSync(fixtureImage('quickformat-fat16')));
    const CS = 2048;
    const DATA = 67584;
    const plain = runPipeline(new BufferReader(disk));
    const o = plain.files.find((f) => f.originalPath === '/DCIM/FOLDER75/IMG_0008.JPG')!;
    const x = plain.files.find((f) => f.provenance === 'carved' && f.size > 8 * CS)!;
    const oBytes = Buffer.from(disk.subarray(o.runs[0].offset, o.runs[0].offset + o.size));
    const xBytes = Buffer.from(disk.subarray(x.runs[0].offset, x.runs[0].offset + x.size));
    const at = (cluster: number) => DATA + (cluster - 2) * CS;
    const first = 400;
    xBytes.subarray(0, 4 * CS).copy(disk, at(first));
    const oCluster = first + 4;
    oBytes.copy(disk, at(oCluster));
    const after = oCluster + Math.ceil(o.size / CS);
    xBytes.subarray(4 * CS).copy(disk, at(after));
    const entry = disk.indexOf(Buffer.from('IMG_0008JPG'));
    expect(entry).toBeGreaterThan(0);
    disk.writeUInt16LE(oCluster, entry + 26);

    const during = runPipeline(new BufferReader(disk));
    const before = runPipeline(new BufferReader(disk), { sweepDuringScan: false });
    expect(summary(disk, during.files)).toEqual(summary(disk, before.files));
    const moved = during.files.find((f) => f.originalPath === '/DCIM/FOLDER75/IMG_0008.JPG')!;
    expect(moved.runs).toEqual([{ offset: at(oCluster), length: o.size }]);
    const split = during.files.filter((f) => f.runs[0].offset === at(first));
    expect(split).toHaveLength(1);
    expect(split[0].runs).toEqual([
      { offset: at(first), length: 4 * CS },
      { offset: at(after), length: x.size - 4 * CS },
    ]);
    expect(sha256(Buffer.concat(split[0].runs.map((r) => disk.subarray(r.offset, r.offset + r.length))))).toBe(sha256(xBytes));
  });

  it('the scan reads the card from start to end: the space before the partition first', () => {
    const disk = fs.readFileSync(fixtureImage('demo-card'));
    const reader = new CountingReader(disk);
    const result = runPipeline(reader);
    expect(result.analysis.layout.gaps.some((g) => g.offset === 512)).toBe(true);
    expect(INFER_PIECE + 64).not.toBe(OWN_READ_CHUNK + HEAD);
    expect(reader.chunkReads.length).toBeGreaterThan(2);
    expect(reader.chunkReads[0]).toBeLessThan(4 * 1024 * 1024);
    expect(reader.chunkReads).toEqual([...reader.chunkReads].sort((a, b) => a - b));
  });

  it('a quick-formatted card is read about once, not twice', () => {
    const disk = fs.readFileSync(fixtureImage('quickformat-exfat'));
    const once = new CountingReader(disk);
    const twice = new CountingReader(disk);
    const a = runPipeline(once);
    runPipeline(twice, { sweepDuringScan: false });
    expect(a.files.filter((f) => f.provenance === 'orphan').length).toBeGreaterThan(10);
    expect(once.bytesRead).toBeLessThan(twice.bytesRead * 0.75);
    // One pass over the card plus the small reads the file system and the old folders need.
    expect(once.bytesRead).toBeLessThan(disk.length * 1.25);
  });
});
