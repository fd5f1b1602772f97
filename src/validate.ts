import { BufferReader, type Reader } from './reader.js';
import type { Carver } from '../carvers/types.js';
import { carvers as allCarvers, carverForType } from '../carvers/registry.js';
import type { ContentCheck, Validator } from './plan.js';

/** Files up to this size are read whole for their content check. */
const WHOLE_READ_MAX = 64 * 1024;

/**
 * A file from metadata proves it is whole the same way a carved one does: its format's
 * walker must reach exactly the size the directory entry gives. Files no walker knows
 * (text, unknown formats) get no verdict.
 */
export function contentValidator(carvers: Carver[] = allCarvers): Validator {
  return (bytes: Reader, expectedSize: number, claimedName?: string): ContentCheck | null => {
    // A small file (a thumbnail, a card of small photos) is read whole, once: the walkers read
    // headers a few bytes at a time, and on a card each read is a system call. Bigger files are
    // read as the walkers ask, in large pieces already (a block cache there only added reads).
    const file = bytes.size <= WHOLE_READ_MAX ? new BufferReader(bytes.read(0, bytes.size)) : bytes;
    const head = file.read(0, 64);
    for (const carver of carvers) {
      if (!carver.firstBytes.includes(head[0]) || !carver.detect(head)) continue;
      let result;
      try {
        result = carver.walk(file, 0, { maxLength: expectedSize, expectedSize });
      } catch (err) {
        return { ok: false, by: carver.id, reason: `walker error: ${(err as Error).message}` };
      }
      if (!result.ok) return { ok: false, by: carver.id, reason: result.reason, validUpTo: result.validUpTo };
      if (result.length !== expectedSize) {
        return { ok: false, by: carver.id, format: result.format, reason: `structure ends at ${result.length} bytes, the entry says ${expectedSize}`, validUpTo: result.length };
      }
      const check: ContentCheck = { ok: true, by: carver.id, format: result.format, camera: result.meta?.camera };
      if (result.entropyGap) check.suspect = `${result.entropyGap} bytes in a row in the scan data that are zeros or text, not entropy-coded data`;
      else if (result.tailKept) {
        check.suspect = tailSuspect(result.tailKept);
        check.tailKept = result.tailKept;
        check.tailKind = result.tailKind;
      }
      return check;
    }
    // No walker knows these bytes. If the entry's name says they should be a format one knows,
    // they are not that file any more: another file's clusters, zeros, or the middle of something.
    const ext = claimedName?.includes('.') ? claimedName.slice(claimedName.lastIndexOf('.') + 1) : '';
    const named = ext ? carverForType(ext, carvers) : undefined;
    if (named) return { ok: false, by: named.id, reason: `the name says .${ext}, but the data does not start like one (overwritten?)`, validUpTo: 0 };
    return null;
  };
}

/** Whether bytes start like a file some carver knows (its cheap header test only). */
export function fileStartTest(carvers: Carver[] = allCarvers): (head: Buffer) => boolean {
  return (head) => carvers.some((c) => c.firstBytes.includes(head[0]) && c.detect(head));
}

/** Why a picture whose entry keeps bytes after its end gets a closer look. */
export function tailSuspect(tailKept: number): string {
  return `the image ends ${tailKept} bytes before the size the entry gives`;
}
