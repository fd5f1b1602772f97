import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { ReadAhead, endUnusedReadAhead, slotGroups, startReadAheadEarly } from '../src/source/read-ahead.js';
import { READING_THREADS } from '../src/source/read-ahead-thread.js';
import { ByteSource } from '../src/source/source.js';
import { BufferReader, RunsReader } from '../src/reader.js';
import { carveRegion, type CarveRegion } from '../src/carve.js';
import { carvers } from '../carvers/registry.js';
import { SAMPLES, fixtureImage, freshOut, haveCommands, noise, noisePhoto, photoCard, recoverHashes, runCli, runTool, sha256 } from './support/fixtures.js';
import { runPipeline } from '../src/pipeline.js';

describe('the read-ahead thread', () => {
  const dir = freshOut('read-ahead');
  const file = path.join(dir, 'data.bin');
  const data = noise(3 * 1024 * 1024, 5);
  fs.writeFileSync(file, data);

  it('hands over exactly the runs asked for, slot after slot', () => {
    const ahead = new ReadAhead(file, 1024 * 1024);
    try {
      const runs = [
        [{ offset: 10, length: 1000 }, { offset: 2_000_000, length: 24 }],
        [{ offset: 1_048_576, length: 1_048_576 }],
        [{ offset: 5, length: 7 }],
      ];
      ahead.request(1, runs[0]);
      ahead.request(2, runs[1]);
      expect(ahead.take(1)?.equals(Buffer.concat([data.subarray(10, 1010), data.subarray(2_000_000, 2_000_024)]))).toBe(true);
      ahead.request(3, runs[2]);
      expect(ahead.peek(2)?.equals(data.subarray(1_048_576, 2_097_152))).toBe(true);
      expect(ahead.take(2)?.equals(data.subarray(1_048_576, 2_097_152))).toBe(true);
      expect(ahead.take(3)?.equals(data.subarray(5, 12))).toBe(true);
      // Never asked for, or past the end of the file (a short read): the caller reads it itself.
      expect(ahead.take(99)).toBeNull();
      ahead.request(4, [{ offset: data.length - 10, length: 20 }]);
      expect(ahead.take(4)).toBeNull();
    } finally {
      ahead.close();
    }
  });

  it('keeps serving past its request queue, slot after slot, and leaves a chunk of too many runs to the caller', () => {
    const ahead = new ReadAhead(file, 64 * 1024);
    try {
      // 40 requests through 2 slots: the queue of slot numbers wraps around several times.
      ahead.request(0, [{ offset: 0, length: 64 * 1024 }]);
      for (let k = 0; k < 40; k++) {
        if (k + 1 < 40) ahead.request(k + 1, [{ offset: (k + 1) * 7919, length: 1000 }, { offset: (k + 1) * 30011, length: 24 }]);
        const want = k === 0 ? data.subarray(0, 64 * 1024) : Buffer.concat([data.subarray(k * 7919, k * 7919 + 1000), data.subarray(k * 30011, k * 30011 + 24)]);
        expect(ahead.take(k)?.equals(want)).toBe(true);
      }
      // A pool cut into more pieces than a request can name: not read ahead.
      const many = Array.from({ length: 2000 }, (_, i) => ({ offset: i * 512, length: 16 }));
      ahead.request(100, many);
      expect(ahead.take(100)).toBeNull();
    } finally {
      ahead.close();
    }
  });

  it('shares its slots out among its threads, each thread consecutive ones, as even as they go', () => {
    expect(slotGroups(['a', 'b', 'c', 'd'], 2)).toEqual([['a', 'b'], ['c', 'd']]);
    expect(slotGroups(['a', 'b', 'c'], 2)).toEqual([['a'], ['b', 'c']]);
    expect(slotGroups(['a'], 2)).toEqual([[], ['a']]);
    expect(slotGroups(['a', 'b'], 1)).toEqual([['a', 'b']]);
  });

  it('with several threads, asks a slot again only once every other slot was asked: what the caller holds stays', () => {
    const SLOT = 64 * 1024;
    const at = (k: number) => (k * 40_961) % (data.length - SLOT);
    const want = (k: number) => data.subarray(at(k), at(k) + SLOT);
    for (const [slots, threads] of [[4, 2], [3, 2], [2, 2], [5, 2], [4, 1]]) {
      const ahead = new ReadAhead(file, SLOT, slots, { threads });
      try {
        expect(ahead.threads).toBe(Math.min(slots, threads));
        // As the scan asks: it holds one chunk while the next slots - 1 are read.
        for (let k = 0; k < slots - 1; k++) ahead.request(k, [{ offset: at(k), length: SLOT }]);
        for (let k = 0; k < 24; k++) {
          const held = ahead.take(k);
          expect(held?.equals(want(k)), `${slots} slots, ${threads} threads: chunk ${k}`).toBe(true);
          ahead.request(k + slots - 1, [{ offset: at(k + slots - 1), length: SLOT }]);
          // Once that request is read, the chunk held is still the one taken.
          ahead.peek(k + slots - 1);
          expect(held?.equals(want(k)), `${slots} slots, ${threads} threads: chunk ${k} after ${k + slots - 1} was read`).toBe(true);
        }
      } finally {
        ahead.close();
      }
    }
  });

  it('a file it cannot open makes every request come back empty, at once', () => {
    const ahead = new ReadAhead(path.join(dir, 'missing.bin'), 4096);
    try {
      ahead.request(1, [{ offset: 0, length: 100 }]);
      const t = Date.now();
      expect(ahead.take(1)).toBeNull();
      expect(Date.now() - t).toBeLessThan(10_000);
    } finally {
      ahead.close();
    }
  });

  it('is not offered for a source whose reads need care', () => {
    expect(ByteSource.open(file).directFile()).toEqual({ path: file, offset: 0 });
    expect(ByteSource.open(file, { knownBad: [{ offset: 0, length: 512 }] }).directFile()).toBeUndefined();
    expect(ByteSource.open(file, { readSync: fs.readSync.bind(fs) }).directFile()).toBeUndefined();
  });
});

const jpegDir = path.join(SAMPLES, 'jpeg');
/** Lay real photos on a card image (only when the samples are here: a skipped suite's body still runs). */
function scenario() {
  // Real photos laid across 72 MiB so that some cross the scan's 8 MiB chunks, one of them by
  // more than a whole chunk's worth of walking into the next.
  const photos = fs
    .readdirSync(jpegDir)
    .flatMap((d) => fs.readdirSync(path.join(jpegDir, d)).map((f) => path.join(jpegDir, d, f)))
    .filter((p) => /\.jpe?g$/i.test(p))
    .sort()
    .map((p) => fs.readFileSync(p))
    .filter((b) => b.length > 1_000_000)
    .slice(0, 14);
  const card = Buffer.alloc(72 * 1024 * 1024);
  const placed: { offset: number; sha: string }[] = [];
  let at = 8 * 1024 * 1024 - 704 * 1024;
  for (const p of photos) {
    if (at + p.length > card.length) break;
    p.copy(card, at);
    placed.push({ offset: at, sha: sha256(p) });
    at = Math.ceil((at + p.length + 3 * 1024 * 1024) / 32768) * 32768;
  }
  const dir = freshOut('read-ahead-scan');
  const image = path.join(dir, 'card.img');
  fs.writeFileSync(image, card);
  const region: CarveRegion = { volume: 0, runs: [{ offset: 0, length: card.length }], granularity: 32768, alignBase: 0 };
  return { card, placed, image, region };
}

const haveSamples = fs.existsSync(jpegDir);

describe.runIf(haveSamples)('a scan with the read-ahead thread', () => {
  const { card, placed, image, region } = haveSamples ? scenario() : ({} as ReturnType<typeof scenario>);

  it('finds the same files, byte-exact, as a scan that reads everything itself', () => {
    expect(placed.length).toBeGreaterThan(8);
    const source = ByteSource.open(image);
    expect(source.directFile()).toBeDefined();
    const threaded = carveRegion(source, region, { carvers });
    const plain = carveRegion(new BufferReader(card), region, { carvers });
    expect(threaded.files.map((f) => [f.runs, f.size])).toEqual(plain.files.map((f) => [f.runs, f.size]));
    for (const p of placed) {
      const hit = threaded.files.find((f) => f.runs[0].offset === p.offset);
      expect(hit, `photo at ${p.offset}`).toBeDefined();
      expect(sha256(new RunsReader(source, hit!.runs).read(0, hit!.size))).toBe(p.sha);
    }
    source.close();
  });
});

describe('a reading thread started before the scan', () => {
  const dir = freshOut('read-ahead-early');
  const file = path.join(dir, 'data.bin');
  const data = noise(2 * 1024 * 1024, 11);
  fs.writeFileSync(file, data);
  const SLOT = 1024 * 1024;
  /** Two slots in one shared memory, with a gap before and between them, all set to 0xAA. */
  const memoryWithSlots = () => {
    const memory = new SharedArrayBuffer(4 * SLOT);
    Buffer.from(memory).fill(0xaa);
    const ranges = [{ offset: SLOT / 2, length: SLOT }, { offset: 2 * SLOT, length: SLOT }];
    return { memory, ranges, slots: ranges.map((r) => Buffer.from(memory, r.offset, r.length)) };
  };
  const readThrough = (slots: Buffer[], options?: { bootWaitMs?: number }) => {
    const ahead = new ReadAhead(file, SLOT, slots, options);
    try {
      ahead.request(0, [{ offset: 0, length: SLOT }]);
      ahead.request(1, [{ offset: SLOT, length: SLOT }]);
      return [ahead.take(0), ahead.take(1)].map((b) => b && sha256(b));
    } finally {
      ahead.close();
    }
  };

  it('touches the pages of its slots, and nothing else, while it waits for the scan', async () => {
    const { memory, ranges, slots } = memoryWithSlots();
    startReadAheadEarly({ memory, ranges });
    const all = Buffer.from(memory);
    // The warm-up writes zeros over the slots; a boot takes tens of milliseconds.
    const until = Date.now() + 20_000;
    while (Date.now() < until && !slots.every((s) => s[0] === 0 && s[s.length - 1] === 0)) await new Promise((r) => setTimeout(r, 10));
    expect(slots.every((s) => s.every((b) => b === 0))).toBe(true);
    expect(all.subarray(0, SLOT / 2).every((b) => b === 0xaa)).toBe(true);
    expect(all.subarray(SLOT / 2 + SLOT, 2 * SLOT).every((b) => b === 0xaa)).toBe(true);
    expect(all.subarray(3 * SLOT).every((b) => b === 0xaa)).toBe(true);
    expect(readThrough(slots)).toEqual([sha256(data.subarray(0, SLOT)), sha256(data.subarray(SLOT))]);
  });

  it('hands over exact bytes when the scan takes it over in the middle of its warm-up', () => {
    for (let round = 0; round < 3; round++) {
      const { memory, ranges, slots } = memoryWithSlots();
      startReadAheadEarly({ memory, ranges });
      expect(readThrough(slots)).toEqual([sha256(data.subarray(0, SLOT)), sha256(data.subarray(SLOT))]);
    }
  });

  it('one no scan wants is ended, and a later scan starts a thread of its own', () => {
    const { memory, ranges, slots } = memoryWithSlots();
    startReadAheadEarly({ memory, ranges });
    endUnusedReadAhead();
    expect(readThrough(slots)).toEqual([sha256(data.subarray(0, SLOT)), sha256(data.subarray(SLOT))]);
  });

  it('a thread that never starts serving is given up after the boot wait, and then not waited for again', () => {
    // Opening a FIFO blocks until someone writes to it: the thread never gets to its first read.
    const fifo = path.join(dir, 'blocked.fifo');
    fs.rmSync(fifo, { force: true });
    execFileSync('mkfifo', [fifo]);
    const ahead = new ReadAhead(fifo, 4096, 2, { bootWaitMs: 300 });
    try {
      ahead.request(1, [{ offset: 0, length: 100 }]);
      let t = Date.now();
      expect(ahead.take(1)).toBeNull();
      expect(Date.now() - t).toBeGreaterThanOrEqual(250);
      expect(Date.now() - t).toBeLessThan(5_000);
      ahead.request(2, [{ offset: 0, length: 100 }]);
      t = Date.now();
      expect(ahead.take(2)).toBeNull();
      expect(Date.now() - t).toBeLessThan(100);
    } finally {
      ahead.close();
      // Let the thread's open return (a writer came and went), so that it can end.
      fs.closeSync(fs.openSync(fifo, fs.constants.O_WRONLY | fs.constants.O_NONBLOCK));
    }
  });
});

describe.runIf(haveCommands('mkfs.fat', 'mcopy', 'mmd', 'mdel', 'cjpeg'))('the command line on a card big enough for the reading thread', () => {
  it('lists what a scan without the thread finds, and recovers every photo byte-exact', () => {
    const dir = freshOut('read-ahead-cli');
    // 80 MiB: the free clusters are one region of more than READ_AHEAD_MIN, read by the thread
    // the launcher starts before anything else (src/launch/load.ts).
    const photos = Array.from({ length: 24 }, (_, i) => noisePhoto(256 + 16 * i, 192, 900 + i));
    const { img, names } = photoCard(dir, 80, ['-F', '32', '-s', '1', '-i', '0C0FFEE6'], photos);
    // Every third photo deleted: its entry says where it began, the scan finds it too.
    runTool('mdel', ['-i', img, ...names.filter((_, i) => i % 3 === 0).map((n) => `::DCIM/100TEST/${n}`)]);

    const listed = runCli(['list', '--json', '-q', img], { CARDRESCUE_TIMING: '1' });
    expect(listed.status).toBe(0);
    // The threads the launcher started before the tool was compiled (src/launch/load.ts) are the ones used.
    expect(listed.stderr).toContain(`reading threads: ${READING_THREADS}, started by the launcher`);
    const fromCli = (JSON.parse(listed.stdout) as { files: { runs: unknown; size: number; provenance: string }[] }).files;
    const plain = runPipeline(new BufferReader(fs.readFileSync(img))).files;
    expect(fromCli.map((f) => [f.runs, f.size, f.provenance])).toEqual(plain.map((f) => [f.runs.map((r) => [r.offset, r.length]), f.size, f.provenance]));
    expect(fromCli.filter((f) => f.provenance === 'deleted')).toHaveLength(8);

    const r = recoverHashes(img, path.join(dir, 'out'));
    expect(r.status, r.stderr).toBe(0);
    for (const [i, p] of photos.entries()) expect(r.hashes.has(sha256(p)), names[i]).toBe(true);
  });
});

describe('the built command', () => {
  it('runs its bundle with the code cache the build made for it', () => {
    const r = runCli(['list', '-q', fixtureImage('fat16-mbr')], { CARDRESCUE_TIMING: '1' });
    expect(r.status).toBe(0);
    expect(r.stderr).toContain('code cache: used');
    // A card smaller than READ_AHEAD_MIN: the threads the launcher started are ended, not used.
    expect(r.stderr).toContain('reading threads: ended unused');
  });
});
