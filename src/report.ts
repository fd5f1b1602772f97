import type { ByteRun } from './reader.js';
import type { Analysis } from './analyse.js';
import type { RecoveredFile, SkippedEntry } from './record.js';
import { toolVersion } from './version.js';
import { unreadableParts } from './source/ranges.js';

/** report.json, documented in docs/report.md. Benchmarks and users' scripts read it: keep it stable. */
export interface Report {
  schema: 1;
  tool: { name: 'cardrescue'; version: string };
  source: { path: string; size: number; kind: string };
  started: string;
  finished: string;
  complete: boolean;
  /** Why the recovery stopped early (complete: false): a signal or an output error. */
  stopped?: StopInfo;
  partitionTable: string;
  /** What reading the partition table found wrong (a partition past the end of the source, ...). */
  partitionTableDiagnostics: { code: string; severity: string; message: string; offset?: number }[];
  volumes: ReportVolume[];
  gaps: [number, number][];
  badRanges: [number, number][];
  files: ReportFile[];
  skipped: SkippedEntry[];
  summary: ReportSummary;
}

export interface StopInfo {
  reason: 'SIGINT' | 'SIGTERM' | 'output-error';
  message: string;
  /** Files found but not written. */
  filesNotWritten: number;
}

export interface ReportVolume {
  index: number;
  offset: number;
  length: number;
  partitionType?: string;
  fs: string | null;
  problem?: string;
  bytesPerSector?: number;
  clusterSize?: number;
  clusterCount?: number;
  dataOffset?: number;
  fatOffset?: number;
  fatCount?: number;
  label?: string;
  serial?: string;
  bootSector?: string;
  diagnostics: { code: string; severity: string; message: string; offset?: number }[];
}

export interface ReportFile {
  path: string | null;
  name: string;
  size: number;
  sha256: string | null;
  provenance: string;
  format: string | null;
  camera?: string;
  originalPath: string | null;
  volume: number;
  mtime: string | null;
  ctime: string | null;
  runs: [number, number][];
  basis: string;
  status: string;
  validation: RecoveredFile['validation'] | null;
  notes: string[];
  /** The parts of the file's runs that could not be read (zeros in the file): absolute [offset, length]. */
  badRanges: [number, number][];
}

export interface ReportSummary {
  files: number;
  bytes: number;
  byProvenance: Record<string, number>;
  byFormat: Record<string, number>;
  byStatus: Record<string, number>;
  failedValidation: number;
  damaged: number;
  skipped: number;
  unreadableBytes: number;
}

const pair = (r: ByteRun): [number, number] => [r.offset, r.length];
const iso = (d?: Date) => (d && !Number.isNaN(d.getTime()) ? d.toISOString() : null);

export function fileToReport(f: RecoveredFile, badRanges: readonly ByteRun[] = []): ReportFile {
  return {
    path: f.path ?? null,
    name: f.name,
    size: f.size,
    sha256: f.sha256 ?? null,
    provenance: f.provenance,
    format: f.format ?? null,
    camera: f.camera,
    originalPath: f.originalPath ?? null,
    volume: f.volume,
    mtime: iso(f.mtime),
    ctime: iso(f.ctime),
    runs: f.runs.map(pair),
    basis: f.basis,
    status: f.status,
    validation: f.validation ?? null,
    notes: f.notes,
    badRanges: unreadableParts(f.runs, badRanges).map(pair),
  };
}

function count<T>(items: T[], key: (t: T) => string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const i of items) out[key(i)] = (out[key(i)] ?? 0) + 1;
  return out;
}

export function summarize(files: RecoveredFile[], skipped: SkippedEntry[], unreadableBytes: number): ReportSummary {
  return {
    files: files.length,
    bytes: files.reduce((n, f) => n + f.size, 0),
    byProvenance: count(files, (f) => f.provenance),
    byFormat: count(files, (f) => f.format ?? 'unknown'),
    byStatus: count(files, (f) => f.status),
    failedValidation: files.filter((f) => f.validation && !f.validation.ok).length,
    damaged: files.filter((f) => f.status === 'damaged').length,
    skipped: skipped.length,
    unreadableBytes,
  };
}

export function volumesToReport(analysis: Analysis): ReportVolume[] {
  return analysis.volumes.map(({ volume, fs, problem, diagnostics }) => ({
    index: volume.index,
    offset: volume.offset,
    length: volume.length,
    partitionType: volume.partition?.type,
    fs: fs?.type ?? null,
    problem,
    bytesPerSector: fs?.geometry.bytesPerSector,
    clusterSize: fs?.geometry.clusterSize,
    clusterCount: fs?.geometry.clusterCount,
    dataOffset: fs ? volume.offset + fs.geometry.dataOffset : undefined,
    fatOffset: fs ? volume.offset + fs.geometry.fatOffset : undefined,
    fatCount: fs?.geometry.fatCount,
    label: fs?.geometry.label,
    serial: fs?.geometry.serial,
    bootSector: fs?.geometry.bootSector,
    diagnostics: diagnostics.map((d) => ({ ...d })),
  }));
}

export function buildReport(args: {
  source: { path: string; size: number; kind: string; badRanges: readonly ByteRun[]; badBytes: number };
  analysis: Analysis;
  files: RecoveredFile[];
  skipped: SkippedEntry[];
  started: Date;
  complete: boolean;
  stopped?: StopInfo;
}): Report {
  return {
    schema: 1,
    tool: { name: 'cardrescue', version: toolVersion() },
    source: { path: args.source.path, size: args.source.size, kind: args.source.kind },
    started: args.started.toISOString(),
    finished: new Date().toISOString(),
    complete: args.complete,
    ...(args.stopped ? { stopped: args.stopped } : {}),
    partitionTable: args.analysis.layout.scheme,
    partitionTableDiagnostics: args.analysis.layout.diagnostics.map((d) => ({ ...d })),
    volumes: volumesToReport(args.analysis),
    gaps: args.analysis.layout.gaps.map(pair),
    badRanges: args.source.badRanges.map(pair),
    files: args.files.map((f) => fileToReport(f, args.source.badRanges)),
    skipped: args.skipped,
    summary: summarize(args.files, args.skipped, args.source.badBytes),
  };
}
