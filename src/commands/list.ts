import type { ByteSource } from '../source/source.js';
import { analyse } from '../analyse.js';
import { fileToReport } from '../report.js';
import { formatBytes } from '../format.js';
import { ExitCode } from '../errors.js';
import { contentValidator } from '../validate.js';

export function listCommand(source: ByteSource, opts: { volume?: number; json?: boolean }): number {
  const analysis = analyse(source, { volume: opts.volume, validate: contentValidator() });
  const files = analysis.volumes.flatMap((v) => v.plan?.files ?? []);
  const skipped = analysis.volumes.flatMap((v) => v.plan?.skipped ?? []);
  if (opts.json) {
    process.stdout.write(JSON.stringify({ files: files.map(fileToReport), skipped }, null, 2) + '\n');
    return files.length ? ExitCode.ok : ExitCode.nothingFound;
  }
  const multi = analysis.volumes.length > 1;
  const rows = files.map((f) => [
    (multi ? `[${f.volume}] ` : '') + (f.originalPath ?? f.name),
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
  out.push(`${files.length} file(s): ${files.filter((f) => f.provenance === 'allocated').length} allocated, ${files.filter((f) => f.provenance === 'deleted').length} deleted`);
  process.stdout.write(out.join('\n') + '\n');
  return files.length ? ExitCode.ok : ExitCode.nothingFound;
}
