/**
 * The parser against volumes real tools made: a fresh mkfs.exfat volume (a plain file, no root
 * needed) and, once it is committed, the exFAT fixture image with its manifest.
 */
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { exfatDriver } from '../../parsers/exfat/index.js';
import { BufferReader, RunsReader, SliceReader } from '../../src/reader.js';
import type { FileSystem, FsEntry } from '../../parsers/types.js';
import { FIXTURES, fixtureImage, manifest, sha256, tempDir } from '../support/fixtures.js';

const mkfs = ['/usr/sbin/mkfs.exfat', '/sbin/mkfs.exfat', '/usr/bin/mkfs.exfat'].find((p) => fs.existsSync(p));

function formatted(size: number, args: string[]): Buffer {
  const file = path.join(tempDir(), `mkfs-${size}-${args.join('_')}.img`);
  fs.writeFileSync(file, Buffer.alloc(0));
  fs.truncateSync(file, size);
  const r = spawnSync(mkfs!, [...args, file], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`mkfs.exfat failed: ${r.stdout}${r.stderr}`);
  return fs.readFileSync(file);
}

describe.skipIf(!mkfs)('exFAT made by mkfs.exfat', () => {
  it.each([
    ['4 KiB clusters', 8 * 1024 * 1024, ['-c', '4096', '-b', '4096']],
    ['32 KiB clusters', 32 * 1024 * 1024, ['-c', '32K']],
    ['default', 64 * 1024 * 1024, []],
  ])('opens a fresh volume (%s) with nothing to complain about', (_name, size, args) => {
    const img = formatted(size, ['-L', 'CARD', ...args]);
    const r = new BufferReader(img);
    expect(exfatDriver.probe(r)).toBe(true);
    const v = exfatDriver.open(r);
    expect(v.diagnostics.filter((d) => d.severity !== 'info')).toEqual([]);
    // The up-case table mkfs writes is the full one: its checksum must agree with ours.
    expect(v.diagnostics.map((d) => d.code)).not.toContain('exfat.upcase-checksum');
    expect(v.geometry.label).toBe('CARD');
    expect(v.geometry.bootSector).toBe('main');
    expect(v.geometry.serial).toMatch(/^[0-9A-F]{4}-[0-9A-F]{4}$/);
    expect(v.geometry.volumeSize).toBe(size);
    expect(v.entries).toEqual([]);
    expect(v.isAllocated(v.geometry.rootCluster!)).toBe(true);
    const { clusterCount } = v.geometry;
    expect(v.isAllocated(clusterCount + 1)).toBe(false);
  });

  it('falls back to the backup boot region of a real volume', () => {
    const img = formatted(8 * 1024 * 1024, ['-c', '4096', '-b', '4096']);
    img.fill(0xff, 0, 512);
    const v = exfatDriver.open(new BufferReader(img));
    expect(v.geometry.bootSector).toBe('backup');
    expect(v.diagnostics.map((d) => d.code)).toContain('exfat.boot-backup');
  });
});

const hasFixture = fs.existsSync(path.join(FIXTURES, 'exfat.img.gz')) && fs.existsSync(path.join(FIXTURES, 'exfat.manifest.json'));

/** Optional per-file facts the fixture manifest may carry. */
interface FixtureExtras {
  firstCluster?: number;
  fragments?: number;
  noFatChain?: boolean;
}

function entryPath(e: FsEntry): string {
  return [...e.folder, e.name].join('/');
}

function bytesOf(v: FileSystem, volume: SliceReader, e: FsEntry, limit = e.size): Buffer {
  const runs = e.extents.map((x) => ({ offset: v.clusterOffset(x.first), length: x.count * v.geometry.clusterSize }));
  return new RunsReader(volume, runs).read(0, Math.min(limit, e.size));
}

describe.skipIf(!hasFixture)('exFAT fixture image', () => {
  const m = hasFixture ? manifest('exfat') : undefined;
  const open = () => {
    const disk = fs.readFileSync(fixtureImage('exfat'));
    const base = new BufferReader(disk);
    const volume = new SliceReader(base, m!.partitionOffset, disk.length - m!.partitionOffset);
    return { volume, v: exfatDriver.open(volume), probe: exfatDriver.probe(volume) };
  };

  it('is exFAT and opens without errors', () => {
    const { v, probe } = open();
    expect(probe).toBe(true);
    expect(m!.fs).toMatch(/exfat/i);
    expect(v.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
    if (m!.clusterSize) expect(v.geometry.clusterSize).toBe(m!.clusterSize);
    if (m!.label) expect(v.geometry.label).toBe(m!.label);
    const extra = m as unknown as { clusterCount?: number; serial?: string; directories?: string[] };
    if (extra.clusterCount) expect(v.geometry.clusterCount).toBe(extra.clusterCount);
    if (extra.serial) expect(v.geometry.serial?.replace('-', '')).toBe(extra.serial.replace('-', '').toUpperCase());
    for (const d of extra.directories ?? []) {
      expect(v.entries.some((e) => e.isDirectory && !e.deleted && entryPath(e) === d), d).toBe(true);
    }
  });

  it('lists every live file under its path, byte-exact, with its modification time', () => {
    const { v, volume } = open();
    for (const f of m!.files.filter((x) => x.state === 'live')) {
      const want = f.path.replace(/^\//, '');
      const hits = v.entries.filter((e) => !e.deleted && !e.isDirectory && entryPath(e) === want);
      expect(hits, `${f.path}; entries: ${v.entries.map(entryPath).join(', ')}`).toHaveLength(1);
      const e = hits[0];
      expect(e.size, f.path).toBe(f.size);
      expect(sha256(bytesOf(v, volume, e)), f.path).toBe(f.sha256);
      expect(e.mtime?.toISOString(), f.path).toBe(f.mtime);
      const extra = f as unknown as FixtureExtras;
      if (extra.firstCluster !== undefined && f.size > 0) expect(e.firstCluster, f.path).toBe(extra.firstCluster);
      if (extra.fragments !== undefined) expect(e.extents.length, f.path).toBe(extra.fragments);
      if (extra.noFatChain !== undefined && f.size > 0) expect(e.basis, f.path).toBe(extra.noFatChain ? 'no-fat-chain' : 'chain');
    }
  });

  it('finds every deleted file; exact ones byte-exact, guessed ones at least placed', () => {
    const { v, volume } = open();
    for (const f of m!.files.filter((x) => x.state === 'deleted')) {
      const want = f.path.replace(/^\//, '');
      const hits = v.entries.filter((e) => e.deleted && !e.isDirectory && entryPath(e) === want);
      expect(hits.length, `${f.path} deleted; entries: ${v.entries.map(entryPath).join(', ')}`).toBeGreaterThanOrEqual(1);
      const e = hits[hits.length - 1];
      expect(e.size, f.path).toBe(f.size);
      expect(e.mtime?.toISOString(), f.path).toBe(f.mtime);
      const extra = f as unknown as FixtureExtras;
      if (extra.firstCluster !== undefined) expect(e.firstCluster, f.path).toBe(extra.firstCluster);
      if (extra.noFatChain) expect(e.basis, f.path).toBe('no-fat-chain');
      if (e.overwritten) continue;
      if (e.basis !== 'contiguous-guess') {
        expect(sha256(bytesOf(v, volume, e)), `${f.path} (${e.basis})`).toBe(f.sha256);
      } else {
        expect(bytesOf(v, volume, e).length, f.path).toBeGreaterThan(0);
      }
    }
  });
});
