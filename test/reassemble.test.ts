import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { BufferReader, type ByteRun } from '../src/reader.js';
import { runPipeline } from '../src/pipeline.js';
import { Pool, reassembleRegion, subtractRuns } from '../src/reassemble.js';
import { validateJpeg } from '../carvers/jpeg-validate.js';
import { carveRegion, type CarveRegion } from '../src/carve.js';
import { jpegCarver } from '../carvers/jpeg.js';
import type { RecoveredFile } from '../src/record.js';
import type { VolumePlan } from '../src/plan.js';
import { OwnershipMap } from '../src/ownership.js';
import { contentValidator } from '../src/validate.js';
import { noise, FIXTURES, fixtureImage, freshOut, runCli, sha256, sha256File } from './support/fixtures.js';
import type { Report } from '../src/report.js';

/** fixtures/build-fragmented.sh's manifests. */
interface FragManifest {
  fs: string;
  clusterSize: number;
  files: { path: string; size: number; sha256: string; state: string; fragments?: number; clusterRuns?: [number, number][] }[];
  separators: { path: string; sha256: string; kind: 'random' | 'text'; clusterRuns: [number, number][] }[];
}
const IMAGES = ['fragmented-deleted', 'fragmented-quickformat'] as const;
const man = (name: string) => JSON.parse(fs.readFileSync(path.join(FIXTURES, `${name}.manifest.json`), 'utf8')) as FragManifest;
const image = (name: string) => zlib.gunzipSync(fs.readFileSync(path.join(FIXTURES, `${name}.img.gz`)));
const bytesOf = (disk: Buffer, runs: readonly ByteRun[]) => Buffer.concat(runs.map((r) => disk.subarray(r.offset, r.offset + r.length)));

describe.each(IMAGES)('%s (fixtures/build-fragmented.sh)', (name) => {
  const m = man(name);
  const jpegs = m.files.filter((f) => f.fragments !== undefined);
  const { report, out } = (() => {
    const out = path.join(freshOut(name), 'out');
    const r = runCli(['recover', fixtureImage(name), '--out', out]);
    expect(r.status, r.stderr).toBe(0);
    return { out, report: JSON.parse(fs.readFileSync(path.join(out, 'report.json'), 'utf8')) as Report };
  })();

  it('holds six JPEGs in two fragments with a lost separator between, and one whole', () => {
    expect(jpegs).toHaveLength(7);
    expect(jpegs.filter((f) => f.fragments === 2)).toHaveLength(6);
    expect(m.separators.map((s) => s.kind)).toContain('text');
    expect(m.separators.map((s) => s.kind)).toContain('random');
  });

  it('brings every JPEG back byte-exact, reassembled where it was fragmented', () => {
    for (const f of jpegs) {
      const hits = report.files.filter((x) => x.sha256 === f.sha256);
      expect(hits, `${f.path} not recovered; files: ${report.files.map((x) => `${x.path} ${x.basis}`).join(', ')}`).toHaveLength(1);
      const hit = hits[0];
      expect(hit.size).toBe(f.size);
      expect(sha256File(path.join(out, hit.path!))).toBe(f.sha256);
      if (f.fragments === 2) {
        expect(hit.basis, f.path).toBe('reassembled');
        expect(hit.runs.length, f.path).toBe(2);
        expect(hit.notes.join(' ')).toMatch(/bifragment/);
      } else expect(hit.basis, f.path).not.toBe('reassembled');
      expect(hit.status).toBe('ok');
      if (f.state === 'deleted') {
        // The deleted entry names it (its first letter is gone: no long name, no live sibling).
        expect(hit.provenance).toBe('deleted');
        // The lost first letter of a deleted name comes back from camera naming (IMG_).
        expect(hit.originalPath).toBe('/' + f.path);
        expect(hit.path!.startsWith('deleted/')).toBe(true);
      } else expect(hit.provenance).toBe('carved');
    }
  });

  it('writes no junk: every file written is one of the originals', () => {
    const known = new Set(m.files.map((f) => f.sha256));
    for (const f of report.files) expect(known.has(f.sha256!), `${f.path} (${f.basis}) is junk`).toBe(true);
    expect(report.files.length).toBe(m.files.length);
  });

  it('without reassembly, the fragmented ones do not come back byte-exact', () => {
    const disk = image(name);
    const r = runPipeline(new BufferReader(disk), { reassemble: false });
    const got = new Set(r.files.map((f) => sha256(bytesOf(disk, f.runs))));
    for (const f of jpegs) expect(got.has(f.sha256), f.path).toBe(f.fragments === 1);
  });

  it('claims the rebuilt clusters: keepPartial finds nothing else to write', () => {
    const disk = image(name);
    const r = runPipeline(new BufferReader(disk), { keepPartial: true });
    const shas = r.files.filter((f) => f.size > 0).map((f) => sha256(bytesOf(disk, f.runs)));
    for (const f of jpegs) expect(shas.filter((s) => s === f.sha256), f.path).toHaveLength(1);
    expect(r.files.filter((f) => f.status === 'damaged')).toEqual([]);
    expect(r.carving.reassembly?.reassembled).toBe(6);
  });
});

// ---- synthetic cards: one JPEG of the fixture laid out again with gaps of every kind ----------

const CS = 2048;
/** The JPEGs of the quick-formatted fixture, read back from the image by their manifest runs. */
function fixtureJpegs(): Buffer[] {
  const m = man('fragmented-quickformat');
  const disk = image('fragmented-quickformat');
  const r = runPipeline(new BufferReader(disk));
  const byHash = new Map(r.files.map((f) => [sha256(bytesOf(disk, f.runs)), bytesOf(disk, f.runs)]));
  return m.files.map((f) => byHash.get(f.sha256)!).filter(Boolean);
}

function text(length: number): Buffer {
  const words = 'the quick camera log wrote a line of text here'.split(' ');
  let s = '';
  for (let i = 0; s.length < length; i++) s += words[(i * 7) % words.length] + ' ';
  return Buffer.from(s.slice(0, length));
}

const pad = (b: Buffer) => Buffer.concat([b, Buffer.alloc((CS - (b.length % CS)) % CS)]);
const region = (disk: Buffer): CarveRegion => ({ volume: 0, runs: [{ offset: 0, length: disk.length }], granularity: CS, alignBase: 0 });
const none = { files: [] as RecoveredFile[], bytesScanned: 0 };

describe('bifragment gap carving on a synthetic card', () => {
  const jpegs = fixtureJpegs();
  const big = jpegs.reduce((a, b) => (b.length > a.length ? b : a));
  const split = 5 * CS;

  it.each([
    ['random bytes', noise(3 * CS, 1)],
    ['text', text(4 * CS)],
    ['zeros', Buffer.alloc(2 * CS)],
    ["another JPEG's scan data", jpegs[0].subarray(8 * CS, 14 * CS)],
  ])('a gap of %s: the rest is found after it', (_what, gap) => {
    const disk = Buffer.concat([big.subarray(0, split), gap, pad(big.subarray(split)), noise(8 * CS, 2)]);
    const r = reassembleRegion(new BufferReader(disk), region(disk), { ...none, rejected: [{ offset: 0, carver: 'jpeg', reason: 'walk failed' }] }, undefined, []);
    expect(r.files).toHaveLength(1);
    const f = r.files[0];
    expect(sha256(bytesOf(disk, f.runs))).toBe(sha256(big));
    expect(f.basis).toBe('reassembled');
    expect(f.runs).toEqual([
      { offset: 0, length: split },
      { offset: split + gap.length, length: big.length - split },
    ]);
    expect(f.notes.join(' ')).toMatch(new RegExp(`gap of ${gap.length / CS} free cluster`));
  });

  it('a carved file the walker accepted but whose data breaks is rebuilt (text gap: no marker to trip on)', () => {
    const gap = text(3 * CS);
    const disk = Buffer.concat([big.subarray(0, split), gap, pad(big.subarray(split))]);
    // The walker crosses the text (it has no FF byte to stop at) and ends at the real EOI;
    // the long run of low bytes marks the carve as suspect, which is what earns it a deep check.
    const carved = carveRegion(new BufferReader(disk), region(disk), { carvers: [jpegCarver] });
    expect(carved.files).toHaveLength(1);
    const wrong: RecoveredFile = carved.files[0];
    expect(wrong.size).toBe(big.length + gap.length);
    expect(wrong.suspect).toMatch(/zeros or text/);
    expect(validateJpeg(new BufferReader(disk)).ok).toBe(false);
    const r = reassembleRegion(new BufferReader(disk), region(disk), { files: [wrong], rejected: [], bytesScanned: 0 }, undefined, []);
    expect(r.files).toHaveLength(1);
    expect(sha256(bytesOf(disk, r.files[0].runs))).toBe(sha256(big));
    expect(r.files[0].notes.join(' ')).toMatch(/carved, but its entropy-coded data breaks/);
  });

  it('a whole JPEG is not suspect: no deep check costs time on an ordinary card', () => {
    const disk = pad(big);
    const carved = carveRegion(new BufferReader(disk), region(disk), { carvers: [jpegCarver] });
    expect(carved.files).toHaveLength(1);
    expect(carved.files[0].suspect).toBeUndefined();
  });

  it.each([
    ['zeros', true, Buffer.alloc(3 * CS)],
    ['text', true, text(3 * CS)],
    // A flat area of a picture: a few Huffman codes repeated (bytes of a Panasonic PV-SD4090 file).
    ['a flat area', false, Buffer.from('1451400514514005'.repeat((3 * CS) / 8), 'hex')],
  ])('a run of %s inside the scan data: suspect = %s', (_what, suspect, inside) => {
    const disk = pad(Buffer.concat([big.subarray(0, split), inside, big.subarray(split)]));
    const carved = carveRegion(new BufferReader(disk), region(disk), { carvers: [jpegCarver] });
    expect(carved.files).toHaveLength(1);
    if (suspect) {
      // The run may take in a few low bytes of the image on either side.
      const m = /^(\d+) bytes in a row .*zeros or text/.exec(carved.files[0].suspect ?? '');
      expect(Number(m?.[1])).toBeGreaterThanOrEqual(inside.length);
      expect(Number(m?.[1])).toBeLessThan(inside.length + 32);
    }
    else expect(carved.files[0].suspect).toBeUndefined();
  });

  it('a second fragment that is gone: nothing, or a damaged partial with keepPartial', () => {
    const disk = Buffer.concat([big.subarray(0, split), noise(40 * CS, 3)]);
    const outcome = { ...none, rejected: [{ offset: 0, carver: 'jpeg', reason: 'walk failed' }] };
    const r = reassembleRegion(new BufferReader(disk), region(disk), outcome, undefined, []);
    expect(r.files).toEqual([]);
    expect(r.stats.trials).toBeGreaterThan(0);
    const p = reassembleRegion(new BufferReader(disk), region(disk), outcome, undefined, [], { keepPartial: true });
    expect(p.files).toHaveLength(1);
    expect(p.files[0].status).toBe('damaged');
    const v = p.files[0].validation!;
    expect(v.ok).toBe(false);
    expect(v.validUpTo).toBeGreaterThan(split - 1024);
    expect(v.validUpTo).toBeLessThanOrEqual(split + 1024);
    expect(p.files[0].size).toBe(v.validUpTo);
  });

  it('the search stays within its bounds (maxGap, maxCandidates)', () => {
    const gap = noise(6 * CS, 4);
    const disk = Buffer.concat([big.subarray(0, split), gap, pad(big.subarray(split))]);
    const outcome = { ...none, rejected: [{ offset: 0, carver: 'jpeg', reason: 'walk failed' }] };
    expect(reassembleRegion(new BufferReader(disk), region(disk), outcome, undefined, [], { maxGap: 5 }).files).toEqual([]);
    expect(reassembleRegion(new BufferReader(disk), region(disk), outcome, undefined, [], { maxGap: 6 }).files).toHaveLength(1);
    const capped = reassembleRegion(new BufferReader(disk), region(disk), outcome, undefined, [], { maxCandidates: 3 });
    expect(capped.stats.trials).toBeLessThanOrEqual(3);
    // The region's decoding budget spent: no search at all.
    const spent = reassembleRegion(new BufferReader(disk), region(disk), outcome, undefined, [], { maxWork: 0 });
    expect(spent.files).toEqual([]);
    expect(spent.stats).toMatchObject({ trials: 0, unsearched: 1 });
  });

  it('a cluster owned by another file between the fragments is not counted as gap', () => {
    // [frag1][junk][owned file][frag2]: the pool skips the owned cluster.
    const gap = noise(2 * CS, 5);
    const owned = noise(3 * CS, 6);
    const disk = Buffer.concat([big.subarray(0, split), gap, owned, pad(big.subarray(split))]);
    const reg: CarveRegion = { volume: 0, runs: subtractRuns([{ offset: 0, length: disk.length }], [{ offset: split + gap.length, length: owned.length }]), granularity: CS, alignBase: 0 };
    const r = reassembleRegion(new BufferReader(disk), reg, { ...none, rejected: [{ offset: 0, carver: 'jpeg', reason: 'x' }] }, undefined, [], { maxGap: 2 });
    expect(r.files).toHaveLength(1);
    expect(sha256(bytesOf(disk, r.files[0].runs))).toBe(sha256(big));
  });
});

describe('a contiguous guess of the plan the walker passed, whose data breaks', () => {
  const jpegs = fixtureJpegs();
  const big = jpegs.reduce((a, b) => (b.length > a.length ? b : a));
  const split = 4 * CS;
  // What a FAT volume's plan needs here: geometry, the ownership map, no lost entries left.
  const fakePlan = (disk: Buffer) =>
    ({
      volume: { offset: 0 },
      fs: { geometry: { clusterSize: CS, clusterCount: disk.length / CS, dataOffset: 0 }, clusterOffset: (c: number) => (c - 2) * CS },
      unplaced: [],
      owned: new OwnershipMap(disk.length / CS + 2),
    }) as unknown as VolumePlan;
  // The record the plan makes of a deleted entry placed on a contiguous guess, with the
  // verdict of the same content check the plan runs.
  const record = (size: number, suspect: string): RecoveredFile => ({
    volume: 0, provenance: 'deleted', name: 'IMG_0042.JPG', folder: ['DCIM', '100CANON'], originalPath: '/DCIM/100CANON/IMG_0042.JPG',
    runs: [{ offset: 0, length: size }], size, format: 'jpeg', basis: 'contiguous-guess', status: 'ok',
    validation: { ok: true, by: 'jpeg' }, suspect, notes: [],
  });
  const guess = (disk: Buffer, size: number): RecoveredFile => {
    const check = contentValidator()(new BufferReader(disk.subarray(0, size)), size);
    expect(check).toMatchObject({ ok: true, by: 'jpeg', suspect: expect.stringMatching(/zeros or text/) });
    return record(size, check!.suspect!);
  };

  it('a guess the walk passes without anything odd is trusted: no deep check, nothing replaced', () => {
    const disk = pad(big);
    const plain = record(big.length, 'x');
    delete plain.suspect;
    expect(contentValidator()(new BufferReader(big), big.length)).toEqual({ ok: true, by: 'jpeg', format: 'jpeg', camera: undefined });
    const reg: CarveRegion = { volume: 0, runs: [], granularity: CS, alignBase: 0 };
    const r = reassembleRegion(new BufferReader(disk), reg, { ...none, rejected: [] }, fakePlan(disk), [plain]);
    expect(r.replaced).toEqual([]);
    expect(r.stats.candidates).toBe(0);
  });

  it('is rebuilt from its first fragment and the rest after the gap, keeping its name', () => {
    // Text between the fragments has no 0xFF: the marker walk runs through it to the EOI.
    const gap = text(2 * CS);
    const disk = pad(Buffer.concat([big.subarray(0, split), gap, big.subarray(split)]));
    // As a unit: a record the walk passed but marked suspect. (A real guess of this layout
    // would fail the walk, its last cluster holding no EOI, and take the lost-entry path.)
    const planned = record(big.length, 'text in the scan data');
    // The plan owns the guess; the carving pool is what lies after it.
    const reg: CarveRegion = { volume: 0, runs: subtractRuns([{ offset: 0, length: disk.length }], [{ offset: 0, length: Math.ceil(big.length / CS) * CS }]), granularity: CS, alignBase: 0 };
    const r = reassembleRegion(new BufferReader(disk), reg, { ...none, rejected: [] }, fakePlan(disk), [planned]);
    expect(r.replaced).toEqual([planned]);
    expect(r.files).toHaveLength(1);
    const f = r.files[0];
    expect(sha256(bytesOf(disk, f.runs))).toBe(sha256(big));
    expect(f).toMatchObject({ provenance: 'deleted', name: 'IMG_0042.JPG', originalPath: '/DCIM/100CANON/IMG_0042.JPG', basis: 'reassembled', status: 'ok' });
    expect(f.notes.join(' ')).toMatch(/contiguous guess, but its entropy-coded data breaks/);
  });

  it('without a second fragment it is not written (skipped), or written damaged with keepPartial', () => {
    // The guess ends in an EOI at the entry's size (as a foreign file's last cluster may),
    // so the marker walk passes; the text before it is what gives the guess away.
    const disk = pad(Buffer.concat([big.subarray(0, split), text(big.length - split - 2), Buffer.from([0xff, 0xd9])]));
    const reg: CarveRegion = { volume: 0, runs: [], granularity: CS, alignBase: 0 };
    const planned = guess(disk, big.length);
    const r = reassembleRegion(new BufferReader(disk), reg, { ...none, rejected: [] }, fakePlan(disk), [planned]);
    expect(r.files).toEqual([]);
    expect(r.replaced).toEqual([planned]);
    expect(r.skipped[0].reason).toMatch(/no second fragment/);
    const kept = guess(disk, big.length);
    const k = reassembleRegion(new BufferReader(disk), reg, { ...none, rejected: [] }, fakePlan(disk), [kept], { keepPartial: true });
    expect(k.replaced).toEqual([]);
    expect(kept.status).toBe('damaged');
    expect(kept.validation?.validUpTo).toBeLessThanOrEqual(split + 4096);
  });
});

describe('the reassembly pool', () => {
  const disk = new BufferReader(Buffer.alloc(64 * 1024));
  const pool = new Pool(disk, [{ offset: 1024, length: 4096 }, { offset: 8192, length: 8192 }], 2048, 0);

  it('maps offsets to the stream and back', () => {
    expect(pool.total).toBe(12288);
    expect(pool.toStream(1024)).toBe(0);
    expect(pool.toStream(5119)).toBe(4095);
    expect(pool.toStream(5120)).toBe(-1);
    expect(pool.toStream(8192)).toBe(4096);
    expect(pool.spanToRuns(4000, 200)).toEqual([{ offset: 5024, length: 96 }, { offset: 8192, length: 104 }]);
  });

  it('lists cluster boundaries in both directions (aligned on the source, not the stream)', () => {
    expect([...pool.boundariesAfter(0)]).toEqual([1024, 3072, 4096, 6144, 8192, 10240]);
    expect([...pool.boundariesBefore(8192, 0)]).toEqual([8192, 6144, 4096, 3072, 1024]);
  });

  it('gives up clusters, whole', () => {
    const p = pool.without([{ offset: 8200, length: 10 }]);
    expect(p.runs).toEqual([{ offset: 1024, length: 4096 }, { offset: 10240, length: 6144 }]);
    expect(p.with([{ offset: 5120, length: 3072 }]).runs).toEqual([{ offset: 1024, length: 7168 }, { offset: 10240, length: 6144 }]);
  });
});
