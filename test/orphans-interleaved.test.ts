import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { fixtureImage, freshOut, manifest, runCli, sha256File, type Manifest } from './support/fixtures.js';
import type { Report, ReportFile } from '../src/report.js';

/**
 * quickformat-interleaved (fixtures/build-quickformat-interleaved.sh): DCIM/100CANON and MISC
 * grew in turns on a FAT16 card with 512-byte clusters, then the card was quick-formatted.
 * Each folder's later clusters lie between the other's and the files' data, two of them right
 * after a cluster of the other folder; only the entries (split long names, names going on)
 * say which folder a later cluster belongs to.
 */
const NAME = 'quickformat-interleaved';
const CANON = 'DCIM/100CANON/';
const MISC = 'MISC/';

type InterleavedManifest = Manifest & {
  oldFolders: Record<string, number[]>;
  traps: { cluster: number; what: string }[];
};

describe(`${NAME}: two old folders whose clusters interleave`, () => {
  const m = manifest(NAME) as InterleavedManifest;
  const out = path.join(freshOut(NAME), 'out');
  const r = runCli(['recover', fixtureImage(NAME), '--out', out]);
  const report = JSON.parse(fs.readFileSync(path.join(out, 'report.json'), 'utf8')) as Report;
  const canon = m.files.filter((f) => f.path.startsWith(CANON));
  const misc = m.files.filter((f) => f.path.startsWith(MISC));
  const listing = () => report.files.map((x) => `${x.provenance}:${x.path}`).join('\n');
  /** The orphan written for a manifest file, found by its (long) name. */
  const orphanOf = (p: string): ReportFile | undefined =>
    report.files.find((x) => x.provenance === 'orphan' && x.name === path.basename(p));
  const lostFolderOf = (x: ReportFile) => /^orphaned\/_lost_folders\/(FOLDER\d+)\/[^/]+$/.exec(x.path ?? '')?.[1];

  it('is the fixture it claims to be: the folders interleave, with both traps', () => {
    expect(canon.length).toBeGreaterThanOrEqual(40);
    expect(misc.length).toBeGreaterThanOrEqual(30);
    for (const f of m.files) expect(f.state).toBe('orphan');
    const c = m.oldFolders['DCIM/100CANON'];
    const s = m.oldFolders.MISC;
    expect(c.length).toBeGreaterThanOrEqual(3);
    expect(s.length).toBeGreaterThanOrEqual(3);
    expect(c[1]).toBeGreaterThan(s[0]);
    expect(s.some((x) => c.includes(x - 1))).toBe(true);
    expect(c.some((x) => s.includes(x - 1))).toBe(true);
    // Long names, several slots each.
    for (const f of misc) expect(path.basename(f.path)).toMatch(/ /);
  });

  it('runs cleanly', () => {
    expect(r.status, r.stderr).toBe(0);
  });

  it('brings every photo back under orphaned/DCIM/100CANON', () => {
    for (const f of canon) {
      const hit = orphanOf(f.path);
      expect(hit, `${f.path} not recovered as an orphan:\n${listing()}`).toBeDefined();
      expect(hit!.path).toBe(`orphaned/${f.path}`);
      expect(hit!.originalPath).toBe(`/${f.path}`);
    }
  });

  it('brings every MISC file back with its long name, all in one lost folder that holds nothing else', () => {
    const folders = new Set<string>();
    for (const f of misc) {
      const hit = orphanOf(f.path);
      expect(hit, `${f.path} not recovered as an orphan:\n${listing()}`).toBeDefined();
      const folder = lostFolderOf(hit!);
      expect(folder, `${f.path} came out as ${hit!.path}`).toBeDefined();
      expect(hit!.path).toBe(`orphaned/_lost_folders/${folder}/${path.basename(f.path)}`);
      folders.add(folder!);
    }
    expect([...folders]).toHaveLength(1);
    // MISC's first cluster names the folder.
    expect([...folders][0]).toBe(`FOLDER${m.oldFolders.MISC[0]}`);
    const inIt = report.files.filter((x) => lostFolderOf(x) === [...folders][0]);
    expect(inIt.map((x) => x.name).sort()).toEqual(misc.map((f) => path.basename(f.path)).sort());
  });

  it('recovers every file byte-exact with its mtime', () => {
    for (const f of m.files) {
      const hit = orphanOf(f.path);
      expect(hit, f.path).toBeDefined();
      expect(hit!.size, f.path).toBe(f.size);
      expect(hit!.sha256, f.path).toBe(f.sha256);
      expect(sha256File(path.join(out, hit!.path!)), f.path).toBe(f.sha256);
      expect(fs.statSync(path.join(out, hit!.path!)).mtime.toISOString(), f.path).toBe(f.mtime);
    }
  });

  it('writes every file once and nothing else', () => {
    const shas = report.files.map((x) => x.sha256);
    expect(new Set(shas).size, listing()).toBe(shas.length);
    const paths = report.files.map((x) => x.path);
    expect(new Set(paths).size).toBe(paths.length);
    const known = new Set(m.files.map((f) => f.sha256));
    for (const x of report.files) expect(known.has(x.sha256!), `${x.provenance}:${x.path} is not an original`).toBe(true);
    expect(report.files).toHaveLength(m.files.length);
  });

  // What "the next cluster" would get wrong: 100CANON's later cluster right after a MISC
  // cluster, and MISC's right after a 100CANON cluster, each taken by the wrong folder.
  it('puts no MISC file in 100CANON and no photo in MISC', () => {
    const canonShas = new Set(canon.map((f) => f.sha256));
    const miscShas = new Set(misc.map((f) => f.sha256));
    const inCanon = report.files.filter((x) => x.path?.startsWith(`orphaned/${CANON}`));
    expect(inCanon.filter((x) => !canonShas.has(x.sha256!) || !/^IMG_\d{4}\.JPG$/.test(x.name)).map((x) => x.path)).toEqual([]);
    const inLost = report.files.filter((x) => x.path?.startsWith('orphaned/_lost_folders/'));
    expect(inLost.filter((x) => !miscShas.has(x.sha256!) || /^IMG_/.test(x.name)).map((x) => x.path)).toEqual([]);
    expect(inCanon).toHaveLength(canon.length);
    expect(inLost).toHaveLength(misc.length);
  });
});
