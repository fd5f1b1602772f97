import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { fixtureImage, freshOut, manifest, runCli, tempDir } from './support/fixtures.js';
import type { Report } from '../src/report.js';

/** The quick-formatted FAT16 card with its boot sector, FATs and root directory zeroed: nothing but content is left. */
describe('a card whose file system is destroyed', () => {
  const name = 'quickformat-fat16';
  const m = manifest(name);
  const intact = fixtureImage(name);
  const info = JSON.parse(runCli(['info', '--json', intact]).stdout) as { volumes: { dataOffset: number; clusterSize: number }[] };
  const { dataOffset, clusterSize } = info.volumes[0];
  const image = path.join(tempDir(), 'destroyed.img');
  const bytes = fs.readFileSync(intact);
  bytes.fill(0, 0, dataOffset);
  fs.writeFileSync(image, bytes);

  it('infers the cluster size from where the file headers fall', () => {
    const r = runCli(['info', image]);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/File system: none/);
    expect(r.stdout).toContain(`cluster size ${clusterSize} bytes`);
  });

  it('carves every photo that was still whole, byte-exact, and nothing else', () => {
    const out = path.join(freshOut('destroyed'), 'out');
    const r = runCli(['recover', image, '--out', out]);
    expect(r.status, r.stderr).toBe(0);
    const report = JSON.parse(fs.readFileSync(path.join(out, 'report.json'), 'utf8')) as Report;
    const expected = m.files.filter((f) => f.state !== 'overwritten');
    const got = new Set(report.files.map((f) => f.sha256));
    for (const f of expected) expect(got.has(f.sha256), f.path).toBe(true);
    expect(report.files).toHaveLength(expected.length);
    expect(report.files.every((f) => f.provenance === 'carved' && f.format === 'jpeg')).toBe(true);
  });
});
