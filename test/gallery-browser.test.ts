import fs from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { writeGallery } from '../src/gallery/gallery.js';
import type { Report, ReportFile } from '../src/report.js';
import { SAMPLES, freshOut } from './support/fixtures.js';
import { CHROMIUM, chromium, makeReport, recoveredDemo, renderedDom } from './gallery-helpers.js';

/**
 * report.html in a real browser (Debian's chromium, headless; CI installs it through .ci/run):
 * the page's own script decodes every thumbnail and records the result in the DOM.
 */
describe.skipIf(!CHROMIUM)('report.html in headless Chromium', () => {
  let out: string;
  let report: Report;
  beforeAll(() => {
    ({ out, report } = recoveredDemo());
  });

  it('decodes every thumbnail of the demo card (naturalWidth > 0), one per picture', () => {
    const page = path.join(out, 'report.html');
    const { body, widths, visible, shown } = renderedDom(page);
    const pictures = report.files.filter((f) => f.format === 'jpeg').length;
    const declared = Number(/<footer data-thumbs="(\d+)">/.exec(fs.readFileSync(page, 'utf8'))![1]);
    expect(body['data-checked']).toBe('true');
    expect(body['data-failed']).toBe('0');
    expect(Number(body['data-rendered'])).toBe(pictures);
    expect(declared).toBe(pictures);
    expect(widths).toHaveLength(pictures);
    for (const w of widths) expect(w).toBeGreaterThan(0);
    expect(visible).toBe(report.files.length);
    expect(shown).toBe(`${report.files.length} of ${report.files.length} shown`);
  });

  it('filters by provenance and status (state in the #hash)', () => {
    const page = path.join(out, 'report.html');
    const deleted = renderedDom(page, '#provenance=deleted');
    expect(deleted.visible).toBe(report.summary.byProvenance.deleted);
    expect(deleted.shown).toBe(`${report.summary.byProvenance.deleted} of ${report.files.length} shown`);
    const livePictures = report.files.filter((f) => f.provenance === 'allocated' && f.format === 'jpeg').length;
    expect(renderedDom(page, '#provenance=allocated&kind=picture').visible).toBe(livePictures);
    expect(renderedDom(page, '#status=damaged').visible).toBe(0);
  });

  it('takes a screenshot at 1280x900', () => {
    const png = path.join(freshOut('gallery-shot'), 'gallery.png');
    const r = chromium(path.join(out, 'report.html'), ['--hide-scrollbars', '--virtual-time-budget=3000', `--screenshot=${png}`, '--window-size=1280,900']);
    expect(r.status, r.stderr.slice(-2000)).toBe(0);
    const head = fs.readFileSync(png).subarray(0, 24);
    expect(head.subarray(0, 8).toString('hex')).toBe('89504e470d0a1a0a');
    expect(head.readUInt32BE(16)).toBe(1280);
    expect(head.readUInt32BE(20)).toBe(900);
    expect(fs.statSync(png).size).toBeGreaterThan(20_000);
  });

  describe.skipIf(!fs.existsSync(SAMPLES))('previews of real camera files', () => {
    // [sample, format, has a preview]
    const SET: [string, string, boolean][] = [
      ['jpeg/canon_eos_rp/_MG_0635.JPG', 'jpeg', true],
      ['mpo/nintendo_3ds/frozenpond.mpo', 'mpo', true],
      ['cr2/canon_eos_30d/IMG_5952.CR2', 'cr2', true],
      ['structure/CanonEOSR_truncated-131072.CR3', 'cr3', true],
      ['structure/SonyZVE10_truncated-100000.ARW', 'arw', true],
      ['structure/LeicaM10_truncated-100000.DNG', 'dng', true],
      ['crw/canon_powershot_g2/CRW_0304.CRW', 'crw', true],
      ['structure/CanonEOSM50_exiftool-stripped.CR3', 'cr3', false],
      ['heic/apple_iphone_13_pro/IMG_8563.HEIC', 'heic', false],
      ['mov/apple_iphone_xr/IMG_3616.mov', 'mov', false],
    ];

    it('every extracted preview decodes in the browser', () => {
      const dir = freshOut('gallery-samples');
      const files: Partial<ReportFile>[] = SET.filter(([rel]) => fs.existsSync(path.join(SAMPLES, rel))).map(([rel, format], i) => {
        const name = path.basename(rel);
        const p = `${['allocated', 'deleted', 'orphan', 'carved'][i % 4]}/${name}`;
        fs.mkdirSync(path.join(dir, path.dirname(p)), { recursive: true });
        fs.symlinkSync(path.join(SAMPLES, rel), path.join(dir, p));
        return { name, path: p, format, size: fs.statSync(path.join(SAMPLES, rel)).size, provenance: p.split('/')[0], status: i % 3 ? 'ok' : 'unverified' };
      });
      const expected = SET.filter(([rel, , has]) => has && fs.existsSync(path.join(SAMPLES, rel))).length;
      const page = writeGallery(dir, makeReport(files));
      const { body, widths } = renderedDom(page);
      expect(body['data-failed']).toBe('0');
      expect(Number(body['data-rendered'])).toBe(expected);
      expect(widths).toHaveLength(expected);
      for (const w of widths) expect(w).toBeGreaterThanOrEqual(160);
    });
  });
});
