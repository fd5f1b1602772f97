import path from 'node:path';
import { findPreview, type Preview, type PreviewMeta, type PreviewOptions } from '../../carvers/previews.js';
import type { ReportFile } from '../report.js';
import { withFile } from './file-reader.js';

export type Kind = 'picture' | 'video' | 'other';

/** Formats (report `format`, or the name's extension when no walker knew the file) shown as pictures. */
const PICTURES = new Set([
  'jpeg', 'jpg', 'jpe', 'mpo', 'thm', 'cr3', 'cr2', 'crw', 'nef', 'nrw', 'arw', 'srf', 'sr2', 'dng', 'gpr', 'tif', 'tiff',
  'orf', 'rw2', 'pef', 'srw', 'raf', '3fr', 'dcr', 'kdc', 'erf', 'mef', 'mos', 'iiq', 'heic', 'heif', 'hif', 'avif', 'webp',
]);
const VIDEOS = new Set(['mov', 'mp4', 'm4v', '3gp', 'avi', 'mts', 'm2ts', 'ts', 'mpeg', 'mpg', 'vcd', 'dat', 'mkv', 'wmv', 'lrv']);

export function extensionOf(name: string): string {
  const dot = name.lastIndexOf('.');
  return dot > 0 ? name.slice(dot + 1).toLowerCase() : '';
}

export function kindOf(file: Pick<ReportFile, 'format' | 'name'>): Kind {
  const key = file.format ?? extensionOf(file.name);
  if (PICTURES.has(key)) return 'picture';
  if (VIDEOS.has(key)) return 'video';
  return 'other';
}

export interface Thumbnail {
  kind: Kind;
  /** Short upper-case type shown on placeholders: 'CR3', 'MOV', 'TXT'. */
  label: string;
  preview?: Preview;
  /** Why a picture has no preview. */
  reason?: string;
  meta: PreviewMeta;
}

/**
 * The preview of one recovered file, read by offset from `<outDir>/<path>`. Pictures
 * only: videos and other files get a placeholder without being opened. Never throws.
 */
export function thumbnailFor(outDir: string, file: ReportFile, options: PreviewOptions = {}): Thumbnail {
  const kind = kindOf(file);
  const label = (file.format ?? extensionOf(file.name)).toUpperCase().slice(0, 6) || 'FILE';
  if (kind !== 'picture') return { kind, label, meta: {} };
  if (!file.path) return { kind, label, reason: 'the file was not written', meta: {} };
  if (file.size === 0) return { kind, label, reason: 'empty file', meta: {} };
  try {
    const r = withFile(path.join(outDir, file.path), (reader) => findPreview(reader, options));
    return { kind, label, preview: r.preview, reason: r.reason, meta: r.meta };
  } catch (err) {
    return { kind, label, reason: `not readable: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, meta: {} };
  }
}
