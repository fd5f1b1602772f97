import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { fixtureImage, freshOut, manifest, runCli, tempDir } from './support/fixtures.js';
import type { Report } from '../src/report.js';

/** A copy of a fixture with its first `bytes` zeroed, as a card whose file system was wiped. */
function wiped(name: string, bytes: (g: { dataOffset: number; clusterSize: number }) => number): { image: string; clusterSize: number } {
  const intact = fixtureImage(name);
  const info = JSON.parse(runCli(['info', '--json', intact]).stdout) as { volumes: { dataOffset: number; clusterSize: number }[] };
  const g = info.volumes[0];
  const image = path.join(tempDir(), `${name}-wiped-${bytes(g)}.img`);
  const data = fs.readFileSync(intact);
  data.fill(0, 0, bytes(g));
  fs.writeFileSync(image, data);
  return { image, clusterSize: g.clusterSize };
}

function recover(image: string, label: string): Report {
  const out = path.join(freshOut(label), 'out');
  const r = runCli(['recover', image, '--out', out]);
  expect(r.status, r.stderr).toBe(0);
  return JSON.parse(fs.readFileSync(path.join(out, 'report.json'), 'utf8')) as Report;
}

describe('boot sector, FATs and root directory zeroed, folders intact', () => {
  const m = manifest('quickformat-fat32');
  const { image, clusterSize } = wiped('quickformat-fat32', (g) => g.dataOffset + g.clusterSize);

  it('rebuilds the geometry from the surviving folders', () => {
    const r = runCli(['info', image]);
    expect(r.stdout).toMatch(/Boot sector:\s+NONE \(geometry rebuilt/);
    expect(r.stdout).toContain(`Cluster size:    ${clusterSize} bytes`);
  });

  it('brings every photo back byte-exact with its name and folder', () => {
    const report = recover(image, 'rebuilt');
    for (const f of m.files) {
      const hit = report.files.find((x) => x.originalPath === '/' + f.path);
      expect(hit?.sha256, f.path).toBe(f.sha256);
      expect(hit?.provenance).toBe('orphan');
    }
    expect(report.files).toHaveLength(m.files.length);
  });
});

describe('nothing left but content', () => {
  const m = manifest('quickformat-fat16');
  // Also wipes the new DCIM and 100CANON folders and the head of the new photo: one old folder is too little to solve geometry from.
  const { image, clusterSize } = wiped('quickformat-fat16', (g) => g.dataOffset + 3 * g.clusterSize);

  it('infers the cluster size from where the file headers fall', () => {
    const r = runCli(['info', image]);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/File system: none/);
    expect(r.stdout).toContain(`cluster size ${clusterSize} bytes`);
  });

  it('carves every photo that was still whole, byte-exact, and nothing else', () => {
    const report = recover(image, 'carved');
    const expected = m.files.filter((f) => f.state !== 'overwritten' && f.state !== 'live');
    const got = new Set(report.files.map((f) => f.sha256));
    for (const f of expected) expect(got.has(f.sha256), f.path).toBe(true);
    expect(report.files).toHaveLength(expected.length);
    expect(report.files.every((f) => f.provenance === 'carved' && f.format === 'jpeg')).toBe(true);
  });
});
