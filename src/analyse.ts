import type { Reader } from './reader.js';
import type { Diagnostic } from './diagnostics.js';
import type { FileSystem } from '../parsers/types.js';
import { detectVolumes, type Volume, type VolumeLayout } from './volumes.js';
import { detectFileSystem } from './filesystems.js';
import { planPreviousGeometry, planVolume, type PlanOptions, type VolumePlan } from './plan.js';
import { ExitCode, UserError } from './errors.js';
import { rebuildLostFat } from '../parsers/fat/index.js';

export interface VolumeAnalysis {
  volume: Volume;
  fs?: FileSystem;
  /** Why no file system could be read here, in words. */
  problem?: string;
  plan?: VolumePlan;
  diagnostics: Diagnostic[];
}

export interface Analysis {
  layout: VolumeLayout;
  volumes: VolumeAnalysis[];
}

export interface AnalyseOptions {
  /** Only this volume (1-based partition number; 0 for a card without partition table). */
  volume?: number;
  plan?: PlanOptions;
}

/** source → volumes → file systems → plan. Pure reading; nothing is written. */
export function analyse(disk: Reader, options: AnalyseOptions = {}): Analysis {
  const layout = detectVolumes(disk);
  let volumes = layout.volumes;
  if (options.volume !== undefined) {
    volumes = volumes.filter((v) => v.index === options.volume);
    if (volumes.length === 0) {
      const known = layout.volumes.map((v) => v.index).join(', ');
      throw new UserError(`--volume ${options.volume}: no such volume (this source has: ${known})`, ExitCode.usage);
    }
  }
  return { layout, volumes: volumes.map((v) => analyseVolume(disk, v, options.plan)) };
}

function analyseVolume(disk: Reader, volume: Volume, planOptions?: PlanOptions): VolumeAnalysis {
  const { driver, ambiguous } = detectFileSystem(volume.reader);
  if (ambiguous) return { volume, problem: `several file systems claim this volume (${ambiguous.join(', ')})`, diagnostics: [] };
  const fs = driver ? driver.open(volume.reader) : rebuildLostFat(volume.reader);
  if (!fs) return { volume, problem: 'no FAT or exFAT file system found', diagnostics: [] };
  const plan = planVolume(disk, volume, fs, planOptions);
  if (driver) planGeometryChange(disk, plan, planOptions);
  return { volume, fs, plan, diagnostics: fs.diagnostics };
}

/**
 * When the orphan sweep met old folders that name clusters of another geometry (the card
 * was formatted with another cluster size or data start), plan their files through it.
 * Runs after the sweep, whether that ran in planVolume or rode along the carving scan.
 */
export function planGeometryChange(disk: Reader, plan: VolumePlan, planOptions?: PlanOptions): void {
  const { fs, volume } = plan;
  if (!fs.diagnostics.some((d) => d.code === 'fat.orphan-geometry')) return;
  const old = rebuildLostFat(volume.reader, { ignore: { clusterSize: fs.geometry.clusterSize, dataOffset: fs.geometry.dataOffset } });
  if (old) planPreviousGeometry(disk, plan, old, planOptions);
}
