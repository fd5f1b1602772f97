import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { fixtureImage, freshOut, manifest, runCli, sha256File } from './support/fixtures.js';
import type { Report } from '../src/report.js';
import { directoryStart, orphanPaths, type OrphanDirectory } from '../parsers/fat/orphans.js';
import type { DirEntry } from '../parsers/fat/dirent.js';

describe.each(['quickformat-fat16', 'quickformat-fat32', 'quickformat-exfat', 'reformat-fat16'])('%s: a card formatted by the camera', (name) => {
  const m = manifest(name);
  const out = path.join(freshOut(name), 'out');
  const r = runCli(['recover', fixtureImage(name), '--out', out]);
  const report = JSON.parse(fs.readFileSync(path.join(out, 'report.json'), 'utf8')) as Report;

  it('runs cleanly', () => {
    expect(r.status, r.stderr).toBe(0);
  });

  it('brings files of surviving old folders back under their original path and name', () => {
    const orphans = m.files.filter((f) => (f.state as string).startsWith('orphan'));
    expect(orphans.length).toBeGreaterThan(0);
    for (const f of orphans) {
      const named = f.state === 'orphan';
      const hit = report.files.find((x) => (named ? x.originalPath === '/' + f.path : x.name === path.basename(f.path)) && x.provenance === 'orphan');
      expect(hit, `${f.path}: ${report.files.map((x) => `${x.provenance}:${x.originalPath ?? x.path}`).join(', ')}`).toBeDefined();
      if (named) expect(hit!.path).toBe(`orphaned/${f.path}`);
      // The folder's own name was in an overwritten parent: it gets a clearly made-up one under DCIM.
      else expect(hit!.path).toMatch(new RegExp(`^orphaned/DCIM/FOLDER\\d+/${path.basename(f.path)}$`));
      expect(hit!.sha256).toBe(f.sha256);
      expect(sha256File(path.join(out, hit!.path!))).toBe(f.sha256);
      expect(fs.statSync(path.join(out, hit!.path!)).mtime.toISOString()).toBe(f.mtime);
    }
  });

  it('carves the files whose folder was overwritten, byte-exact', () => {
    for (const f of m.files.filter((x) => x.state === 'carved')) {
      const hits = report.files.filter((x) => x.sha256 === f.sha256);
      expect(hits, f.path).toHaveLength(1);
      expect(hits[0].provenance).toBe('carved');
    }
  });

  it('keeps the live files and writes every file once', () => {
    for (const f of m.files.filter((x) => x.state === 'live')) {
      const hit = report.files.find((x) => x.originalPath === '/' + f.path && x.provenance === 'allocated');
      expect(hit?.sha256).toBe(f.sha256);
    }
    const shas = report.files.map((f) => f.sha256);
    expect(new Set(shas).size).toBe(shas.length);
    const overwritten = m.files.filter((x) => x.state === 'overwritten');
    for (const f of overwritten) expect(report.files.some((x) => x.sha256 === f.sha256)).toBe(false);
  });

  it('writes no junk: every file written is one of the originals', () => {
    const known = new Set(m.files.map((f) => f.sha256));
    for (const f of report.files) expect(known.has(f.sha256!), `${f.path} is not an original`).toBe(true);
  });
});

function dirEntry(name: string, cluster: number, dir = true): DirEntry {
  return { offset: 0, shortName: name, deleted: false, attributes: dir ? 0x10 : 0x20, firstCluster: cluster, clusterHigh: 0, size: 0, isDot: false };
}

describe('orphaned folder paths', () => {
  it('recognises the dot entries that open a folder', () => {
    const head = Buffer.alloc(64);
    head.write('.          ', 0, 'latin1');
    head[11] = 0x10;
    head.writeUInt16LE(7, 26);
    head.write('..         ', 32, 'latin1');
    head[43] = 0x10;
    head.writeUInt16LE(3, 58);
    expect(directoryStart(head, false)).toEqual({ self: 7, parent: 3 });
    head[0] = 0x41;
    expect(directoryStart(head, false)).toBeNull();
  });

  it('links folders through their parents, guesses DCIM, and hangs the parentless under the lost root', () => {
    const dirs: OrphanDirectory[] = [
      { cluster: 5, dots: { self: 5, parent: 0 }, entries: [dirEntry('100CANON', 6)] },
      { cluster: 6, dots: { self: 6, parent: 5 }, entries: [] },
      { cluster: 9, dots: { self: 9, parent: 40 }, entries: [] },
      { cluster: 11, dots: { self: 11, parent: 12 }, entries: [] },
      { cluster: 12, dots: { self: 12, parent: 11 }, entries: [] },
    ];
    const paths = orphanPaths(dirs, '_lost');
    expect(paths.get(6)).toEqual({ path: ['DCIM', '100CANON'], guessed: true });
    expect(paths.get(9)).toEqual({ path: ['_lost', 'FOLDER9'], guessed: true });
    expect(paths.get(11)?.path.length).toBeGreaterThan(0);
    const live = orphanPaths(dirs.slice(2, 3), '_lost', (c) => (c === 40 ? ['DCIM'] : undefined));
    expect(live.get(9)?.path).toEqual(['DCIM', 'FOLDER9']);
  });
});

describe('a card formatted again with another cluster size', () => {
  it('finds the old files through the geometry solved from the old folders', () => {
    const out = path.join(freshOut('reformat'), 'out');
    expect(runCli(['recover', fixtureImage('reformat-fat16'), '--out', out]).status).toBe(0);
    const report = JSON.parse(fs.readFileSync(path.join(out, 'report.json'), 'utf8')) as Report;
    const today = report.volumes[0].clusterSize!;
    const orphans = report.files.filter((f) => f.provenance === 'orphan');
    expect(orphans.length).toBe(manifest('reformat-fat16').files.length);
    for (const f of orphans) expect(f.notes.join(' ')).toMatch(new RegExp(`previous format's geometry \\(cluster size (?!${today}\\b)\\d+`));
  });
});

describe('FAT32 old folders: the high word of a first cluster', () => {
  it('of an entry that was live when its folder was lost is trusted: one start cluster, no candidates', () => {
    const r = runCli(['list', '--json', fixtureImage('quickformat-fat32')]);
    const files = (JSON.parse(r.stdout) as { files: { provenance: string; notes?: string[] }[] }).files.filter((f) => f.provenance === 'orphan');
    expect(files.length).toBeGreaterThan(3);
    for (const f of files) expect((f.notes ?? []).join(' ')).not.toMatch(/high word/);
  });
});
