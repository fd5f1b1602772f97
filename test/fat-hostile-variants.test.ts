import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { fixtureImage, freshOut, manifest, runCli, tempDir } from './support/fixtures.js';
import type { Report } from '../src/report.js';

/** A variant of a fixture changed by `patch`, written next to the worker's other temp files. */
function variant(name: string, label: string, patch: (img: Buffer) => void): string {
  const data = Buffer.from(fs.readFileSync(fixtureImage(name)));
  patch(data);
  const p = path.join(tempDir(), `${name}-${label}.img`);
  fs.writeFileSync(p, data);
  return p;
}

function recover(image: string, label: string): Report {
  const out = path.join(freshOut(label), 'out');
  const r = runCli(['recover', image, '--out', out]);
  expect(r.status, r.stderr).toBe(0);
  return JSON.parse(fs.readFileSync(path.join(out, 'report.json'), 'utf8')) as Report;
}

const PART = 4 * 1024 * 1024;

describe('FAT32 variants', () => {
  const m = manifest('fat32-mbr');

  it('recovers a deleted file whose first-cluster high word was zeroed (as Windows does)', () => {
    const target = m.files.find((f) => f.state === 'deleted' && f.path.endsWith('IMG_0007.JPG'))!;
    const image = variant('fat32-mbr', 'hiword', (img) => {
      const at = img.indexOf(Buffer.from('\xe5MG_0007JPG', 'latin1'));
      expect(at).toBeGreaterThan(0);
      expect(img.readUInt16LE(at + 20)).toBeGreaterThan(0);
      img.writeUInt16LE(0, at + 20);
    });
    const report = recover(image, 'hiword');
    const hit = report.files.find((f) => f.originalPath === '/' + target.path);
    expect(hit?.sha256).toBe(target.sha256);
  });

  it('falls back to the backup boot sector when the main one is destroyed', () => {
    const image = variant('fat32-mbr', 'noboot', (img) => img.fill(0xaa, PART, PART + 512));
    const info = runCli(['info', image]);
    expect(info.stdout).toMatch(/Boot sector:\s+BACKUP/);
    const report = recover(image, 'noboot');
    for (const f of m.files.filter((x) => x.state === 'live')) {
      expect(report.files.find((x) => x.originalPath === '/' + f.path)?.sha256, f.path).toBe(f.sha256);
    }
  });

  it('uses the intact FAT copy when the first one is damaged', () => {
    const info = JSON.parse(runCli(['info', '--json', fixtureImage('fat32-mbr')]).stdout) as { volumes: { fatOffset: number }[] };
    const fatStart = info.volumes[0].fatOffset;
    // Scribble over the first FAT copy's entries past the reserved ones.
    const image = variant('fat32-mbr', 'badfat', (img) => img.fill(0x77, fatStart + 64, fatStart + 64 * 1024));
    const report = recover(image, 'badfat');
    expect(report.volumes[0].diagnostics.some((d) => d.code === 'fat.copies-differ')).toBe(true);
    for (const f of m.files.filter((x) => x.state === 'live')) {
      expect(report.files.find((x) => x.originalPath === '/' + f.path)?.sha256, f.path).toBe(f.sha256);
    }
  });
});
