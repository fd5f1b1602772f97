import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { SAMPLES, fixtureImage, freshOut, manifest, runCli, tempDir } from './support/fixtures.js';
import type { Report } from '../src/report.js';

function recover(image: string, extra: string[]): { out: string; report: Report } {
  const out = path.join(freshOut('previews'), 'out');
  const r = runCli(['recover', image, '--out', out, ...extra]);
  expect(r.status, r.stderr).toBe(0);
  return { out, report: JSON.parse(fs.readFileSync(path.join(out, 'report.json'), 'utf8')) as Report };
}

describe('embedded previews', () => {
  it('are never files of their own unless asked for', () => {
    const { out, report } = recover(fixtureImage('demo-card'), []);
    expect(report.files).toHaveLength(manifest('demo-card').files.length);
    expect(fs.existsSync(path.join(out, 'previews'))).toBe(false);
  });

  it('--extract-previews writes each picture\'s preview beside the files, as a whole JPEG', () => {
    const { out, report } = recover(fixtureImage('demo-card'), ['--extract-previews']);
    expect(report.files).toHaveLength(manifest('demo-card').files.length);
    const noted = report.files.filter((f) => f.notes.some((n) => n.startsWith('embedded preview')));
    expect(noted.length).toBeGreaterThan(0);
    for (const f of noted) {
      const rel = /written to (.+)$/.exec(f.notes.find((n) => n.startsWith('embedded preview'))!)![1];
      expect(rel).toBe(`previews/${f.path}.preview.jpg`);
      const data = fs.readFileSync(path.join(out, rel));
      expect(data.subarray(0, 2).toString('hex')).toBe('ffd8');
      expect(data.subarray(-2).toString('hex')).toBe('ffd9');
    }
  });

  it.runIf(fs.existsSync(path.join(SAMPLES, 'cr2')))('takes the large preview out of a raw file', () => {
    const dir = path.join(SAMPLES, 'cr2');
    const cr2 = fs.readdirSync(dir, { recursive: true }).map(String).find((p) => /\.cr2$/i.test(p))!;
    const data = fs.readFileSync(path.join(dir, cr2));
    const image = path.join(tempDir(), 'one-cr2.img');
    fs.writeFileSync(image, Buffer.concat([Buffer.alloc(32768), data, Buffer.alloc(65536 - (data.length % 32768))]));
    const { out, report } = recover(image, ['--extract-previews']);
    const raw = report.files.find((f) => f.format === 'cr2')!;
    const note = raw.notes.find((n) => n.startsWith('embedded preview'))!;
    expect(note).toMatch(/\d+x\d+/);
    const preview = fs.readFileSync(path.join(out, /written to (.+)$/.exec(note)![1]));
    expect(preview.length).toBeGreaterThan(60 * 1024);
    expect(preview.subarray(0, 2).toString('hex')).toBe('ffd8');
  });
});
