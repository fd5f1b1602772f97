import fs from 'node:fs';
import path from 'node:path';
import chalk from 'chalk';
import type { ByteSource } from '../source/source.js';
import { runPipeline, type PipelineOptions } from '../pipeline.js';
import { buildReport, type Report } from '../report.js';
import { checkOutputDir, prepareOutputDir, relativeOutputPath, writeRecovered } from '../output.js';
import { formatBytes } from '../format.js';
import { ExitCode } from '../errors.js';
import type { RecoveredFile } from '../record.js';

export interface RecoverOptions extends PipelineOptions {
  out: string;
  json?: boolean;
  quiet?: boolean;
}

export function recoverCommand(source: ByteSource, opts: RecoverOptions): number {
  const started = new Date();
  checkOutputDir(opts.out, source);
  prepareOutputDir(opts.out);
  const { analysis, files, skipped } = runPipeline(source, opts);
  const multiVolume = analysis.volumes.filter((v) => v.fs).length > 1;
  // Source order keeps reads sequential on a real card.
  const order = [...files].sort((a, b) => (a.runs[0]?.offset ?? 0) - (b.runs[0]?.offset ?? 0));
  for (const file of order) {
    const written = writeRecovered(source, file, opts.out, relativeOutputPath(file, multiVolume));
    file.path = written.path;
    file.sha256 = written.sha256;
  }
  const report = buildReport({ source, analysis, files, skipped, started, complete: true });
  fs.writeFileSync(path.join(opts.out, 'report.json'), JSON.stringify(report, null, 2) + '\n', { flag: 'wx' });

  if (opts.verbose) {
    for (const f of files) for (const n of f.notes) if (n.startsWith('boxes: ')) process.stderr.write(`${f.path}: ${n.slice(7)}\n`);
  }
  if (opts.json) process.stdout.write(JSON.stringify(report, null, 2) + '\n');
  else if (!opts.quiet) process.stdout.write(summaryText(report, opts.out) + '\n');
  return files.length === 0 ? ExitCode.nothingFound : ExitCode.ok;
}

function summaryText(report: Report, outDir: string): string {
  const s = report.summary;
  const lines: string[] = [];
  const volumes = report.volumes.map((v) => (v.fs ? `${v.fs}${v.label ? ` "${v.label}"` : ''}` : `volume ${v.index}: ${v.problem}`));
  lines.push(chalk.bold(`Recovered ${s.files} file(s), ${formatBytes(s.bytes)}, from ${report.source.path}`) + ` (${volumes.join('; ')})`);
  const order: (keyof typeof labels)[] = ['allocated', 'deleted', 'orphan', 'carved'];
  const labels = { allocated: 'live files', deleted: 'deleted files', orphan: 'from lost folders', carved: 'carved by content' } as const;
  for (const p of order) {
    const n = s.byProvenance[p] ?? 0;
    if (n) lines.push(`  ${String(n).padStart(6)}  ${labels[p]}`);
  }
  const unverified = s.byStatus.unverified ?? 0;
  if (unverified) lines.push(chalk.yellow(`  ${unverified} file(s) could not be checked against their format: open them to be sure`));
  if (s.damaged) lines.push(chalk.red(`  ${s.damaged} file(s) are damaged (see report.json)`));
  if (s.skipped) lines.push(`  ${s.skipped} deleted entr${s.skipped === 1 ? 'y was' : 'ies were'} overwritten and could not be recovered`);
  if (s.unreadableBytes) lines.push(chalk.red(`  ${formatBytes(s.unreadableBytes)} of the source could not be read`));
  lines.push(`Files are in ${outDir}${s.byProvenance.deleted ? ` (deleted ones under ${path.join(outDir, 'deleted')})` : ''}; details in ${path.join(outDir, 'report.json')}`);
  return lines.join('\n');
}

export type { RecoveredFile };
