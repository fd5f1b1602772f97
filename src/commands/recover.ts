import fs from 'node:fs';
import path from 'node:path';
import chalk from 'chalk';
import type { ByteSource } from '../source/source.js';
import { runPipeline, type PipelineOptions } from '../pipeline.js';
import { buildReport, type Report, type StopInfo } from '../report.js';
import { checkOutputDir, OutputWriter, prepareOutputDir, relativeOutputPath, reserveSpace, type WriteResult } from '../output.js';
import { formatBytes } from '../format.js';
import { ExitCode, UserError } from '../errors.js';
import { warnAboutLayout } from '../diagnostics.js';
import type { RecoveredFile } from '../record.js';
import { writeGallery } from '../gallery/gallery.js';
import { markUnreadable } from '../badmap.js';
import { mark } from '../timing.js';
import { jsonByteLength, writeJsonFile, writeJsonTo } from '../json-pieces.js';
import { watchInterrupts } from '../interrupt.js';
import { createProgressReporter } from '../progress.js';
import { extractPreviews } from '../extract-previews.js';

export interface RecoverOptions extends PipelineOptions {
  out: string;
  /** Also write each file's embedded preview under previews/. */
  extractPreviews?: boolean;
  json?: boolean;
  quiet?: boolean;
}

export async function recoverCommand(source: ByteSource, opts: RecoverOptions): Promise<number> {
  const started = new Date();
  checkOutputDir(opts.out, source);
  prepareOutputDir(opts.out);
  const progress = createProgressReporter({ quiet: opts.quiet || opts.json });
  const { analysis, files, skipped } = runPipeline(source, { ...opts, onProgress: (e) => progress.update(e) });
  warnAboutLayout(analysis.layout.diagnostics);
  const found = countByProvenance(files);
  const bytesToWrite = files.reduce((n, f) => n + f.size, 0);
  let bytesWritten = 0;
  const multiVolume = analysis.volumes.filter((v) => v.fs).length > 1;
  // Source order keeps reads sequential on a real card.
  const order = [...files].sort((a, b) => (a.runs[0]?.offset ?? 0) - (b.runs[0]?.offset ?? 0));
  // Room for report.json, so a full disk still gets it: about its size with paths and hashes filled in.
  const release = reserveSpace(opts.out, jsonByteLength(buildReport({ source, analysis, files, skipped, started, complete: true })) + files.length * 200);
  // Ctrl-C while writing: finish cleanly (the unfinished file is removed, report.json says complete: false).
  const interrupt = watchInterrupts((sig) => process.stderr.write(`\ncardrescue: ${sig}: stopping; writing report.json (again to quit at once)\n`));
  let outputFailure: UserError | undefined;
  progress.update({ stage: 'write', done: 0, total: bytesToWrite, found });
  // Reads go in source order; the writes of what was read overlap the next reads (OutputWriter).
  const writer = new OutputWriter(source, opts.out);
  const queued: { file: RecoveredFile; done: Promise<WriteResult | null> }[] = [];
  const onDisk = (file: RecoveredFile) => (result: WriteResult | null) => {
    if (result) {
      bytesWritten += file.size;
      progress.update({ stage: 'write', done: bytesWritten, total: bytesToWrite, found });
    }
    return result;
  };
  try {
    for (const file of order) {
      if (interrupt.signal || writer.failed) break;
      let done: Promise<WriteResult | null>;
      try {
        ({ done } = await writer.write(file, relativeOutputPath(file, multiVolume), () => interrupt.signal !== null));
      } catch (err) {
        // The file could not even be created (permissions, a read-only or full disk).
        if (!(err instanceof UserError && err.exitCode === ExitCode.output)) throw err;
        outputFailure = err;
        break;
      }
      const settled = done.then(onDisk(file));
      settled.catch(() => undefined); // looked at below, once everything queued has settled
      queued.push({ file, done: settled });
    }
    // Every file queued is on disk (or failed) before the report says what was written.
    await Promise.allSettled(queued.map((q) => q.done));
  } finally {
    writer.close();
    interrupt.dispose();
    progress.stop();
  }
  const written: RecoveredFile[] = [];
  for (const { file, done } of queued) {
    let result: WriteResult | null;
    try {
      result = await done;
    } catch (err) {
      if (!(err instanceof UserError && err.exitCode === ExitCode.output)) throw err;
      outputFailure ??= err;
      continue;
    }
    if (!result) continue;
    file.path = result.path;
    file.sha256 = result.sha256;
    written.push(file);
  }
  if (opts.extractPreviews && !interrupt.signal && !outputFailure) extractPreviews(opts.out, written);
  // Reads made while writing may have found more unreadable sectors.
  markUnreadable(written, source.badRanges);
  const notWritten = files.length - written.length;
  const stopped: StopInfo | undefined = interrupt.signal
    ? { reason: interrupt.signal, message: `interrupted by ${interrupt.signal}`, filesNotWritten: notWritten }
    : outputFailure
      ? { reason: 'output-error', message: outputFailure.message, filesNotWritten: notWritten }
      : undefined;
  mark('files written');
  const report = buildReport({ source, analysis, files: written, skipped, started, complete: !stopped, stopped });
  mark('report built');
  release();
  try {
    writeJsonFile(path.join(opts.out, 'report.json'), report);
    mark('report.json written');
  } catch (err) {
    if (!outputFailure) throw err;
    throw new UserError(`${outputFailure.message}; ${written.length} of ${files.length} file(s) were written, report.json could not be written either`, ExitCode.output);
  }
  try {
    writeGallery(opts.out, report);
    mark('gallery written');
  } catch (err) {
    // On a full disk the report matters more than the gallery.
    if (!outputFailure) throw err;
  }
  if (outputFailure) {
    throw new UserError(`${outputFailure.message}; ${written.length} of ${files.length} file(s) were written, listed in ${path.join(opts.out, 'report.json')} (complete: false)`, ExitCode.output);
  }

  if (opts.verbose) {
    for (const f of written) for (const n of f.notes) if (n.startsWith('boxes: ')) process.stderr.write(`${f.path}: ${n.slice(7)}\n`);
  }
  if (opts.json) writeJsonTo(process.stdout, report);
  else if (!opts.quiet) process.stdout.write(summaryText(report, opts.out) + '\n');
  if (stopped) {
    process.stderr.write(`cardrescue: interrupted: ${written.length} of ${files.length} file(s) written; report.json says complete: false\n`);
    return ExitCode.interrupted;
  }
  if (files.length === 0) return ExitCode.nothingFound;
  // Everything was written, but some of it is incomplete: scripts should know.
  return report.summary.damaged > 0 ? ExitCode.partial : ExitCode.ok;
}

function countByProvenance(files: RecoveredFile[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const f of files) out[f.provenance] = (out[f.provenance] ?? 0) + 1;
  return out;
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
  if (s.skipped) lines.push(`  ${s.skipped} deleted entr${s.skipped === 1 ? 'y' : 'ies'} could not be recovered (overwritten, or the data there is not the file: reasons in report.json)`);
  if (s.unreadableBytes) {
    const touched = report.files.filter((f) => f.badRanges.length > 0).length;
    lines.push(chalk.red(`  ${formatBytes(s.unreadableBytes)} of the source could not be read (zeros in its place); ${touched} file(s) touch it`));
  }
  const formats = Object.entries(s.byFormat)
    .sort((a, b) => b[1] - a[1])
    .map(([f, n]) => `${n} ${f === 'unknown' ? 'other' : f}`);
  if (formats.length) lines.push(`  by format: ${formats.join(', ')}`);
  lines.push(`Files are in ${outDir}${s.byProvenance.deleted ? ` (deleted ones under ${path.join(outDir, 'deleted')})` : ''}; details in ${path.join(outDir, 'report.json')}`);
  if (s.files > 0) {
    lines.push(chalk.dim(`Next: browse ${path.join(outDir, 'report.html')}, copy what you need to a safe place, and only then format or reuse the card.`));
  } else {
    lines.push('Nothing was found. Check `cardrescue info` for the card: a full or secure format leaves nothing behind.');
  }
  return lines.join('\n');
}

export type { RecoveredFile };
