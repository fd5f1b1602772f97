import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseDdrescueMap, unreadableRanges, mapExtent, markUnreadable } from '../src/badmap.js';
import { runPipeline } from '../src/pipeline.js';
import { BufferReader } from '../src/reader.js';
import type { Report } from '../src/report.js';
import type { RecoveredFile } from '../src/record.js';
import { ExitCode } from '../src/errors.js';
import { fixtureImage, freshOut, manifest, runCli, sha256File, tempDir } from './support/fixtures.js';

/** As GNU ddrescue 1.27 writes it. */
const MAP = `# Mapfile. Created by GNU ddrescue version 1.27
# Command line: ddrescue -d /dev/sdb card.img card.map
# Start time:   2026-11-20 10:00:00
# Current time: 2026-11-20 10:05:12
# Finished
# current_pos  current_status  current_pass
0x00120000     +               1
#      pos        size  status
0x00000000  0x00100000  +
0x00100000  0x00000200  -
0x00100200  0x00000200  -
0x00100400  0x0000FC00  +
0x00110000  0x00001000  *
0x00111000  0x00001000  /
0x00112000  0x0000E000  +
0x00120000  0x00010000  ?
0x00130000  0x000D0000  +
`;

describe('ddrescue mapfile parser', () => {
  it('reads the current position, the blocks, and which are unreadable', () => {
    const map = parseDdrescueMap(MAP);
    expect(map.currentPos).toBe(0x120000);
    expect(map.currentStatus).toBe('+');
    expect(map.currentPass).toBe(1);
    expect(map.blocks).toHaveLength(9);
    expect(map.blocks[1]).toEqual({ pos: 0x100000, size: 0x200, status: '-' });
    expect(mapExtent(map)).toBe(0x200000);
    // Every status but '+' is unreadable; neighbours merge.
    expect(unreadableRanges(map).map((r) => [r.offset, r.length])).toEqual([
      [0x100000, 0x400],
      [0x110000, 0x2000],
      [0x120000, 0x10000],
    ]);
  });

  it('takes maps of old versions (no pass), CRLF, decimal numbers and blank lines', () => {
    const map = parseDdrescueMap('# old\r\n0x0 ?\r\n\r\n0 512 +\r\n512 1024 -\r\n0x600 0x200 +\r\n');
    expect(map.currentPass).toBeUndefined();
    expect(unreadableRanges(map)).toEqual([{ offset: 512, length: 1024 }]);
  });

  it('an empty map (nothing tried yet) says nothing is unreadable', () => {
    expect(unreadableRanges(parseDdrescueMap('0x00000000 ? 1\n'))).toEqual([]);
  });

  it('rejects what is not a mapfile, with the line', () => {
    expect(() => parseDdrescueMap('')).toThrow(/no current-position line/);
    expect(() => parseDdrescueMap('hello world\n')).toThrow(/line 1: expected the current-position line/);
    expect(() => parseDdrescueMap('0x0 + 1\n0x0 0x200 X\n')).toThrow(/line 2: expected '<pos> <size> <status>'/);
    expect(() => parseDdrescueMap('0x0 + 1\n0x0 zz +\n')).toThrow(/line 2: size 'zz' is not a number/);
    expect(() => parseDdrescueMap('0x0 + 1\n0x0 0x400 +\n0x200 0x200 -\n')).toThrow(/line 3: .*overlaps/);
    expect(() => parseDdrescueMap('0x0 + 1\n0xFFFFFFFFFFFFFFFF 0x1 -\n')).toThrow(/too large/);
  });
});

describe('markUnreadable', () => {
  it('marks files touching bad ranges damaged, with a note, idempotently', () => {
    const file = (offset: number, length: number): RecoveredFile => ({
      volume: 0, provenance: 'allocated', name: 'x', folder: [], runs: [{ offset, length }], size: length, basis: 'chain', status: 'ok', notes: [],
    });
    const files = [file(0, 4096), file(8192, 4096)];
    markUnreadable(files, [{ offset: 9000, length: 100 }]);
    markUnreadable(files, [{ offset: 9000, length: 100 }, { offset: 12000, length: 1000 }]);
    expect(files[0].status).toBe('ok');
    expect(files[1].status).toBe('damaged');
    expect(files[1].notes).toEqual(['unreadable: 388 byte(s) could not be read from the source and are zeros in the file (100 at 9000, 288 at 12000)']);
  });
});

/** A mapfile for `size` bytes with these ranges marked with `status`. */
function writeMap(size: number, bad: { offset: number; length: number; status: string }[]): string {
  const lines = ['# Mapfile. Created by GNU ddrescue version 1.27', '# current_pos  current_status  current_pass', '0x00000000     +               3', '#      pos        size  status'];
  let pos = 0;
  const hex = (n: number) => '0x' + n.toString(16).toUpperCase().padStart(8, '0');
  for (const b of [...bad].sort((x, y) => x.offset - y.offset)) {
    if (b.offset > pos) lines.push(`${hex(pos)}  ${hex(b.offset - pos)}  +`);
    lines.push(`${hex(b.offset)}  ${hex(b.length)}  ${b.status}`);
    pos = b.offset + b.length;
  }
  if (pos < size) lines.push(`${hex(pos)}  ${hex(size - pos)}  +`);
  const file = path.join(tempDir(), `card-${Math.random().toString(36).slice(2)}.map`);
  fs.writeFileSync(file, lines.join('\n') + '\n');
  return file;
}

describe('--bad-map on a card image', () => {
  const name = 'fat32-mbr';
  const image = fixtureImage(name);
  const m = manifest(name);
  const size = fs.statSync(image).size;
  const clean = runPipeline(new BufferReader(fs.readFileSync(image)));
  const runOf = (p: string) => clean.files.find((f) => f.originalPath === p)!.runs[0];
  const a = runOf('/DCIM/100CANON/IMG_0004.JPG');
  const b = runOf('/Holiday 2026/Beach day/Sunset over the bay.jpg');
  const bad = [
    { offset: a.offset + 1024, length: 1024, status: '-' },
    { offset: b.offset + 2048, length: 4096, status: '*' },
    { offset: size - 65536, length: 65536, status: '?' },
  ];
  const map = writeMap(size, bad);

  it('recover: zeros there, the files touching them damaged, the ranges in report.badRanges', () => {
    const out = path.join(freshOut('badmap'), 'out');
    const r = runCli(['recover', image, '--bad-map', map, '--out', out]);
    // Finished, but damaged files: the "partial" exit code.
    expect(r.status, r.stderr).toBe(5);
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(/could not be read/);
    const report = JSON.parse(fs.readFileSync(path.join(out, 'report.json'), 'utf8')) as Report;
    expect(report.badRanges).toEqual(bad.map((x) => [x.offset, x.length]));
    expect(report.summary.unreadableBytes).toBe(1024 + 4096 + 65536);
    for (const [p, range] of [['/DCIM/100CANON/IMG_0004.JPG', bad[0]], ['/Holiday 2026/Beach day/Sunset over the bay.jpg', bad[1]]] as const) {
      const f = report.files.find((x) => x.originalPath === p)!;
      expect(f.status, p).toBe('damaged');
      expect(f.badRanges).toEqual([[range.offset, range.length]]);
      const data = fs.readFileSync(path.join(out, f.path!));
      const within = range.offset - f.runs[0][0];
      expect(data.subarray(within, within + range.length).equals(Buffer.alloc(range.length))).toBe(true);
    }
    for (const f of m.files.filter((x) => x.state === 'live')) {
      const hit = report.files.find((x) => x.originalPath === '/' + f.path)!;
      if (hit.badRanges.length) continue;
      expect(hit.status).not.toBe('damaged');
      expect(sha256File(path.join(out, hit.path!)), f.path).toBe(f.sha256);
    }
  });

  it('list and info show them', () => {
    const list = runCli(['list', image, '--bad-map', map, '--json']);
    expect(list.status, list.stderr).toBe(0);
    const files = (JSON.parse(list.stdout) as { files: Report['files'] }).files;
    expect(files.find((f) => f.originalPath === '/DCIM/100CANON/IMG_0004.JPG')!.badRanges).toEqual([[bad[0].offset, bad[0].length]]);
    const text = runCli(['list', image, '--bad-map', map]);
    expect(text.stdout).toMatch(/IMG_0004\.JPG.*damaged/);
    const info = runCli(['info', image, '--bad-map', map]);
    expect(info.status).toBe(0);
    expect(info.stdout).toMatch(/Unreadable: .* in 3 range\(s\)/);
    const json = JSON.parse(runCli(['info', image, '--bad-map', map, '--json']).stdout) as { badRanges: [number, number][] };
    expect(json.badRanges).toEqual(bad.map((x) => [x.offset, x.length]));
  });

  it('a file that is not a mapfile is a usage error; a map of another size is a warning', () => {
    const notMap = path.join(tempDir(), 'not.map');
    fs.writeFileSync(notMap, 'hello\n');
    const r = runCli(['list', image, '--bad-map', notMap]);
    expect(r.status).toBe(ExitCode.usage);
    expect(r.stderr).toMatch(/--bad-map .*not a GNU ddrescue mapfile \(line 1/);
    expect(runCli(['info', image, '--bad-map', path.join(tempDir(), 'missing.map')]).stderr).toMatch(/no such file/);
    const short = writeMap(size / 2, []);
    const w = runCli(['info', image, '--bad-map', short]);
    expect(w.status).toBe(0);
    expect(w.stderr).toMatch(/warning: .* describes \d+ bytes but .* has \d+/);
  });
});
