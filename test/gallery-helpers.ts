import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { pathToFileURL } from 'node:url';
import type { Report, ReportFile } from '../src/report.js';
import { fixtureImage, freshOut, runCli } from './support/fixtures.js';

/** A report.json-shaped object for writeGallery tests: only the files matter. */
export function makeReport(files: Partial<ReportFile>[], extra: Partial<Report> = {}): Report {
  const full: ReportFile[] = files.map((f, i) => ({
    path: `f${i}.bin`,
    name: `f${i}.bin`,
    size: 0,
    sha256: null,
    provenance: 'allocated',
    format: null,
    originalPath: null,
    volume: 1,
    mtime: '2026-07-14T10:20:30.000Z',
    ctime: null,
    runs: [],
    basis: 'chain',
    status: 'ok',
    validation: null,
    notes: [],
    badRanges: [],
    ...f,
  }));
  const count = (key: (f: ReportFile) => string) => {
    const out: Record<string, number> = {};
    for (const f of full) out[key(f)] = (out[key(f)] ?? 0) + 1;
    return out;
  };
  return {
    schema: 1,
    tool: { name: 'cardrescue', version: '0.0.0-test' },
    source: { path: 'card.img', size: 1 << 20, kind: 'image' },
    started: '2026-11-22T10:00:00.000Z',
    finished: '2026-11-22T10:00:01.000Z',
    complete: true,
    partitionTable: 'mbr',
    volumes: [],
    gaps: [],
    badRanges: [],
    files: full,
    skipped: [],
    summary: {
      files: full.length,
      bytes: full.reduce((n, f) => n + f.size, 0),
      byProvenance: count((f) => f.provenance),
      byFormat: count((f) => f.format ?? 'unknown'),
      byStatus: count((f) => f.status),
      failedValidation: 0,
      damaged: full.filter((f) => f.status === 'damaged').length,
      skipped: 0,
      unreadableBytes: 0,
    },
    ...extra,
  };
}

let demo: { out: string; report: Report } | undefined;
/** The demo card recovered once per worker with the real CLI (report.json and report.html). */
export function recoveredDemo(): { out: string; report: Report } {
  if (demo) return demo;
  const out = path.join(freshOut('gallery-demo'), 'out');
  const r = runCli(['recover', fixtureImage('demo-card'), '--out', out, '--quiet']);
  if (r.status !== 0) throw new Error(`recover failed (${r.status}): ${r.stderr}`);
  demo = { out, report: JSON.parse(fs.readFileSync(path.join(out, 'report.json'), 'utf8')) as Report };
  return demo;
}

// ---- HTML inspection (the page is ours: simple patterns suffice) ---------------------------

export function cards(html: string): string[] {
  return html.match(/<article class="card[\s\S]*?<\/article>/g) ?? [];
}

export function thumbSrcs(html: string): string[] {
  return [...html.matchAll(/<img class="thumb[^"]*"[^>]*\ssrc="([^"]*)"/g)].map((m) => m[1]);
}

// ---- headless Chromium --------------------------------------------------------------------

/** Debian's chromium, when installed (CI installs it through .ci/run). */
export const CHROMIUM: string | undefined = (() => {
  const r = spawnSync('sh', ['-c', 'command -v chromium'], { encoding: 'utf8' });
  const p = r.status === 0 ? r.stdout.trim() : '';
  return p || undefined;
})();

/** Run headless Chromium on a local page (plus an optional #hash) with a fresh profile and nothing that talks to the network. */
export function chromium(page: string, args: string[], hash = ''): { status: number | null; stdout: string; stderr: string } {
  if (!CHROMIUM) throw new Error('chromium is not installed');
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'cardrescue-chromium-'));
  try {
    const r = spawnSync(
      CHROMIUM,
      [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--disable-dev-shm-usage',
        `--user-data-dir=${profile}`,
        ...args,
        pathToFileURL(page).href + hash,
      ],
      { encoding: 'utf8', timeout: 90_000, maxBuffer: 256 * 1024 * 1024 },
    );
    return { status: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
  } finally {
    fs.rmSync(profile, { recursive: true, force: true });
  }
}

/** The DOM after the page's scripts ran: body attributes and each thumbnail's data-w. */
export function renderedDom(page: string, hash = ''): { dom: string; body: Record<string, string>; widths: number[]; visible: number; shown: string } {
  // A loaded machine can dump the DOM before the page's decode pass has finished: give it more time then.
  let dom = '';
  for (const budget of [3000, 10000, 30000]) {
    const r = chromium(page, [`--virtual-time-budget=${budget}`, '--dump-dom'], hash);
    if (r.status !== 0) throw new Error(`chromium failed (${r.status}): ${r.stderr.slice(-2000)}`);
    dom = r.stdout;
    if (/<body[^>]*data-rendered=/.test(dom)) break;
  }
  const bodyTag = /<body([^>]*)>/.exec(dom)?.[1] ?? '';
  const body: Record<string, string> = {};
  for (const m of bodyTag.matchAll(/([\w-]+)="([^"]*)"/g)) body[m[1]] = m[2];
  const widths = [...dom.matchAll(/<img class="thumb[^>]*>/g)].map((m) => Number(/data-w="(\d+)"/.exec(m[0])?.[1] ?? -1));
  const visible = [...dom.matchAll(/<article class="card[^>]*>/g)].filter((m) => !/\shidden(=|\s|>)/.test(m[0])).length;
  const shown = /<span id="shown">([^<]*)<\/span>/.exec(dom)?.[1] ?? '';
  return { dom, body, widths, visible, shown };
}
