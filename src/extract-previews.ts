import fs from 'node:fs';
import path from 'node:path';
import { findPreview } from '../carvers/previews.js';
import { FileReader } from './gallery/file-reader.js';
import type { RecoveredFile } from './record.js';

/** The largest preview a file carries: a raw's full-size JPEG, a CR3's PRVW, a JPEG's EXIF thumbnail. */
const LARGEST = { maxBytes: 64 * 1024 * 1024, minWidth: Number.MAX_SAFE_INTEGER, wholeFileMax: 0 };

/**
 * --extract-previews: embedded previews are never carved as files of their own; on request
 * each recovered file's largest preview is written beside the others under previews/, named
 * after the file it came from, and noted on that file.
 */
export function extractPreviews(outDir: string, files: RecoveredFile[]): number {
  let count = 0;
  for (const file of files) {
    if (!file.path || file.size === 0) continue;
    let reader: FileReader | undefined;
    try {
      reader = FileReader.open(path.join(outDir, file.path));
      const { preview } = findPreview(reader, LARGEST);
      if (!preview) continue;
      const ext = preview.mime === 'image/webp' ? 'webp' : 'jpg';
      const rel = writeExclusive(outDir, `previews/${file.path}.preview`, ext, preview.data);
      file.notes.push(`embedded preview (${preview.from}${preview.width ? `, ${preview.width}x${preview.height}` : ''}) written to ${rel}`);
      count++;
    } catch {
      // A preview is a bonus: an unreadable one never stops the recovery.
    } finally {
      reader?.close();
    }
  }
  return count;
}

function writeExclusive(outDir: string, stem: string, ext: string, data: Buffer): string {
  for (let n = 1; ; n++) {
    const rel = n === 1 ? `${stem}.${ext}` : `${stem} (${n}).${ext}`;
    const full = path.join(outDir, rel);
    fs.mkdirSync(path.dirname(full), { recursive: true });
    try {
      fs.writeFileSync(full, data, { flag: 'wx' });
      return rel;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
  }
}
