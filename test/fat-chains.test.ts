import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { BufferReader } from '../src/reader.js';
import { runPipeline } from '../src/pipeline.js';
import type { FsEntry } from '../parsers/types.js';
import { fixtureImage } from './support/fixtures.js';

/**
 * Chains that go wrong on a real card (mkfs.fat + mtools fixture, no partition table): one
 * that loops back on itself, and one that runs into another file's clusters.
 */
describe('FAT16 chains that loop or cross', () => {
  const clean = fs.readFileSync(fixtureImage('fat16-superfloppy'));
  const bytesPerSector = clean.readUInt16LE(11);
  const reserved = clean.readUInt16LE(14);
  const fatCount = clean[16];
  const fatSectors = clean.readUInt16LE(22);
  /** Point `cluster`'s FAT entry at `next`, in every FAT copy. */
  const link = (img: Buffer, cluster: number, next: number) => {
    for (let k = 0; k < fatCount; k++) img.writeUInt16LE(next, (reserved + k * fatSectors) * bytesPerSector + 2 * cluster);
  };
  const analyse = (img: Buffer) => runPipeline(new BufferReader(img), { carve: false }).analysis.volumes[0];
  const before = analyse(clean);
  const live = before.fs!.entries.filter((e) => !e.isDirectory && !e.deleted && e.extents.length > 0);
  const clusters = (e: FsEntry) => e.extents.flatMap((x) => Array.from({ length: x.count }, (_, i) => x.first + i));
  const long = live.filter((e) => clusters(e).length >= 4);
  const find = (entries: FsEntry[], e: FsEntry) => entries.find((x) => x.folder.join('/') === e.folder.join('/') && x.name === e.name)!;

  it('the card has files of four clusters or more to bend', () => {
    expect(long.length).toBeGreaterThanOrEqual(2);
    for (const e of long) expect(e.notes.join(' ')).not.toMatch(/loops|cross-linked/);
  });

  it('a chain that loops back stops there, and says so', () => {
    const a = long[0];
    const chain = clusters(a);
    const img = Buffer.from(clean);
    link(img, chain[2], chain[0]);
    const after = analyse(img);
    const bent = find(after.fs!.entries, a);
    expect(bent.notes).toContain(`chain loops back to cluster ${chain[0]}`);
    expect(clusters(bent)).toEqual(chain.slice(0, 3));
    expect(after.diagnostics.some((d) => d.code === 'fat.chain-loop')).toBe(true);
    expect(after.diagnostics.some((d) => d.code === 'fat.cross-link')).toBe(false);
    const file = after.plan!.files.find((f) => f.name === a.name && f.provenance === 'allocated')!;
    expect(file.status).toBe('damaged');
  });

  it('a chain that runs into another file\'s clusters is cross-linked, not a loop', () => {
    const [a, b] = long;
    const chainA = clusters(a);
    const chainB = clusters(b);
    const img = Buffer.from(clean);
    // b's chain turns into a's after its first cluster (a is listed first, so it claims them first).
    link(img, chainB[0], chainA[1]);
    const after = analyse(img);
    const crossed = find(after.fs!.entries, b);
    expect(crossed.notes).toContain(`cluster ${chainA[1]} is cross-linked with another file`);
    expect(crossed.notes.join(' ')).not.toMatch(/loops back/);
    expect(clusters(crossed).slice(0, 2)).toEqual([chainB[0], chainA[1]]);
    expect(after.diagnostics.some((d) => d.code === 'fat.cross-link')).toBe(true);
    expect(after.diagnostics.some((d) => d.code === 'fat.chain-loop')).toBe(false);
    // a itself is untouched.
    expect(clusters(find(after.fs!.entries, a))).toEqual(chainA);
  });
});
