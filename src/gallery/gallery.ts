import fs from 'node:fs';
import path from 'node:path';
import type { Report, ReportFile } from '../report.js';
import { formatBytes } from '../format.js';
import type { PreviewOptions } from '../../carvers/previews.js';
import { kindOf, thumbnailFor, type Kind, type Thumbnail } from './thumbnails.js';
import { CSP, ICONS, SCRIPT, STYLE, escapeHtml as esc, fileHref, token } from './html.js';

/**
 * report.html: every recovered file as a card (thumbnail from the file's embedded preview,
 * name, size, camera, date, provenance, status, path), summary counts, and filters. One
 * self-contained file: inline CSS and script, thumbnails as data: URIs, works offline.
 */

export interface GalleryOptions extends PreviewOptions {
  /** Total preview bytes embedded in the page; later pictures get placeholders (default 64 MiB). */
  maxEmbedBytes?: number;
}

export const GALLERY_NAME = 'report.html';
const DEFAULT_MAX_EMBED = 64 * 1024 * 1024;

const PROVENANCE_ORDER = ['allocated', 'deleted', 'orphan', 'carved'];
const PROVENANCE_LABEL: Record<string, string> = { allocated: 'live', deleted: 'deleted', orphan: 'lost folders', carved: 'carved' };
const STATUS_ORDER = ['ok', 'unverified', 'damaged'];
const KIND_LABEL: Record<Kind, string> = { picture: 'pictures', video: 'videos', other: 'other' };
const ROTATION: Record<number, string> = { 3: 'rot180', 6: 'rot90', 8: 'rot270' };

/**
 * Write `<outDir>/report.html` for `report` and return its path. Never overwrites: when
 * the name is taken (a recovered file called report.html), 'report (2).html' and so on.
 * Previews are read by offset from the recovered files; a file that cannot be read gets a
 * placeholder.
 */
export function writeGallery(outDir: string, report: Report, options: GalleryOptions = {}): string {
  const { fd, file } = createExclusive(outDir);
  try {
    const write = (text: string) => {
      const buf = Buffer.from(text, 'utf8');
      for (let done = 0; done < buf.length; ) done += fs.writeSync(fd, buf, done, buf.length - done);
    };
    const kinds = report.files.map((f) => kindOf(f));
    write(pageHead(report) + filterBar(report, kinds) + '<main>\n');
    let budget = options.maxEmbedBytes ?? DEFAULT_MAX_EMBED;
    let thumbs = 0;
    const parts: string[] = [];
    for (const f of report.files) {
      const t = thumbnailFor(outDir, f, options);
      if (t.preview) {
        if (t.preview.data.length > budget) {
          t.reason = 'the page holds enough previews already';
          t.preview = undefined;
        } else {
          budget -= t.preview.data.length;
          thumbs++;
        }
      }
      parts.push(card(f, t));
      if (parts.length >= 64) write(parts.splice(0).join(''));
    }
    write(parts.join(''));
    write(pageTail(report, thumbs));
  } finally {
    fs.closeSync(fd);
  }
  return file;
}

function createExclusive(outDir: string): { fd: number; file: string } {
  for (let n = 1; ; n++) {
    const file = path.join(outDir, n === 1 ? GALLERY_NAME : `report (${n}).html`);
    try {
      return { fd: fs.openSync(file, 'wx'), file };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || n >= 1000) throw err;
    }
  }
}

function countsList(entries: [string, number, string][]): string {
  return entries.map(([cls, n, label]) => `<li class="${cls}"><span class="dot"></span><b>${n}</b> ${esc(label)}</li>`).join('');
}

/** Keys in the preferred order first, then any others the report has. */
function ordered(counts: Record<string, number>, order: string[]): string[] {
  return [...order.filter((k) => counts[k]), ...Object.keys(counts).filter((k) => !order.includes(k) && counts[k])];
}

function pageHead(report: Report): string {
  const s = report.summary;
  const source = report.source.path;
  const volumes = report.volumes
    .filter((v) => v.fs)
    .map((v) => `${v.fs}${v.label ? ` "${v.label}"` : ''}`)
    .join(', ');
  const sub = [
    `${s.files} file${s.files === 1 ? '' : 's'}, ${formatBytes(s.bytes)}`,
    volumes || 'no file system read',
    `recovered ${report.finished.replace('T', ' ').replace(/\.\d+Z$/, ' UTC')}`,
    `${report.tool.name} ${report.tool.version}`,
  ];
  const prov = ordered(s.byProvenance, PROVENANCE_ORDER).map((p): [string, number, string] => [`prov-${token(p)}`, s.byProvenance[p], PROVENANCE_LABEL[p] ?? p]);
  const status = ordered(s.byStatus, STATUS_ORDER).map((st): [string, number, string] => [`st-${token(st)}`, s.byStatus[st], st]);
  const extra: string[] = [];
  if (!report.complete) extra.push(`<li class="warn">${esc(`stopped early${report.stopped ? ` (${report.stopped.message})` : ''}: this list is incomplete`)}</li>`);
  if (s.skipped) extra.push(`<li><b>${s.skipped}</b> deleted entr${s.skipped === 1 ? 'y' : 'ies'} not recovered (overwritten, or the data there is not the file: reasons in report.json)</li>`);
  if (s.unreadableBytes) extra.push(`<li class="warn">${esc(formatBytes(s.unreadableBytes))} of the source unreadable</li>`);
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="${CSP}">
<meta name="referrer" content="no-referrer">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="${esc(`${report.tool.name} ${report.tool.version}`)}">
<title>${esc(`Recovered from ${path.basename(source)} – cardrescue`)}</title>
<style>${STYLE}</style>
</head>
<body>
<header>
<h1>Recovered from <span title="${esc(source)}">${esc(source)}</span></h1>
<p class="sub">${sub.map(esc).join(' · ')}</p>
<ul class="counts">${countsList(prov)}${countsList(status)}${extra.join('')}</ul>
</header>
`;
}

function filterBar(report: Report, kinds: Kind[]): string {
  const s = report.summary;
  const button = (group: string, value: string, label: string, n: number, cls: string) =>
    `<button type="button" class="${cls}" data-filter="${group}" data-value="${esc(value)}" aria-pressed="true"><span class="dot"></span>${esc(label)} <b>${n}</b></button>`;
  const kindCounts: Record<string, number> = {};
  for (const k of kinds) kindCounts[k] = (kindCounts[k] ?? 0) + 1;
  const groups = [
    `<span class="group"><span class="glabel">Found as</span>${ordered(s.byProvenance, PROVENANCE_ORDER)
      .map((p) => button('provenance', p, PROVENANCE_LABEL[p] ?? p, s.byProvenance[p], `prov-${token(p)}`))
      .join('')}</span>`,
    `<span class="group"><span class="glabel">Status</span>${ordered(s.byStatus, STATUS_ORDER)
      .map((st) => button('status', st, st, s.byStatus[st], `st-${token(st)}`))
      .join('')}</span>`,
    `<span class="group"><span class="glabel">Kind</span>${ordered(kindCounts, ['picture', 'video', 'other'])
      .map((k) => button('kind', k, KIND_LABEL[k as Kind], kindCounts[k], `kind-${k}`))
      .join('')}</span>`,
    `<span class="group"><button type="button" id="reset">show all</button></span>`,
  ];
  return `<nav aria-label="Filters">${groups.join('')}<span id="shown">${kinds.length} of ${kinds.length} shown</span></nav>\n`;
}

/** EXIF '2024-05-01T10:20:30' / ISO '…Z' → '2024-05-01 10:20:30'. */
function showDate(d: string): string {
  return d.replace('T', ' ').replace(/\.\d+/, '').replace(/Z$/, ' UTC');
}

function card(f: ReportFile, t: Thumbnail): string {
  const prov = token(f.provenance);
  const status = token(f.status);
  let frame: string;
  if (t.preview) {
    const p = t.preview;
    const rot = p.from !== 'file' && t.meta.orientation ? ROTATION[t.meta.orientation] : undefined;
    const dims = p.width && p.height ? ` width="${p.width}" height="${p.height}"` : '';
    frame = `<img class="thumb${rot ? ` ${rot}` : ''}" alt="" decoding="async"${dims} data-from="${esc(p.from)}" src="data:${p.mime};base64,${p.data.toString('base64')}">`;
  } else {
    const icon = t.kind === 'video' ? ICONS.video : t.kind === 'picture' ? ICONS.picture : ICONS.other;
    frame = `<div class="ph" title="${esc(t.reason ?? (t.kind === 'video' ? 'video' : 'not a picture'))}">${icon}<span>${esc(t.label)}</span></div>`;
  }
  const framed = `<div class="frame">${frame}</div>`;
  const open = f.path ? `<a class="open" href="${esc(fileHref(f.path))}" title="${esc(`Open ${f.name}`)}">${framed}</a>` : framed;

  const camera = f.camera ?? t.meta.camera;
  const rows: string[] = [`<dt>Size</dt><dd>${esc(formatBytes(f.size))}</dd>`];
  if (camera) rows.push(`<dt>Camera</dt><dd title="${esc(camera)}">${esc(camera)}</dd>`);
  if (t.meta.date) rows.push(`<dt>Taken</dt><dd title="${esc(`from the file's metadata${f.mtime ? `; modified ${showDate(f.mtime)}` : ''}`)}">${esc(showDate(t.meta.date))}</dd>`);
  else if (f.mtime) rows.push(`<dt>Modified</dt><dd title="from the file system">${esc(showDate(f.mtime))}</dd>`);
  if (f.originalPath && !('/' + (f.path ?? '')).endsWith(f.originalPath)) rows.push(`<dt>Was</dt><dd title="${esc(f.originalPath)}">${esc(f.originalPath)}</dd>`);
  const unreadable = (f.badRanges ?? []).reduce((n, [, length]) => n + length, 0);
  if (unreadable) rows.push(`<dt>Unreadable</dt><dd class="warn">${esc(formatBytes(unreadable))} (zeros)</dd>`);
  const notes = f.notes.join('\n').slice(0, 800);
  const statusTitle = f.validation?.reason ? `${f.validation.reason}${notes ? `\n${notes}` : ''}` : notes;
  return `<article class="card prov-${prov}" data-provenance="${prov}" data-status="${status}" data-kind="${t.kind}">${open}<div class="info">
<h2 class="name" title="${esc(f.name)}">${esc(f.name)}</h2>
<div class="badges"><span class="badge prov-${prov}">${esc(f.provenance)}</span><span class="badge st-${status}"${statusTitle ? ` title="${esc(statusTitle)}"` : ''}>${esc(f.status)}</span></div>
<dl>${rows.join('')}</dl>
<p class="path">${f.path ? esc(f.path).split('/').join('/<wbr>') : '(not written)'}</p>
</div></article>
`;
}

function pageTail(report: Report, thumbs: number): string {
  const none = report.files.length === 0 ? '<p>No files were recovered.</p>' : '';
  return `</main>
<footer data-thumbs="${thumbs}">${none}<p>${thumbs} preview${thumbs === 1 ? '' : 's'} embedded from the files themselves (nothing decoded). Click a card to open the recovered file; the list with byte runs and checksums is in report.json. Alt-click a filter to show only that value.</p></footer>
<script>${SCRIPT}</script>
</body>
</html>
`;
}
