import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { writeGallery } from '../src/gallery/gallery.js';
import { escapeHtml, fileHref } from '../src/gallery/html.js';
import { kindOf } from '../src/gallery/thumbnails.js';
import type { Report } from '../src/report.js';
import { freshOut } from './support/fixtures.js';
import { cards, makeReport, recoveredDemo, thumbSrcs } from './gallery-helpers.js';

const read = (p: string) => fs.readFileSync(p, 'utf8');

describe('report.html written by recover (demo card)', () => {
  let out: string;
  let report: Report;
  let html: string;
  beforeAll(() => {
    ({ out, report } = recoveredDemo());
    html = read(path.join(out, 'report.html'));
  });

  it('is there, next to report.json, with one card per recovered file', () => {
    expect(report.files.length).toBeGreaterThan(10);
    expect(cards(html)).toHaveLength(report.files.length);
    for (const f of report.files) expect(html, f.name).toContain(`title="${escapeHtml(f.name)}">${escapeHtml(f.name)}</h2>`);
  });

  it('has a data: URI thumbnail for every picture, placeholders for the rest', () => {
    const pictures = report.files.filter((f) => f.format === 'jpeg');
    expect(pictures.length).toBe(10);
    const srcs = thumbSrcs(html);
    expect(srcs).toHaveLength(pictures.length);
    for (const s of srcs) {
      expect(s).toMatch(/^data:image\/jpeg;base64,[A-Za-z0-9+/]+=*$/);
      const bytes = Buffer.from(s.slice(s.indexOf(',') + 1), 'base64');
      expect(bytes.subarray(0, 2).toString('hex')).toBe('ffd8');
    }
    expect(html).toContain(`<footer data-thumbs="${pictures.length}">`);
    const videos = cards(html).filter((c) => c.includes('data-kind="video"'));
    expect(videos).toHaveLength(2);
    for (const c of videos) expect(c).toMatch(/<div class="ph"[^>]*><svg/);
  });

  it('shows provenance, status, size, camera, date and path on each card', () => {
    const deleted = cards(html).filter((c) => c.includes('data-provenance="deleted"'));
    expect(deleted).toHaveLength(report.summary.byProvenance.deleted);
    const one = cards(html).find((c) => c.includes('>IMG_0001.JPG</h2>'))!;
    expect(one).toContain('<span class="badge prov-allocated">allocated</span>');
    expect(one).toContain('<span class="badge st-ok">ok</span>');
    expect(one).toContain('<dd>29 KiB</dd>');
    expect(one).toContain('Canon EOS 5D Mark III');
    expect(one).toMatch(/<dt>Taken<\/dt><dd[^>]*>2026-07-14 10:20:30<\/dd>/);
    expect(one).toContain('href="DCIM/100CANON/IMG_0001.JPG"');
    expect(one).toContain('DCIM/<wbr>100CANON/<wbr>IMG_0001.JPG');
  });

  it('has the summary counts and a filter button per provenance and status', () => {
    for (const [p, n] of Object.entries(report.summary.byProvenance)) {
      expect(html).toMatch(new RegExp(`data-filter="provenance" data-value="${p}" aria-pressed="true">.*?<b>${n}</b>`));
    }
    for (const [s, n] of Object.entries(report.summary.byStatus)) {
      expect(html).toMatch(new RegExp(`data-filter="status" data-value="${s}" aria-pressed="true">.*?<b>${n}</b>`));
    }
    expect(html).toContain(`<b>${report.summary.byProvenance.allocated}</b> live`);
  });

  it('is self-contained: no URL but data: and the recovered files, a CSP that matches its only style and script', () => {
    expect(html).not.toMatch(/(src|href)="(https?:)?\/\//);
    expect(html).not.toMatch(/url\(/);
    const csp = /http-equiv="Content-Security-Policy" content="([^"]*)"/.exec(html)![1];
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain('img-src data:');
    const hash = (t: string) => `'sha256-${crypto.createHash('sha256').update(t).digest('base64')}'`;
    const styles = [...html.matchAll(/<style>([\s\S]*?)<\/style>/g)];
    const scripts = [...html.matchAll(/<script>([\s\S]*?)<\/script>/g)];
    expect(styles).toHaveLength(1);
    expect(scripts).toHaveLength(1);
    expect(csp).toContain(`style-src ${hash(styles[0][1])}`);
    expect(csp).toContain(`script-src ${hash(scripts[0][1])}`);
  });
});

describe('writeGallery', () => {
  it('escapes names, paths, cameras and notes from untrusted bytes', () => {
    const out = freshOut('gallery-escape');
    const evil = `<img src=x onerror=alert(1)>"'&.JPG`;
    fs.mkdirSync(path.join(out, 'a&b'));
    fs.writeFileSync(path.join(out, 'a&b', evil), 'not a jpeg');
    const report = makeReport([
      {
        name: evil,
        path: `a&b/${evil}`,
        format: null,
        camera: '<script>alert(2)</script>',
        notes: ['</p><script>alert(3)</script>'],
        provenance: 'carved" onmouseover="x',
        status: 'damaged',
        originalPath: `/x/${evil}`,
        size: 10,
      },
    ]);
    const html = read(writeGallery(out, report));
    expect(html).not.toContain('<img src=x');
    expect(html).not.toContain('<script>alert');
    expect(html).not.toContain('onmouseover="x');
    expect(html).toContain('&lt;img src=x onerror=alert(1)&gt;&quot;&#39;&amp;.JPG');
    expect(html).toContain(`href="a%26b/${escapeHtml(encodeURIComponent(evil))}"`);
    expect(cards(html)).toHaveLength(1);
    // It is a picture by its extension; its bytes are not a JPEG: a placeholder with the reason.
    expect(cards(html)[0]).toMatch(/<div class="ph" title="no preview for this kind of file">/);
  });

  it('never overwrites: a recovered report.html keeps its name and the gallery takes the next', () => {
    const out = freshOut('gallery-exists');
    fs.writeFileSync(path.join(out, 'report.html'), 'a file from the card');
    const report = makeReport([{ name: 'report.html', path: 'report.html', size: 20 }]);
    const written = writeGallery(out, report);
    expect(written).toBe(path.join(out, 'report (2).html'));
    expect(read(path.join(out, 'report.html'))).toBe('a file from the card');
    expect(read(written)).toContain('<article class="card');
    expect(writeGallery(out, report)).toBe(path.join(out, 'report (3).html'));
  });

  it('copes with missing files, empty reports, an interrupted run and the embed budget', () => {
    const { out: demo, report: demoReport } = recoveredDemo();
    const out = freshOut('gallery-misc');
    const jpegs = demoReport.files.filter((f) => f.format === 'jpeg').slice(0, 3);
    for (const f of jpegs) {
      fs.mkdirSync(path.dirname(path.join(out, f.path!)), { recursive: true });
      fs.copyFileSync(path.join(demo, f.path!), path.join(out, f.path!));
    }
    const report = makeReport([...jpegs, { name: 'GONE.JPG', path: 'GONE.JPG', format: 'jpeg', size: 5000 }, { name: 'x.cr3', path: null, format: 'cr3' }], {
      complete: false,
    });
    const oneThumb = writeGallery(out, report, { maxEmbedBytes: 3000 });
    const html = read(oneThumb);
    expect(cards(html)).toHaveLength(5);
    expect(thumbSrcs(html).length).toBeGreaterThanOrEqual(1);
    expect(thumbSrcs(html).length).toBeLessThan(3);
    expect(html).toContain('the page holds enough previews already');
    expect(html).toContain('not readable: ENOENT');
    expect(html).toContain('the file was not written');
    expect(html).toContain('stopped early');

    const empty = read(writeGallery(freshOut('gallery-empty'), makeReport([])));
    expect(empty).toContain('No files were recovered.');
    expect(empty).toContain('<footer data-thumbs="0">');
  });

  it('sorts files into pictures, videos and other by format, else by extension', () => {
    expect(kindOf({ format: 'cr3', name: 'x' })).toBe('picture');
    expect(kindOf({ format: 'mov', name: 'x.jpg' })).toBe('video');
    expect(kindOf({ format: null, name: 'IMG_1.JPG' })).toBe('picture');
    expect(kindOf({ format: null, name: 'MVI_1.AVI' })).toBe('video');
    expect(kindOf({ format: null, name: 'notes.txt' })).toBe('other');
    expect(kindOf({ format: 'wav', name: 'a.wav' })).toBe('other');
  });

  it('percent-encodes each path segment of a link', () => {
    expect(fileHref('Holiday 2026/Beach day/Sunset #1?.jpg')).toBe('Holiday%202026/Beach%20day/Sunset%20%231%3F.jpg');
  });
});
