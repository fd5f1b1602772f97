import fs from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { SAMPLES, noise as filler, freshOut, runCli, sha256, tempDir } from './support/fixtures.js';
import type { Report } from '../src/report.js';

const CLUSTER = 32 * 1024;

/**
 * Files whose last bytes follow their final EOI with no structure that says how many there
 * are (a stray 0xFF, an undocumented vendor blob): carving without a directory entry's size
 * must stop at the EOI, so these come back as an exact prefix ending at the last image's end.
 */
const TRAILER_WITHOUT_STRUCTURE = new Set([
  'jpeg/hp_photosmart_433/IM000961.JPG',
  'jpeg/hp_photosmart_m425/HPIM0041.JPG',
  'jpeg/hp_photosmart_m627/HPIM3417.JPG',
  'jpeg/htc_one_m8/HTC_One_M8.jpg',
  'jpeg/olympus_c_3000/PA250002.JPG',
  'jpeg/panasonic_dmc_lx7/Panasonic_Lumix_DMC-LX7.jpg',
  'jpeg/panasonic_pv_sd4090/P1000240.JPG',
]);
const FOLDERS = ['jpeg', 'mov', 'mp4', 'heic', 'avi', 'cr2', 'crw', 'mpo', 'gpr'];

function listSamples(): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const d of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, d.name);
      if (d.isDirectory()) walk(p);
      else if (!/\.(thm|txt|md|tsv)$/i.test(d.name)) out.push(p);
    }
  };
  for (const f of FOLDERS) if (fs.existsSync(path.join(SAMPLES, f))) walk(path.join(SAMPLES, f));
  return out.sort();
}

/**
 * Every real camera file laid out on a card with no file system, each at a cluster start,
 * stale data in the slack after it: carving must give each back byte-exact.
 */
describe.runIf(fs.existsSync(SAMPLES))('carving the real camera samples from a card with no file system', () => {
  const placed: { file: string; offset: number; sha: string; size: number }[] = [];
  let r: ReturnType<typeof runCli>;
  let report: Report;
  let byOffset: Map<number | undefined, Report['files'][number]>;
  beforeAll(() => {
  const samples = listSamples();
  const image = path.join(tempDir(), 'samples-card.img');
  const fd = fs.openSync(image, 'w');
  let pos = CLUSTER;
  samples.forEach((file, i) => {
    const data = fs.readFileSync(file);
    fs.writeSync(fd, data, 0, data.length, pos);
    placed.push({ file: path.relative(SAMPLES, file), offset: pos, sha: sha256(data), size: data.length });
    const end = pos + data.length;
    const next = Math.ceil(end / CLUSTER) * CLUSTER + CLUSTER;
    fs.writeSync(fd, filler(next - end, i + 1), 0, next - end, end);
    pos = next;
  });
  fs.closeSync(fd);
  const out = path.join(freshOut('samples'), 'out');
  r = runCli(['recover', image, '--out', out]);
  report = JSON.parse(fs.readFileSync(path.join(out, 'report.json'), 'utf8')) as Report;
  byOffset = new Map(report.files.map((f) => [f.runs[0]?.[0], f]));
  });

  it('runs cleanly', () => {
    expect(r.status, r.stderr).toBe(0);
    expect(placed.length).toBeGreaterThan(50);
  });

  it('finds every file at its start, byte-exact', () => {
    const wrong: string[] = [];
    for (const p of placed) {
      const f = byOffset.get(p.offset);
      if (f && TRAILER_WITHOUT_STRUCTURE.has(p.file)) {
        const original = fs.readFileSync(path.join(SAMPLES, p.file));
        const prefix = original.subarray(0, f.size);
        if (!(f.size < p.size && f.sha256 === sha256(prefix) && prefix.subarray(-2).equals(Buffer.from([0xff, 0xd9])))) {
          wrong.push(`${p.file}: expected the exact prefix up to the last EOI, got ${f.size} bytes`);
        }
        continue;
      }
      if (!f) wrong.push(`${p.file}: not found`);
      else if (f.sha256 !== p.sha) wrong.push(`${p.file}: ${f.size} bytes carved, original ${p.size}${f.notes.length ? ` (${f.notes.join('; ')})` : ''}`);
    }
    expect(wrong).toEqual([]);
  });

  it('writes nothing else: no thumbnails, previews or filler as files', () => {
    const starts = new Set(placed.map((p) => p.offset));
    const extra = report.files.filter((f) => !starts.has(f.runs[0]?.[0]));
    expect(extra.map((f) => `${f.path} ${f.size}`)).toEqual([]);
  });
});
