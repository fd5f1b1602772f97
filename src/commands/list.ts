import type { ByteSource } from '../source/source.js';
import { runPipeline, type PipelineOptions } from '../pipeline.js';
import { fileToReport } from '../report.js';
import { formatBytes } from '../format.js';
import { ExitCode } from '../errors.js';
import { createProgressReporter } from '../progress.js';

export function listCommand(source: ByteSource, opts: PipelineOptions & { json?: boolean; quiet?: boolean }): number {
  const progress = createProgressReporter({ quiet: opts.quiet });
  const { analysis, files, skipped } = runPipeline(source, { ...opts, onProgress: (e) => progress.update(e) });
  progress.stop();
  if (opts.json) {
    process.stdout.write(JSON.stringify({ files: files.map(fileToReport), skipped }, null, 2) + '\n');
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
  const line = (r: string[]) => r.map((c, i) => (i === 1 ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join('  ').trimEnd();
  const out = [line(header), ...rows.map(line)];
  for (const s of skipped) out.push(`(not recoverable) ${s.originalPath}: ${s.reason}`);
  const by = (p: string) => files.filter((f) => f.provenance === p).length;
  out.push(`${files.length} file(s): ${by('allocated')} allocated, ${by('deleted')} deleted, ${by('orphan')} orphaned, ${by('carved')} carved`);
  process.stdout.write(out.join('\n') + '\n');
  return files.length ? ExitCode.ok : ExitCode.nothingFound;
}
