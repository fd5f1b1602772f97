import fs from 'node:fs';

/**
 * `JSON.stringify(value, null, 2) + '\n'` for an object whose big parts are arrays at its top
 * level (report.json's files and skipped entries), in pieces: one element at a time. A card of
 * 50 000 photos makes a report.json of tens of MB, and the whole text at once (with the copies
 * made joining it) is what pushed recover's memory past 200 MB. The text is the same, byte
 * for byte, as one JSON.stringify would make.
 */
export function* jsonPieces(object: object): Generator<string> {
  const value = object as Record<string, unknown>;
  // The keys JSON.stringify keeps: those whose values have a JSON text.
  const keys = Object.keys(value).filter((k) => !omitted(value[k]));
  if (keys.length === 0) {
    yield '{}\n';
    return;
  }
  yield '{\n';
  for (let i = 0; i < keys.length; i++) {
    const v = value[keys[i]];
    const after = i < keys.length - 1 ? ',\n' : '\n';
    const head = `  ${JSON.stringify(keys[i])}: `;
    if (Array.isArray(v) && v.length > 0) {
      yield `${head}[\n`;
      for (let j = 0; j < v.length; j++) {
        // An element with no JSON text (undefined, a function) is null in an array.
        const text = JSON.stringify(v[j], null, 2) ?? 'null';
        yield `    ${indent(text, '    ')}${j < v.length - 1 ? ',\n' : '\n'}`;
      }
      yield `  ]${after}`;
    } else {
      yield `${head}${indent(JSON.stringify(v, null, 2), '  ')}${after}`;
    }
  }
  yield '}\n';
}

function omitted(v: unknown): boolean {
  return v === undefined || typeof v === 'function' || typeof v === 'symbol';
}

/** JSON text holds no raw line breaks but its own: each of them starts a line one level deeper. */
function indent(text: string, by: string): string {
  return text.includes('\n') ? text.replace(/\n/g, `\n${by}`) : text;
}

/** Bytes of the pieces joined into batches of about this size before each write. */
const BATCH = 1 << 20;

function* batches(value: object): Generator<string> {
  let batch = '';
  for (const piece of jsonPieces(value)) {
    batch += piece;
    if (batch.length >= BATCH) {
      yield batch;
      batch = '';
    }
  }
  if (batch) yield batch;
}

/** Write the JSON text of `value` to a new file (`wx`: never over one that is there). */
export function writeJsonFile(file: string, value: object): void {
  const fd = fs.openSync(file, 'wx');
  try {
    for (const batch of batches(value)) fs.writeSync(fd, batch);
  } finally {
    fs.closeSync(fd);
  }
}

/** Write the JSON text of `value` to a stream (stdout). */
export function writeJsonTo(stream: NodeJS.WritableStream, value: object): void {
  for (const batch of batches(value)) stream.write(batch);
}

/** How many bytes writeJsonFile would write. */
export function jsonByteLength(value: object): number {
  let n = 0;
  for (const piece of jsonPieces(value)) n += Buffer.byteLength(piece);
  return n;
}
