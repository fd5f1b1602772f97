/**
 * One fuzz case: the whole pipeline over a (mutated) image, then what must hold whatever
 * the bytes: no exception, sane runs, a report that serialises, files that write inside
 * the output folder with the bytes the runs say, and no file vouched for that is not real.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import crypto from 'node:crypto';
import { BufferReader } from '../reader.js';
import { runPipeline, type PipelineOptions } from '../pipeline.js';
import { buildReport } from '../report.js';
import { relativeOutputPath, writeRecovered } from '../output.js';

export interface Known {
  /** sha256 and sizes of the files the clean image holds (its manifest). */
  shas: Set<string>;
  sizes: Set<number>;
}

export interface CaseResult {
  files: number;
  /** Broken invariants, in words. Empty: the case passed. */
  problems: string[];
  /**
   * Files a walker vouches for that are no original file: a mutated length field the walker
   * followed, or a fragmented file stitched to another's tail. Carving accuracy, not robustness.
   */
  suspects: string[];
  ms: number;
}

export interface CheckOptions {
  pipeline?: PipelineOptions;
  /** Write the files to a temporary folder with the real writer and check them (default true). */
  write?: boolean;
  /** Files larger than this are not written (default 8 MiB): the writer's path is the same, only slower. */
  maxWriteBytes?: number;
}

const sha256 = (b: Buffer) => crypto.createHash('sha256').update(b).digest('hex');

/** Options a case runs with: mostly the defaults, sometimes the other paths through the pipeline. */
export function caseOptions(seed: number): PipelineOptions {
  switch (seed % 8) {
    case 5:
      return { keepPartial: true };
    case 6:
      return { carveOnly: true };
    case 7:
      return { carve: false };
    default:
      return {};
  }
}

/** Run one case. Throws what the pipeline throws (a crash); returns the broken invariants. */
export function checkCase(bytes: Buffer, known: Known | undefined, options: CheckOptions = {}): CaseResult {
  const started = Date.now();
  const disk = new BufferReader(bytes);
  const result = runPipeline(disk, options.pipeline);
  const problems: string[] = [];
  const suspects: string[] = [];
  const { files } = result;
  for (const f of files) {
    const label = `${f.provenance} ${f.originalPath ?? f.name}`;
    let sum = 0;
    for (const r of f.runs) {
      if (!Number.isSafeInteger(r.offset) || !Number.isSafeInteger(r.length) || r.offset < 0 || r.length <= 0 || r.offset + r.length > bytes.length) {
        problems.push(`${label}: run [${r.offset}, ${r.length}] outside the source (${bytes.length} bytes)`);
      }
      sum += r.length;
    }
    if (!Number.isSafeInteger(f.size) || f.size < 0) problems.push(`${label}: size ${f.size}`);
    else if (sum > f.size) problems.push(`${label}: runs hold ${sum} bytes, more than its size ${f.size}`);
    else if (sum < f.size && f.status !== 'damaged') problems.push(`${label}: runs hold ${sum} of ${f.size} bytes but the status is ${f.status}`);
    // A file a walker vouches for should be real: the mutations rarely make a new valid file.
    if (known && known.sizes.size && f.validation?.ok && f.status === 'ok' && !known.sizes.has(f.size)) {
      const data = Buffer.concat(f.runs.map((r) => bytes.subarray(r.offset, r.offset + r.length)));
      if (!isKnown(data, known)) suspects.push(`${label}: vouched for (${f.validation.by}) at ${f.size} bytes, which no original file has`);
    }
  }
  const report = buildReport({
    source: { path: 'fuzz.img', size: bytes.length, kind: 'image', badRanges: [], badBytes: 0 },
    analysis: result.analysis,
    files,
    skipped: result.skipped,
    started: new Date(started),
    complete: true,
  });
  JSON.parse(JSON.stringify(report));
  for (const f of report.files) {
    for (const k of ['mtime', 'ctime'] as const) if (f[k] !== null && Number.isNaN(Date.parse(f[k]!))) problems.push(`${f.name}: ${k} ${f[k]}`);
  }
  if (options.write !== false) problems.push(...writeAndCompare(disk, bytes, files.filter((f) => f.size <= (options.maxWriteBytes ?? 8 * 1024 * 1024)), result.analysis.volumes.filter((v) => v.fs).length > 1));
  return { files: files.length, problems, suspects, ms: Date.now() - started };
}

/** An original file, or one followed by padding (zeros or 0xff) up to a size the entry claimed. */
function isKnown(data: Buffer, known: Known): boolean {
  if (known.shas.has(sha256(data))) return true;
  for (const size of known.sizes) {
    if (size === 0 || size >= data.length) continue;
    const pad = data[size];
    if ((pad === 0 || pad === 0xff) && data.subarray(size).every((b) => b === pad) && known.shas.has(sha256(data.subarray(0, size)))) return true;
  }
  return false;
}

/** The folder a fuzz run's workers write in (main.ts makes it, and removes it with whatever a killed worker left). */
export const FUZZ_SCRATCH_ENV = 'CARDRESCUE_FUZZ_SCRATCH';

/** Memory-backed when there is one: the fuzzer writes a lot. */
export function scratchBase(): string {
  return fs.existsSync('/dev/shm') && fs.statSync('/dev/shm').isDirectory() ? '/dev/shm' : os.tmpdir();
}

function writeAndCompare(disk: BufferReader, bytes: Buffer, files: ReturnType<typeof runPipeline>['files'], multiVolume: boolean): string[] {
  const problems: string[] = [];
  const out = fs.mkdtempSync(path.join(process.env[FUZZ_SCRATCH_ENV] ?? scratchBase(), 'cardrescue-fuzz-'));
  try {
    for (const f of files) {
      const rel = relativeOutputPath(f, multiVolume);
      const written = writeRecovered(disk, f, out, rel);
      const full = path.resolve(out, written.path);
      if (!full.startsWith(out + path.sep)) problems.push(`${f.name}: written outside the output folder: ${written.path}`);
      const hash = crypto.createHash('sha256');
      let length = 0;
      for (const r of f.runs) {
        hash.update(bytes.subarray(r.offset, r.offset + r.length));
        length += r.length;
      }
      const expected = hash.digest('hex');
      const size = fs.statSync(full).size;
      // Reading back every large file would make a case slow; the writer's own hash covers them.
      if (written.sha256 !== expected || size !== length || (size <= 1024 * 1024 && sha256(fs.readFileSync(full)) !== expected)) {
        problems.push(`${written.path}: written bytes differ from its runs`);
      }
    }
  } finally {
    fs.rmSync(out, { recursive: true, force: true });
  }
  return problems;
}
