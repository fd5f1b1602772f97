import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { BufferReader, type ByteRun } from '../src/reader.js';
import { carveRegion, type CarveRegion } from '../src/carve.js';
import { carvers } from '../carvers/registry.js';
import { reassembleRegion, subtractRuns } from '../src/reassemble.js';
import { checkPlaced, foreignPayload, reassembleBmffRegion, type BmffReassembleOptions } from '../src/reassemble-bmff.js';
import { checkNalSample, emulationViolation, moovStructureBreak, parseMovie, sampleSize } from '../carvers/bmff-samples.js';
import { runPipeline } from '../src/pipeline.js';
import { OwnershipMap } from '../src/ownership.js';
import type { RecoveredFile } from '../src/record.js';
import type { VolumePlan } from '../src/plan.js';
import type { FsEntry } from '../parsers/types.js';
import type { Report } from '../src/report.js';
import { noise, FIXTURES, SAMPLES, freshOut, runCli, sha256, sha256File, tempDir } from './support/fixtures.js';

/** fixtures/build-fragmented-video.sh: small real videos made by ffmpeg. */
interface VideoManifest {
  files: { file: string; size: number; sha256: string; boxes: string }[];
}
const MANIFEST = JSON.parse(fs.readFileSync(path.join(FIXTURES, 'videos.manifest.json'), 'utf8')) as VideoManifest;
const video = (name: string) => zlib.gunzipSync(fs.readFileSync(path.join(FIXTURES, `${name}.gz`)));
const MP4 = 'video-h264-aac-faststart.mp4'; // moov before mdat
const MOV = 'video-h264-pcm-moovlast.mov'; // moov after mdat, PCM audio
const HEVC = 'video-hevc-aac-moovlast.mp4'; // moov after mdat
const MJPEG = 'video-mjpeg-pcm-moovlast.mov'; // Motion JPEG, moov after mdat

const CS = 4096;
const bytesOf = (disk: Buffer, runs: readonly ByteRun[]) => Buffer.concat(runs.map((r) => disk.subarray(r.offset, r.offset + r.length)));
const pad = (b: Buffer) => Buffer.concat([b, Buffer.alloc((CS - (b.length % CS)) % CS)]);

/** `file` cut at `splits` (cluster multiples) with `gaps` between the pieces, other data after. */
function card(file: Buffer, splits: number[], gaps: Buffer[], after = noise(8 * CS, 99)): { disk: Buffer; runs: ByteRun[] } {
  const parts: Buffer[] = [];
  const runs: ByteRun[] = [];
  let prev = 0;
  let at = 0;
  for (let k = 0; k <= splits.length; k++) {
    const piece = file.subarray(prev, k < splits.length ? splits[k] : file.length);
    runs.push({ offset: at, length: piece.length });
    parts.push(k < splits.length ? piece : pad(piece));
    at += parts[parts.length - 1].length;
    if (k < splits.length) {
      parts.push(gaps[k]);
      at += gaps[k].length;
      prev = splits[k];
    }
  }
  parts.push(after);
  return { disk: Buffer.concat(parts), runs };
}

const region = (disk: Buffer, runs: ByteRun[] = [{ offset: 0, length: disk.length }]): CarveRegion => ({ volume: 0, runs, granularity: CS, alignBase: 0 });

/** Carving, JPEG reassembly, then this: what the pipeline does for one region. */
function recover(disk: Buffer, options: BmffReassembleOptions = {}, reg = region(disk)) {
  const reader = new BufferReader(disk);
  const outcome = carveRegion(reader, reg, { carvers, keepPartial: options.keepPartial });
  const j = reassembleRegion(reader, reg, outcome, undefined, [], options);
  return reassembleBmffRegion(reader, reg, j.files, outcome.rejected, undefined, [], options);
}

const at0 = (files: RecoveredFile[]) => files.find((f) => f.runs[0]?.offset === 0);

describe('the fixture videos (fixtures/build-fragmented-video.sh)', () => {
  it.each(MANIFEST.files.map((f) => [f.file, f] as const))('%s is what the manifest says, and its sample tables check out', (_name, m) => {
    const file = video(m.file);
    expect(file.length).toBe(m.size);
    expect(sha256(file)).toBe(m.sha256);
    const placed = checkPlaced(new BufferReader(file), [{ offset: 0, length: file.length }], file.length, 'all');
    expect(placed).toEqual({ ok: true });
  });

  it('the sample tables say where every sample is; NAL units chain to each sample size', () => {
    const file = video(MP4);
    const moovAt = 32;
    const movie = parseMovie(file.subarray(moovAt, moovAt + file.readUInt32BE(moovAt)));
    if (typeof movie === 'string') throw new Error(movie);
    expect(movie.tracks.map((t) => [t.handler, t.codec, t.check.kind])).toEqual([
      ['vide', 'avc1', 'nal'],
      ['soun', 'mp4a', 'aac'],
    ]);
    expect(movie.dataEnd).toBe(file.length);
    const read = (o: number, n: number) => file.subarray(o, o + n);
    const v = movie.chunks.filter((c) => c.track === 0);
    let ok = 0;
    for (const c of v) {
      let o = c.offset;
      for (let i = c.firstSample; i < c.firstSample + c.samples; i++) {
        const s = sampleSize(movie, 0, i);
        if (checkNalSample(read, o, s, 4, false).ok) ok++;
        // One byte off and the chain no longer fits.
        expect(checkNalSample(read, o + 1, s, 4, false).ok).toBe(false);
        o += s;
      }
    }
    expect(ok).toBe(movie.tracks[0].sampleCount);
  });

  it('NAL unit payload rules: emulation prevention, and data of other kinds', () => {
    expect(emulationViolation(Buffer.from([1, 0, 0, 3, 1, 7]))).toBe(-1);
    expect(emulationViolation(Buffer.from([1, 0, 0, 1, 7]))).toBe(1);
    expect(emulationViolation(Buffer.from([1, 0, 0, 3, 9]))).toBe(1);
    expect(foreignPayload(noise(8192, 5))).toBeNull();
    expect(foreignPayload(Buffer.alloc(4096))?.what).toMatch(/00 00 0x/);
    expect(foreignPayload(Buffer.from('the camera log says hello '.repeat(200)))?.what).toMatch(/text/);
    const jpegLike = Buffer.from(noise(8192, 6).map((b) => (b === 0xff ? 0xfe : b)));
    for (let i = 100; i < 8000; i += 300) jpegLike.set([0xff, 0x00], i);
    expect(foreignPayload(jpegLike)?.what).toMatch(/JPEG/);
  });

  it("a moov's box structure shows where it broke", () => {
    const file = video(HEVC);
    const moovAt = file.length - 5266;
    const moov = Buffer.from(file.subarray(moovAt));
    expect(moov.toString('latin1', 4, 8)).toBe('moov');
    expect(moovStructureBreak((o, n) => moov.subarray(o, o + n), moov.length)).toBe(-1);
    noise(moov.length - 400, 3).copy(moov, 400);
    const at = moovStructureBreak((o, n) => moov.subarray(o, o + n), moov.length);
    expect(at).toBeGreaterThan(0);
    expect(at).toBeLessThanOrEqual(moov.length);
  });
});

describe('reassembly through the sample tables on a synthetic card', () => {
  // Split points (in clusters) where the checks settle the break exactly (see the sweep below for the others).
  const cases: [string, number][] = [
    [MP4, 24],
    [MOV, 9],
    [HEVC, 13],
    [MJPEG, 17],
  ];
  const gaps: [string, (file: string) => Buffer][] = [
    ['random bytes', () => noise(3 * CS, 1)],
    ['zeros', () => Buffer.alloc(2 * CS)],
    ["another video's middle", (f) => video(f === HEVC ? MP4 : HEVC).subarray(16384, 16384 + 5 * CS)],
  ];

  describe.each(cases)('%s split at cluster %i', (name, k) => {
    const file = video(name);
    it.each(gaps)('two fragments with a gap of %s: byte-identical', (_what, gapOf) => {
      const gap = gapOf(name);
      const { disk, runs } = card(file, [k * CS], [gap]);
      const r = recover(disk);
      const f = at0(r.files)!;
      expect(f, r.files.map((x) => x.name).join()).toBeDefined();
      expect(sha256(bytesOf(disk, f.runs))).toBe(sha256(file));
      expect(f).toMatchObject({ basis: 'reassembled', status: 'ok', size: file.length, validation: { ok: true, by: 'bmff', confidence: expect.any(Number) } });
      expect(f.runs).toEqual(runs);
      expect(f.notes.join(' ')).toMatch(/method: sample-table/);
      expect(f.validation!.confidence).toBeGreaterThan(0.95);
      if (name !== MP4) expect(f.notes.join(' ')).toMatch(/moov found after the mdat/);
      expect(r.stats.reassembled).toBe(1);
    });
  });

  it.each([
    [MP4, [9, 30], 'random, then zeros'],
    [MOV, [5, 20], 'zeros, then random'],
    [HEVC, [4, 27], "another video's middle, then random"],
    [MJPEG, [3, 22], 'random, then random'],
  ] as const)('%s in three fragments (%j, %s)', (name, ks, _what) => {
    const file = video(name);
    const g1 = name === MOV ? Buffer.alloc(2 * CS) : name === HEVC ? video(MP4).subarray(40960, 40960 + 3 * CS) : noise(3 * CS, 11);
    const g2 = name === MP4 ? Buffer.alloc(4 * CS) : noise(6 * CS, 12);
    const { disk, runs } = card(file, ks.map((x) => x * CS), [g1, g2]);
    const r = recover(disk);
    const f = at0(r.files)!;
    expect(sha256(bytesOf(disk, f.runs))).toBe(sha256(file));
    expect(f.runs).toEqual(runs);
    expect(f.status).toBe('ok');
    expect(f.notes.join(' ')).toMatch(/3 fragment\(s\)/);
  });

  it('a moov that is itself split is put back together', () => {
    // HEVC's moov (moov last, 5266 bytes) spans clusters 32–34.
    const file = video(HEVC);
    const { disk, runs } = card(file, [33 * CS], [noise(3 * CS, 21)]);
    const f = at0(recover(disk).files)!;
    expect(sha256(bytesOf(disk, f.runs))).toBe(sha256(file));
    expect(f.runs).toEqual(runs);
    expect(f.status).toBe('ok');
  });

  it('a carved moov-first file whose walk passed over the gap is checked, and replaced by the rebuilt one', () => {
    const file = video(MP4);
    const { disk } = card(file, [24 * CS], [noise(3 * CS, 1)]);
    // The box walk jumps over the mdat: it passes with the gap inside and the tail missing.
    const carved = carveRegion(new BufferReader(disk), region(disk), { carvers });
    expect(carved.files.filter((x) => x.runs[0].offset === 0)).toHaveLength(1);
    expect(carved.files[0]).toMatchObject({ size: file.length, status: 'ok' });
    expect(sha256(bytesOf(disk, carved.files[0].runs))).not.toBe(sha256(file));
    const r = recover(disk);
    const f = at0(r.files)!;
    expect(sha256(bytesOf(disk, f.runs))).toBe(sha256(file));
    expect(f.notes.join(' ')).toMatch(/candidate: carved, but .*does not fit the sample/);
    expect(r.files.filter((x) => x.runs[0]?.offset === 0)).toHaveLength(1);
  });

  it('a Motion JPEG frame carved as a photo (it started at a cluster boundary) goes back into the movie', () => {
    const file = video(MJPEG);
    const { disk } = card(file, [17 * CS], [noise(3 * CS, 13)]);
    // As if carving had found a JPEG at the start of the 25th cluster of the second fragment,
    // and a real photo further on the card.
    const frameAt = (17 + 3 + 8) * CS;
    const jpeg = (offset: number, length: number, name: string): RecoveredFile => ({
      volume: 0, provenance: 'carved', name, folder: ['jpeg'], runs: [{ offset, length }], size: length, format: 'jpeg', basis: 'structure', status: 'ok', notes: [],
    });
    const frame = jpeg(frameAt, 3000, `f${frameAt}.jpg`);
    const photo = jpeg(disk.length - 4 * CS, 2 * CS, 'photo.jpg');
    const reader = new BufferReader(disk);
    const reg = region(disk);
    const outcome = carveRegion(reader, reg, { carvers });
    const r = reassembleBmffRegion(reader, reg, [...outcome.files, frame, photo], outcome.rejected, undefined, []);
    const f = at0(r.files)!;
    expect(sha256(bytesOf(disk, f.runs))).toBe(sha256(file));
    expect(r.files).not.toContain(frame);
    expect(r.files).toContain(photo);
    expect(f.notes.join(' ')).toMatch(new RegExp(`holds what was carved as f${frameAt}.jpg`));
  });

  it('a whole video on the card is kept as carved, not touched', () => {
    const file = video(MOV);
    const disk = Buffer.concat([pad(file), noise(4 * CS, 2)]);
    const r = recover(disk);
    expect(r.stats.candidates).toBe(0);
    expect(at0(r.files)).toMatchObject({ basis: 'structure', size: file.length });
  });

  it.each([
    [MP4, 'the carve whose walk passed'],
    [MOV, 'the start whose walk failed'],
  ] as const)('%s: a second fragment that is gone: nothing written, or damaged with keepPartial (%s)', (name) => {
    const file = video(name);
    const split = 20 * CS;
    const disk = Buffer.concat([file.subarray(0, split), noise(60 * CS, 7)]);
    const r = recover(disk);
    expect(at0(r.files)).toBeUndefined();
    const p = recover(disk, { keepPartial: true });
    const f = at0(p.files)!;
    expect(f.status).toBe('damaged');
    expect(f.validation?.ok).toBe(false);
    if (name === MP4) {
      // The part the checks carry, up to the break.
      expect(f.basis).toBe('reassembled');
      expect(f.size).toBeLessThanOrEqual(split + CS);
      expect(f.validation?.validUpTo).toBeGreaterThan(split - 3 * CS);
      expect(sha256(bytesOf(disk, f.runs))).toBe(sha256(file.subarray(0, f.size)));
    } else {
      // No moov to check against: the carve's own partial (as far as the box walk got) stays.
      expect(f.basis).toBe('structure');
      expect(bytesOf(disk, f.runs).subarray(0, split).equals(file.subarray(0, split))).toBe(true);
    }
  });

  it('a cluster owned by another file between the fragments is not gap: the pool skips it', () => {
    const file = video(MOV);
    const split = 9 * CS;
    const owned = noise(4 * CS, 8);
    const gap = noise(2 * CS, 9);
    const disk = Buffer.concat([file.subarray(0, split), owned, gap, pad(file.subarray(split)), noise(4 * CS, 10)]);
    const reg = region(disk, subtractRuns([{ offset: 0, length: disk.length }], [{ offset: split, length: owned.length }]));
    const f = at0(recover(disk, { maxGap: 2 }, reg).files)!;
    expect(sha256(bytesOf(disk, f.runs))).toBe(sha256(file));
    expect(f.runs).toEqual([
      { offset: 0, length: split },
      { offset: split + owned.length + gap.length, length: file.length - split },
    ]);
  });

  it('the search stays within its bounds (maxGap, maxCandidates)', () => {
    const file = video(HEVC);
    const { disk } = card(file, [13 * CS], [noise(6 * CS, 4)]);
    expect(at0(recover(disk, { maxGap: 5 }).files)).toBeUndefined();
    expect(sha256(bytesOf(disk, at0(recover(disk, { maxGap: 6 }).files)!.runs))).toBe(sha256(file));
    const capped = recover(disk, { maxCandidates: 3 });
    expect(at0(capped.files)).toBeUndefined();
    expect(capped.stats.trials).toBeLessThanOrEqual(3 + 8);
    const spent = recover(disk, { maxWork: 0 });
    expect(at0(spent.files)).toBeUndefined();
    expect(spent.stats.unsearched).toBe(1);
  });

  it('a break the checks cannot pin to one cluster boundary: skipped, or written unverified with keepPartial, its confidence below 1', () => {
    // Cluster 1 of MP4 lies inside its first I-frame (a NAL unit of 8 KiB): a gap of random
    // bytes there could begin at cluster 1 or 2; nothing in the bytes tells.
    const file = video(MP4);
    const { disk } = card(file, [1 * CS], [noise(3 * CS, 1)]);
    const plain = recover(disk);
    expect(at0(plain.files)).toBeUndefined();
    expect(plain.skipped.map((x) => x.reason).join(' ')).toMatch(/more than one cluster boundary.*--keep-partial/);
    const f = at0(recover(disk, { keepPartial: true }).files)!;
    expect(f.status).toBe('unverified');
    expect(f.validation?.confidence).toBeLessThan(1);
    expect(f.notes.join(' ')).toMatch(/could be at more than one cluster boundary/);
    // Zeros there break the rules of NAL units: that settles it.
    const z = card(file, [1 * CS], [Buffer.alloc(3 * CS)]);
    const fz = at0(recover(z.disk).files)!;
    expect(fz.status).toBe('ok');
    expect(sha256(bytesOf(z.disk, fz.runs))).toBe(sha256(file));
  });

  it('every split point, every kind of gap: a file written ok is always byte-identical', () => {
    // The sweep of docs/how-it-works.md, on the fixtures.
    const tally = { ok: 0, unverified: 0, wrongOk: 0, lost: 0, total: 0 };
    for (const m of MANIFEST.files) {
      const file = video(m.file);
      const other = video(m.file === HEVC ? MP4 : HEVC);
      for (let k = 1; k * CS < file.length; k++) {
        for (const gap of [noise(3 * CS, k), Buffer.alloc(3 * CS), other.subarray(16384, 16384 + 3 * CS)]) {
          const { disk } = card(file, [k * CS], [gap]);
          // keepPartial: the ambiguous ones are written too (unverified), to be counted.
          const f = at0(recover(disk, { keepPartial: true }).files);
          tally.total++;
          if (!f) tally.lost++;
          else if (f.status === 'ok') {
            if (sha256(bytesOf(disk, f.runs)) === sha256(file)) tally.ok++;
            else tally.wrongOk++;
          } else tally.unverified++;
        }
      }
    }
    expect(tally.wrongOk).toBe(0);
    expect(tally.lost).toBe(0);
    expect(tally.ok / tally.total).toBeGreaterThan(0.85);
  });
});

describe('lost directory entries and contiguous guesses', () => {
  const fakePlan = (disk: Buffer, unplaced: FsEntry[] = []) =>
    ({
      volume: { offset: 0 },
      fs: { geometry: { clusterSize: CS, clusterCount: disk.length / CS, dataOffset: 0 }, clusterOffset: (c: number) => (c - 2) * CS },
      unplaced,
      owned: new OwnershipMap(disk.length / CS + 2),
    }) as unknown as VolumePlan;
  const entry = (size: number): FsEntry => ({
    folder: ['DCIM', '100CANON'], name: 'MVI_0042.MOV', isDirectory: false, deleted: true, size, firstCluster: 2,
    extents: [{ first: 2, count: Math.ceil(size / CS) }], basis: 'contiguous-guess', attributes: 0x20, notes: [],
  });

  it('a lost entry whose contiguous guess failed is rebuilt with its name and size, and leaves the unplaced list', () => {
    const file = video(MOV);
    const { disk } = card(file, [9 * CS], [noise(3 * CS, 3)]);
    const e = entry(file.length);
    const plan = fakePlan(disk, [e]);
    const reader = new BufferReader(disk);
    const reg = region(disk);
    const outcome = carveRegion(reader, reg, { carvers });
    const r = reassembleBmffRegion(reader, reg, outcome.files, outcome.rejected, plan, []);
    const f = at0(r.files)!;
    expect(f).toMatchObject({ provenance: 'deleted', name: 'MVI_0042.MOV', originalPath: '/DCIM/100CANON/MVI_0042.MOV', basis: 'reassembled', status: 'ok', size: file.length });
    expect(sha256(bytesOf(disk, f.runs))).toBe(sha256(file));
    expect(plan.unplaced).toEqual([]);
    expect(plan.owned.isOwned(2)).toBe(true);
  });

  it('a contiguous guess the box walk passed (moov first, gap inside) is rebuilt and replaces the guess', () => {
    const file = video(MP4);
    const { disk } = card(file, [24 * CS], [noise(3 * CS, 5)]);
    const planned: RecoveredFile = {
      volume: 0, provenance: 'deleted', name: 'VID_0001.MP4', folder: ['DCIM'], originalPath: '/DCIM/VID_0001.MP4',
      runs: [{ offset: 0, length: file.length }], size: file.length, format: 'mp4', basis: 'contiguous-guess', status: 'ok',
      validation: { ok: true, by: 'bmff' }, notes: [],
    };
    // The plan owns the guess's clusters: the carving pool is what lies after it.
    const reg = region(disk, subtractRuns([{ offset: 0, length: disk.length }], [{ offset: 0, length: Math.ceil(file.length / CS) * CS }]));
    const reader = new BufferReader(disk);
    const outcome = carveRegion(reader, reg, { carvers });
    const r = reassembleBmffRegion(reader, reg, outcome.files, outcome.rejected, fakePlan(disk), [planned]);
    expect(r.replaced).toEqual([planned]);
    const f = at0(r.files)!;
    expect(f).toMatchObject({ provenance: 'deleted', name: 'VID_0001.MP4', basis: 'reassembled', status: 'ok' });
    expect(sha256(bytesOf(disk, f.runs))).toBe(sha256(file));
    expect(f.notes.join(' ')).toMatch(/contiguous guess, but/);
  });
});

describe('end to end: a FAT16 card with a deleted, fragmented MOV and MP4 (cardrescue recover)', () => {
  /** fixtures/fat16-superfloppy.img.gz, with two videos written into free clusters and deleted entries for them. */
  function buildCard(): { image: string; mov: Buffer; mp4: Buffer } {
    const img = zlib.gunzipSync(fs.readFileSync(path.join(FIXTURES, 'fat16-superfloppy.img.gz')));
    const bps = img.readUInt16LE(11);
    const spc = img[13];
    const reserved = img.readUInt16LE(14);
    const fats = img[16];
    const rootEntries = img.readUInt16LE(17);
    const spf = img.readUInt16LE(22);
    const cs = bps * spc;
    const fatAt = reserved * bps;
    const rootAt = (reserved + fats * spf) * bps;
    const dataAt = rootAt + rootEntries * 32;
    const clusterAt = (c: number) => dataAt + (c - 2) * cs;
    const free = (from: number, count: number) => {
      for (let c = from; c < from + count; c++) expect(img.readUInt16LE(fatAt + 2 * c)).toBe(0);
    };
    const mov = video(MOV);
    const mp4 = video(MP4);
    // MOV at cluster 400: 20 clusters, 3 clusters of another file's leftovers, the rest.
    const place = (file: Buffer, first: number, k: number, gap: Buffer) => {
      const n = Math.ceil(file.length / cs) + gap.length / cs;
      free(first, n + 1);
      file.copy(img, clusterAt(first), 0, k * cs);
      gap.copy(img, clusterAt(first + k));
      file.copy(img, clusterAt(first + k) + gap.length, k * cs);
    };
    place(mov, 400, 20, noise(3 * cs, 31));
    place(mp4, 600, 40, Buffer.alloc(2 * cs));
    // Deleted 8.3 entries in free slots of the root folder.
    // (The first unused slot each time: a slot after an unused one is past the folder's end.)
    const dirent = (name: string, first: number, size: number) => {
      let at = rootAt;
      while (img[at] !== 0) at += 32;
      img.write(name, at, 'latin1');
      img[at] = 0xe5;
      img[at + 11] = 0x20;
      img.writeUInt16LE(first, at + 26);
      img.writeUInt32LE(size, at + 28);
    };
    dirent('CLIP0001MOV', 400, mov.length);
    dirent('CLIP0002MP4', 600, mp4.length);
    const image = path.join(tempDir(), 'fragmented-video.img');
    fs.writeFileSync(image, img);
    return { image, mov, mp4 };
  }

  it('brings both back byte-identical under their deleted names, reassembled through the sample tables', () => {
    const { image, mov, mp4 } = buildCard();
    const out = path.join(freshOut('bmff-e2e'), 'out');
    const r = runCli(['recover', image, '--out', out]);
    expect(r.status, r.stderr).toBe(0);
    const report = JSON.parse(fs.readFileSync(path.join(out, 'report.json'), 'utf8')) as Report;
    for (const [file, name] of [
      [mov, 'LIP0001.MOV'],
      [mp4, 'LIP0002.MP4'],
    ] as const) {
      const hits = report.files.filter((f) => f.sha256 === sha256(file));
      expect(hits, report.files.map((f) => `${f.path} ${f.basis} ${f.status}`).join('\n')).toHaveLength(1);
      const hit = hits[0];
      expect(hit).toMatchObject({ provenance: 'deleted', basis: 'reassembled', status: 'ok', size: file.length });
      expect(hit.originalPath).toMatch(new RegExp(`/.${name.replace('.', '\\.')}$`));
      expect(hit.runs).toHaveLength(2);
      expect(hit.validation).toMatchObject({ ok: true, by: 'bmff', confidence: expect.any(Number) });
      expect(hit.notes.join(' ')).toMatch(/method: sample-table/);
      expect(sha256File(path.join(out, hit.path!))).toBe(sha256(file));
      expect(report.skipped.filter((s) => s.originalPath === hit.originalPath)).toEqual([]);
    }
  });

  it('runPipeline reports the sample-table reassembly in its stats; --no-reassemble leaves them broken', () => {
    const { image, mov, mp4 } = buildCard();
    const disk = fs.readFileSync(image);
    const r = runPipeline(new BufferReader(disk));
    expect(r.carving.reassemblyBmff).toMatchObject({ reassembled: 2 });
    const off = runPipeline(new BufferReader(disk), { reassemble: false });
    const shas = new Set(off.files.map((f) => sha256(bytesOf(disk, f.runs))));
    expect(shas.has(sha256(mov))).toBe(false);
    expect(shas.has(sha256(mp4))).toBe(false);
  });
});

// ---- real camera and phone videos (never copied into the repository) ---------------------------

const REAL = ['mov', 'mp4'].flatMap((kind) => {
  const dir = path.join(SAMPLES, kind);
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir).flatMap((model) => fs.readdirSync(path.join(dir, model)).map((f) => path.join(dir, model, f)));
});

describe.skipIf(REAL.length === 0)('real camera videos (../shared/samples/mov, mp4), split on a card of 32 KiB clusters', () => {
  const G = 32 * 1024;
  const realRegion = (disk: Buffer): CarveRegion => ({ volume: 0, runs: [{ offset: 0, length: disk.length }], granularity: G, alignBase: 0 });
  const realRecover = (disk: Buffer) => {
    const reader = new BufferReader(disk);
    const reg = realRegion(disk);
    const outcome = carveRegion(reader, reg, { carvers });
    const j = reassembleRegion(reader, reg, outcome, undefined, []);
    return reassembleBmffRegion(reader, reg, j.files, outcome.rejected, undefined, []);
  };
  const padG = (b: Buffer) => Buffer.concat([b, Buffer.alloc((G - (b.length % G)) % G)]);

  it.each(REAL.map((p) => [path.relative(SAMPLES, p), p]))('%s: split points all along, with a zero gap and random gaps', (_name, p) => {
    const file = fs.readFileSync(p);
    const n = Math.ceil(file.length / G);
    const got = { ok: 0, unverified: 0, wrongOk: 0, total: 0 };
    for (let k = 1; k < n; k += Math.max(1, Math.floor(n / 24))) {
      for (const gap of [Buffer.alloc(2 * G), noise(3 * G, k)]) {
        const disk = Buffer.concat([file.subarray(0, k * G), gap, padG(file.subarray(k * G)), noise(4 * G, 1)]);
        const f = realRecover(disk).files.find((x) => x.runs[0]?.offset === 0);
        got.total++;
        if (!f || f.status !== 'ok') {
          if (f?.status === 'unverified') got.unverified++;
          continue;
        }
        if (sha256(bytesOf(disk, f.runs)) === sha256(file)) got.ok++;
        // A break after the last byte any check reads (random bytes in the tail of the last
        // NAL unit, nothing after it) cannot be seen: such a file stays as carving found it.
        else if (f.basis === 'reassembled') got.wrongOk++;
      }
    }
    // Rebuilt and written ok means byte-identical; the rest are written unverified (or not found).
    expect(got.wrongOk).toBe(0);
    expect(got.ok + got.unverified).toBeGreaterThan(0);
  });
});
