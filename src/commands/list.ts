import type { ByteSource } from '../source/source.js';
import { runPipeline, type PipelineOptions } from '../pipeline.js';
import { fileToReport } from '../report.js';
import { formatBytes } from '../format.js';
import { ExitCode } from '../errors.js';
import { createProgressReporter } from '../progress.js';
import { markUnreadable } from '../badmap.js';
import { writeJsonTo } from '../json-pieces.js';
import { mark } from '../timing.js';
import { warnAboutLayout } from '../diagnostics.js';

export function listCommand(source: ByteSource, opts: PipelineOptions & { json?: boolean; quiet?: boolean }): number {
  const progress = createProgressReporter({ quiet: opts.quiet });
  const { analysis, files, skipped } = runPipeline(source, { ...opts, onProgress: (e) => progress.update(e) });
  progress.stop();
  mark('pipeline done');
  markUnreadable(files, source.badRanges);
  warnAboutLayout(analysis.layout.diagnostics);
  if (opts.json) {
    writeJsonTo(process.stdout, { files: files.map((f) => fileToReport(f, source.badRanges)), skipped });
    return files.length ? ExitCode.ok : ExitCode.nothingFound;
  }
  const multi = analysis.volumes.length > 1;
  const rows = files.map((f) => [
    (multi ? `[${f.volume}] ` : '') + (f.provenance === 'carved' && !f.originalPath ? `carved/${f.format}/${f.name}` : f.originalPath ?? f.name),
    formatBytes(f.size),
    f.provenance,
    f.status,
    f.format ?? '',
  ]);
  const header = ['PATH', 'SIZE', 'PROVENANCE', 'STATUS', 'FORMAT'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  // On a terminal the path column gives way so each file stays on one line.
  const columns = process.stdout.isTTY ? process.stdout.columns : undefined;
  if (columns) {
    const others = widths.slice(1).reduce((a, b) => a + b, 0) + 2 * (widths.length - 1);
    widths[0] = Math.max(20, Math.min(widths[0], columns - others));
    for (const r of rows) r[0] = fitMiddle(r[0], widths[0]);
  }
  const line = (r: string[]) => r.map((c, i) => (i === 1 ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join('  ').trimEnd();
  const out = [line(header), ...rows.map(line)];
  for (const s of skipped) out.push(`(not recoverable) ${s.originalPath}: ${s.reason}`);
  const by = (p: string) => files.filter((f) => f.provenance === p).length;
  out.push(`${files.length} file(s): ${by('allocated')} allocated, ${by('deleted')} deleted, ${by('orphan')} orphaned, ${by('carved')} carved`);
  process.stdout.write(out.join('\n') + '\n');
  return files.length ? ExitCode.ok : ExitCode.nothingFound;
}

/** 'DCIM/100CANON/…/IMG_0001.JPG': keep both ends of a long path, which is what people read. */
export function fitMiddle(text: string, width: number): string {
  if (text.length <= width) return text;
  const keepEnd = Math.ceil((width - 1) * 0.6);
  return text.slice(0, width - 1 - keepEnd) + '…' + text.slice(text.length - keepEnd);
}
