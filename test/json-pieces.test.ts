import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { jsonByteLength, jsonPieces, writeJsonFile } from '../src/json-pieces.js';
import { tempDir } from './support/fixtures.js';

const stringify = (v: object) => JSON.stringify(v, null, 2) + '\n';

describe('report.json written in pieces', () => {
  const cases: Record<string, object> = {
    empty: {},
    flat: { schema: 1, name: 'card', ok: true, none: null },
    'arrays of objects, arrays of primitives, empty ones': {
      files: [
        { path: 'DCIM/100CANON/IMG_0001.JPG', runs: [[4096, 1000], [9000, 12]], notes: ['a', 'line\nbreak "quoted"'], nested: { deeper: [1, { x: [] }] } },
        { path: 'é/ü — 写真.jpg', runs: [], notes: [], empty: {} },
      ],
      skipped: [],
      numbers: [1, 2.5, -0, 1e21],
      strings: ['x'],
    },
    'what JSON leaves out or turns to null': {
      gone: undefined,
      fn: () => 1,
      list: [undefined, () => 2, Symbol('s'), 3],
      kept: 'yes',
    },
    'dates and objects with toJSON': { when: new Date(Date.UTC(2026, 11, 5, 14, 0)), files: [{ mtime: new Date(0) }] },
  };

  for (const [name, value] of Object.entries(cases)) {
    it(`is the text JSON.stringify makes: ${name}`, () => {
      const text = [...jsonPieces(value)].join('');
      expect(text).toBe(stringify(value));
      expect(jsonByteLength(value)).toBe(Buffer.byteLength(stringify(value)));
    });
  }

  it('writes a file of many elements, in batches, with the same bytes; never over a file that is there', () => {
    const value = { schema: 1, files: Array.from({ length: 20000 }, (_, i) => ({ path: `DCIM/${i}.JPG`, notes: ['x'.repeat(i % 200)] })) };
    const file = path.join(fs.mkdtempSync(path.join(tempDir(), 'json-')), 'report.json');
    writeJsonFile(file, value);
    expect(fs.readFileSync(file, 'utf8')).toBe(stringify(value));
    expect(() => writeJsonFile(file, {})).toThrow(/EEXIST/);
  });
});
