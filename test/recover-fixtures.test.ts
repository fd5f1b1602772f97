import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import { fixtureImage, freshOut, isRoot, manifest, runCli, sha256File, type Manifest } from './support/fixtures.js';
import type { Report, ReportFile } from '../src/report.js';

const IMAGES = ['fat12', 'fat16-superfloppy', 'fat16-mbr', 'fat32-mbr', 'exfat', 'gpt', 'demo-card'];

function recover(source: string, label: string, extra: string[] = []): { out: string; report: Report; stdout: string } {
  const out = path.join(freshOut(label), 'out');
  const r = runCli(['recover', source, '--out', out, ...extra]);
  expect(r.status, r.stderr).toBe(0);
  const report = JSON.parse(fs.readFileSync(path.join(out, 'report.json'), 'utf8')) as Report;
  return { out, report, stdout: r.stdout };
}

function byOriginalPath(report: Report, p: string): ReportFile[] {
  return report.files.filter((f) => f.originalPath === '/' + p);
}

describe.each(IMAGES)('%s', (name) => {
  const m: Manifest = manifest(name);
  const image = fixtureImage(name);
  const { out, report, stdout } = recover(image, name);

  it('finds the file system and geometry', () => {
    const volumes = report.volumes.filter((v) => v.fs);
    expect(volumes).toHaveLength(1);
    expect(volumes[0].fs).toBe(m.fs);
    expect(report.partitionTable).toBe(m.table);
    expect(volumes[0].offset).toBe(m.partitionOffset);
    if (m.clusterSize) expect(volumes[0].clusterSize).toBe(m.clusterSize);
  });

  it('recovers every live file byte-exact under its path, with its modification time', () => {
    for (const f of m.files.filter((x) => x.state === 'live')) {
      const hits = byOriginalPath(report, f.path).filter((x) => x.provenance === 'allocated');
      expect(hits, f.path).toHaveLength(1);
      const hit = hits[0];
      expect(hit.path).toBe(f.path);
      expect(hit.size).toBe(f.size);
      expect(hit.sha256, f.path).toBe(f.sha256);
      const written = path.join(out, hit.path!);
      expect(sha256File(written), f.path).toBe(f.sha256);
      expect(fs.statSync(written).mtime.toISOString(), f.path).toBe(f.mtime);
    }
  });

  it('recovers the deleted files byte-exact, named, under deleted/', () => {
    const deleted = m.files.filter((x) => x.state === 'deleted');
    for (const f of deleted) {
      // A deleted 8.3 name without a long name or camera-named siblings has lost its first letter for good.
      const lostLead = f.path.replace(/(^|\/)([^/])([^/]*)$/, '$1_$3');
      let hits = byOriginalPath(report, f.path);
      if (hits.length === 0) {
        hits = byOriginalPath(report, lostLead);
        if (hits.length) expect(hits[0].notes.join(' ')).toMatch(/first letter of the deleted name is lost/);
      }
      expect(hits, `${f.path} not found; files: ${report.files.map((x) => x.originalPath).join(', ')}`).toHaveLength(1);
      const hit = hits[0];
      expect(['deleted', 'carved']).toContain(hit.provenance);
      expect(hit.sha256, f.path).toBe(f.sha256);
      expect(sha256File(path.join(out, hit.path!))).toBe(f.sha256);
      expect(hit.path!.startsWith(hit.provenance === 'deleted' ? 'deleted/' : 'carved/')).toBe(true);
    }
  });

  it('writes no file twice and reports every file it wrote', () => {
    const written = listFiles(out).filter((p) => p !== 'report.json' && p !== 'report.html').sort();
    expect(written).toEqual(report.files.map((f) => f.path!).sort());
    const runsSeen = new Set<string>();
    for (const f of report.files) {
      for (const [o, l] of f.runs) {
        const key = `${o}`;
        if (l > 0) expect(runsSeen.has(key), `${f.path} starts a run another file has`).toBe(false);
        runsSeen.add(key);
      }
    }
  });

  it('summarises by provenance', () => {
    expect(stdout).toMatch(/Recovered \d+ file\(s\)/);
    expect(report.summary.byProvenance.allocated).toBe(m.files.filter((f) => f.state === 'live').length);
  });
});

function listFiles(dir: string, prefix = ''): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((d) =>
    d.isDirectory() ? listFiles(path.join(dir, d.name), `${prefix}${d.name}/`) : [`${prefix}${d.name}`],
  );
}

describe('output safety', () => {
  it('never overwrites: a folder holding a previous recovery is refused', () => {
    const image = fixtureImage('fat16-mbr');
    const { out } = recover(image, 'again');
    const before = fs.readFileSync(path.join(out, 'report.json'));
    const r = runCli(['recover', image, '--out', out]);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/already holds a recovery/);
    expect(fs.readFileSync(path.join(out, 'report.json'))).toEqual(before);
  });

  it('keeps an existing file and writes beside it', () => {
    const image = fixtureImage('fat16-mbr');
    const out = path.join(freshOut('keep'), 'out');
    const m = manifest('fat16-mbr');
    const live = m.files.find((f) => f.state === 'live' && f.size > 0)!;
    fs.mkdirSync(path.dirname(path.join(out, live.path)), { recursive: true });
    fs.writeFileSync(path.join(out, live.path), 'mine');
    const r = runCli(['recover', image, '--out', out]);
    expect(r.status, r.stderr).toBe(0);
    expect(fs.readFileSync(path.join(out, live.path), 'utf8')).toBe('mine');
    const ext = path.extname(live.path);
    const beside = path.join(out, live.path.slice(0, -ext.length) + ' (2)' + ext);
    expect(sha256File(beside)).toBe(live.sha256);
  });

  it('info and list read without writing', () => {
    const image = fixtureImage('fat32-mbr');
    const info = runCli(['info', image]);
    expect(info.status).toBe(0);
    expect(info.stdout).toMatch(/FAT32/);
    expect(info.stdout).toMatch(/Cluster size:\s+\d+ bytes/);
    const list = runCli(['list', '--json', image]);
    expect(list.status).toBe(0);
    const parsed = JSON.parse(list.stdout) as { files: ReportFile[] };
    expect(parsed.files.length).toBeGreaterThan(0);
  });
});

describe.runIf(isRoot)('a real block device', () => {
  const loops: string[] = [];
  afterAll(() => {
    for (const l of loops) execFileSync('losetup', ['-d', l]);
  });

  it('recovers the same files from /dev/loopN as from the image', () => {
    const image = fixtureImage('fat32-mbr');
    const loop = execFileSync('losetup', ['-r', '-f', '--show', image], { encoding: 'utf8' }).trim();
    loops.push(loop);
    const fromImage = recover(image, 'img').report;
    const fromDevice = recover(loop, 'dev').report;
    expect(fromDevice.source.kind).toBe('block-device');
    expect(fromDevice.source.size).toBe(fs.statSync(image).size);
    const key = (r: Report) => r.files.map((f) => `${f.path} ${f.sha256}`).sort();
    expect(key(fromDevice)).toEqual(key(fromImage));
  });

  it('refuses an output folder on the device being recovered, even through a FUSE mount', () => {
    const image = fixtureImage('exfat');
    const loop = execFileSync('losetup', ['-r', '-f', '--show', '--offset', String(4 * 1024 * 1024), image], { encoding: 'utf8' }).trim();
    loops.push(loop);
    const mnt = freshOut('mnt');
    execFileSync('mount.exfat-fuse', ['-o', 'ro', loop, mnt]);
    try {
      const r = runCli(['recover', loop, '--out', path.join(mnt, 'rescued')]);
      expect(r.status).toBe(2);
      expect(r.stderr).toMatch(/part of the device being recovered|on the device being recovered|same disk/);
    } finally {
      execFileSync('umount', [mnt]);
    }
  });
});
