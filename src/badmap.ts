import fs from 'node:fs';
import type { ByteRun } from './reader.js';
import type { RecoveredFile } from './record.js';
import { ExitCode, UserError } from './errors.js';
import { mergeRanges, unreadableParts } from './source/ranges.js';

/**
 * GNU ddrescue's mapfile (`ddrescue -d /dev/sdX card.img card.map`):
 *
 *     # comment lines
 *     0x00120000     ?               1        <- current position, status, pass (pass since 1.21)
 *     #      pos        size  status
 *     0x00000000  0x00100000  +
 *     0x00100000  0x00001000  -
 *
 * Block statuses: `+` finished (read), `-` bad sector, `*` non-trimmed, `/` non-scraped,
 * `?` non-tried. Everything but `+` was never read, so the image holds zeros (or stale
 * bytes) there: those ranges are unreadable.
 */
export interface DdrescueMap {
  currentPos: number;
  currentStatus: string;
  currentPass?: number;
  blocks: { pos: number; size: number; status: string }[];
}

const BLOCK_STATUSES = '?*/-+';
const CURRENT_STATUSES = '?*/-FG+';

export class MapFormatError extends Error {
  constructor(readonly line: number, message: string) {
    super(`line ${line}: ${message}`);
    this.name = 'MapFormatError';
  }
}

/** ddrescue reads numbers like strtoll with base 0: 0x… hex, 0… octal, else decimal. */
function parseNumber(text: string, line: number, what: string): number {
  let value: number;
  if (/^0x[0-9a-f]+$/i.test(text)) value = Number.parseInt(text.slice(2), 16);
  else if (/^0[0-7]*$/.test(text)) value = Number.parseInt(text, 8);
  else if (/^[1-9][0-9]*$/.test(text)) value = Number.parseInt(text, 10);
  else throw new MapFormatError(line, `${what} '${text}' is not a number`);
  if (!Number.isSafeInteger(value)) throw new MapFormatError(line, `${what} ${text} is too large`);
  return value;
}

export function parseDdrescueMap(text: string): DdrescueMap {
  let current: Omit<DdrescueMap, 'blocks'> | undefined;
  const blocks: DdrescueMap['blocks'] = [];
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const lineNo = i + 1;
    const line = lines[i].trim();
    if (line === '' || line.startsWith('#')) continue;
    const fields = line.split(/\s+/);
    if (!current) {
      if (fields.length < 2 || fields.length > 3 || !CURRENT_STATUSES.includes(fields[1]) || fields[1].length !== 1) {
        throw new MapFormatError(lineNo, `expected the current-position line '0x… <status> [pass]', got '${line}'`);
      }
      current = {
        currentPos: parseNumber(fields[0], lineNo, 'position'),
        currentStatus: fields[1],
        currentPass: fields[2] === undefined ? undefined : parseNumber(fields[2], lineNo, 'pass'),
      };
      continue;
    }
    if (fields.length !== 3 || fields[2].length !== 1 || !BLOCK_STATUSES.includes(fields[2])) {
      throw new MapFormatError(lineNo, `expected '<pos> <size> <status>' with status one of ${BLOCK_STATUSES.split('').join(' ')}, got '${line}'`);
    }
    const pos = parseNumber(fields[0], lineNo, 'position');
    const size = parseNumber(fields[1], lineNo, 'size');
    const prev = blocks[blocks.length - 1];
    if (prev && pos < prev.pos + prev.size) throw new MapFormatError(lineNo, `block at ${fields[0]} overlaps the one before`);
    blocks.push({ pos, size, status: fields[2] });
  }
  if (!current) throw new MapFormatError(lines.length, 'no current-position line: not a ddrescue mapfile');
  return { ...current, blocks };
}

/** The ranges ddrescue did not read (every status but `+`), sorted and merged. */
export function unreadableRanges(map: DdrescueMap): ByteRun[] {
  return mergeRanges(map.blocks.filter((b) => b.status !== '+' && b.size > 0).map((b) => ({ offset: b.pos, length: b.size })));
}

/** How far the map reaches: a map for another device usually ends elsewhere. */
export function mapExtent(map: DdrescueMap): number {
  const last = map.blocks[map.blocks.length - 1];
  return last ? last.pos + last.size : 0;
}

/** --bad-map FILE: the unreadable ranges it lists; a file that is not a mapfile is a usage error. */
export function readBadMap(file: string): { ranges: ByteRun[]; extent: number } {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new UserError(`--bad-map ${file}: ${code === 'ENOENT' ? 'no such file' : `cannot read (${code ?? String(err)})`}`, ExitCode.usage);
  }
  try {
    const map = parseDdrescueMap(text);
    return { ranges: unreadableRanges(map), extent: mapExtent(map) };
  } catch (err) {
    if (err instanceof MapFormatError) throw new UserError(`--bad-map ${file}: not a GNU ddrescue mapfile (${err.message})`, ExitCode.usage);
    throw err;
  }
}

const NOTE = 'unreadable:';

/**
 * Files whose runs touch unreadable ranges are still written (the rest of their bytes may be
 * all a user has) but marked damaged, with the ranges in their notes. Idempotent: call it
 * again after more bad ranges turned up.
 */
export function markUnreadable(files: RecoveredFile[], bad: readonly ByteRun[]): void {
  // Unreadable ranges only ever grow, so with none now no earlier call left a note to take back.
  if (bad.length === 0) return;
  for (const f of files) {
    const parts = unreadableParts(f.runs, bad);
    const kept = f.notes.filter((n) => !n.startsWith(NOTE));
    if (kept.length !== f.notes.length) f.notes = kept;
    if (parts.length === 0) continue;
    f.status = 'damaged';
    const bytes = parts.reduce((n, p) => n + p.length, 0);
    const shown = parts.slice(0, 5).map((p) => `${p.length} at ${p.offset}`).join(', ');
    f.notes.push(`${NOTE} ${bytes} byte(s) could not be read from the source and are zeros in the file (${shown}${parts.length > 5 ? `, … ${parts.length} ranges` : ''})`);
  }
}
