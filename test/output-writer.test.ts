import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { OutputWriter, type WriteResult } from '../src/output.js';
import { BufferReader } from '../src/reader.js';
import type { RecoveredFile } from '../src/record.js';
import { freshOut, noise, sha256 } from './support/fixtures.js';

const MiB = 1024 * 1024;

function record(name: string, runs: { offset: number; length: number }[], mtime?: Date): RecoveredFile {
  return {
    volume: 0,
    provenance: 'carved',
    name,
    folder: [],
    runs,
    size: runs.reduce((n, r) => n + r.length, 0),
    basis: runs.length > 1 ? 'reassembled' : 'structure',
    status: 'ok',
    notes: [],
    mtime,
  };
}

describe('the output writer (writes overlap the reads)', () => {
  const source = noise(40 * MiB, 11);
  const reader = new BufferReader(source);

  it('writes every file whole, in pieces from anywhere on the source, with more writes in flight than one file has', async () => {
    const out = freshOut('output-writer');
    const writer = new OutputWriter(reader, out, 3);
    const files = [
      record('a.bin', [{ offset: 0, length: 10 }]),
      record('b.bin', [{ offset: 5 * MiB + 3, length: 9 * MiB + 17 }]), // three chunks
      record('c.bin', [{ offset: 30 * MiB, length: 100_000 }, { offset: 1000, length: 4 * MiB }, { offset: 20 * MiB + 1, length: 1 }]),
      record('d.bin', [{ offset: 12 * MiB, length: 4 * MiB }], new Date('2024-05-01T10:20:30Z')),
      ...Array.from({ length: 12 }, (_, i) => record(`small${i}.bin`, [{ offset: i * 777_777, length: 1 + i * 50_000 }])),
    ];
    const done: Promise<WriteResult | null>[] = [];
    for (const f of files) done.push((await writer.write(f, f.name)).done);
    const results = await Promise.all(done);
    files.forEach((f, i) => {
      const want = Buffer.concat(f.runs.map((r) => source.subarray(r.offset, r.offset + r.length)));
      const got = fs.readFileSync(path.join(out, f.name));
      expect(got.equals(want)).toBe(true);
      expect(results[i]).toEqual({ path: f.name, sha256: sha256(want) });
    });
    expect(fs.statSync(path.join(out, 'd.bin')).mtime.toISOString()).toBe('2024-05-01T10:20:30.000Z');
  });

  it('never replaces a file: a second file of the same name gets a suffix', async () => {
    const out = freshOut('output-writer-names');
    const writer = new OutputWriter(reader, out);
    const one = (await writer.write(record('x.jpg', [{ offset: 0, length: 100 }]), 'x.jpg')).done;
    const two = (await writer.write(record('x.jpg', [{ offset: 100, length: 100 }]), 'x.jpg')).done;
    expect((await one)?.path).toBe('x.jpg');
    expect((await two)?.path).toBe('x (2).jpg');
    expect(fs.readFileSync(path.join(out, 'x (2).jpg')).equals(source.subarray(100, 200))).toBe(true);
  });

  it('a stop asked for between chunks leaves no file', async () => {
    const out = freshOut('output-writer-stop');
    const writer = new OutputWriter(reader, out);
    let chunks = 0;
    const { done } = await writer.write(record('big.bin', [{ offset: 0, length: 20 * MiB }]), 'big.bin', () => ++chunks > 2);
    expect(await done).toBeNull();
    expect(fs.existsSync(path.join(out, 'big.bin'))).toBe(false);
  });
});
