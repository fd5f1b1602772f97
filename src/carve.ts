import type { Reader, ByteRun } from './reader.js';
import { ReadAhead } from './source/read-ahead.js';
import { RunsReader, readIntoAny } from './reader.js';
import type { Carver, WalkResult } from '../carvers/types.js';
import { buildSignatureTable, candidatesAt } from '../carvers/registry.js';
import { app1End, bareJpeg } from '../carvers/jpeg.js';
import { leaseSearchMemory } from '../carvers/entropy-search.js';
import type { RecoveredFile } from './record.js';
import { HEAD, OWN_READ_CHUNK, READ_AHEAD_MIN, READ_AHEAD_SLOTS, SCAN_BUFFER_SIZES, SCAN_CHUNK } from './scan-memory.js';

// bench/speed.mjs reads SCAN_CHUNK from here.
export { SCAN_CHUNK };

/**
 * Bytes to scan for file starts: runs on the source (the clusters nobody owns, or the
 * space outside every volume), presented as one stream. Walking a file over this
 * stream rather than over the raw disk skips clusters other files own, which is what
 * reassembles a file that was only split by another.
 */
export interface CarveRegion {
  volume: number;
  runs: ByteRun[];
  /** File starts can only be at these steps: the cluster size, or 512 without a file system. */
  granularity: number;
  /** Absolute offset that starts are aligned to (the data area start, or an inferred base). */
  alignBase: number;
}

export interface CarveOptions {
  carvers: Carver[];
  /** Write candidates that fail their walk, marked damaged, when the walk said how far they are valid. */
  keepPartial?: boolean;
  /** Formats to write; a valid file of another format is skipped over but not written. */
  accept?: (format: string, ext: string) => boolean;
  onProgress?: (bytesDone: number, filesFound: number) => void;
  /**
   * Called with every aligned position the scan reads (absolute offset; its bytes start at
   * bytes[at], 64 of them at least), before the file-start test: the orphan-folder sweep
   * rides along here. `bytes` is the scan's buffer: look, do not keep.
   */
  onHead?: (offset: number, bytes: Buffer, at: number) => void;
  /** Look for starts only inside these absolute ranges (sorted), and read only the chunks that hold them. */
  startsIn?: readonly ByteRun[];
}

export interface CarveOutcome {
  files: RecoveredFile[];
  /** Candidates whose headers matched but whose structure did not hold. */
  rejected: { offset: number; carver: string; reason: string }[];
  bytesScanned: number;
  /** Of those, bytes in holes of a sparse image: known zeros, neither read nor looked at. */
  bytesInHoles?: number;
}

/** Map a span of the region's stream back to runs on the source. */
export function streamSpanToRuns(runs: readonly ByteRun[], starts: readonly number[], from: number, length: number): ByteRun[] {
  const out: ByteRun[] = [];
  let i = 0;
  while (i + 1 < starts.length && starts[i + 1] <= from) i++;
  let pos = from;
  const end = from + length;
  for (; pos < end && i < runs.length; i++) {
    const within = pos - starts[i];
    const take = Math.min(runs[i].length - within, end - pos);
    const offset = runs[i].offset + within;
    const last = out[out.length - 1];
    if (last && last.offset + last.length === offset) last.length += take;
    else out.push({ offset, length: take });
    pos += take;
  }
  return out;
}

export function carveRegion(disk: Reader, region: CarveRegion, options: CarveOptions): CarveOutcome {
  const table = buildSignatureTable(options.carvers);
  const stream = new RunsReader(disk, region.runs);
  const starts: number[] = [];
  let total = 0;
  for (const r of region.runs) {
    starts.push(total);
    total += r.length;
  }
  const files: RecoveredFile[] = [];
  const rejected: CarveOutcome['rejected'] = [];
  const g = region.granularity;
  /** Stream offset where the next possible start lies (after the last carved file). */
  let resumeAt = 0;

  // Walks read through the scan's current chunk when they can: a JPEG's scan data is then
  // searched where the scan already put it, not read (and allocated) a second time.
  const view = new ChunkView(stream);
  // The EXIF block of the last JPEG start whose walk failed: when the photo broke, its
  // thumbnail is still found at a cluster start inside it, and is not a photo of its own.
  let brokenExif = { from: -1, to: -1 };
  /** The file-start test and walk at stream offset v (absolute offset abs), head = its first bytes, by the carvers that may start there. */
  const tryStart = (v: number, abs: number, head: Buffer, bucket: readonly Carver[]): void => {
    for (const carver of bucket) {
      if (!carver.detect(head)) continue;
      const result = safeWalk(carver, view, v, total - v);
      if (result.ok) {
        const thumbnail = carver.id === 'jpeg' && v > brokenExif.from && v + result.length <= brokenExif.to && bareJpeg(head);
        if (thumbnail && !options.keepPartial) {
          resumeAt = v + result.length;
          return;
        }
        if (!options.accept || options.accept(result.format, result.ext)) {
          const file = carvedRecord(region.volume, streamSpanToRuns(region.runs, starts, v, result.length), result);
          if (result.entropyGap) file.suspect = `${result.entropyGap} bytes in a row in the scan data that are zeros or text, not entropy-coded data`;
          if (thumbnail) file.notes.push(`the EXIF thumbnail of a photo whose carve failed (its start is ${v - brokenExif.from} bytes before, in the pool): kept for --keep-partial`);
          files.push(file);
        }
        resumeAt = v + result.length;
        return;
      }
      rejected.push({ offset: abs, carver: carver.id, reason: result.reason });
      if (carver.id === 'jpeg') {
        const end = app1End(head);
        if (end !== undefined) brokenExif = { from: v, to: v + end };
      }
      if (options.keepPartial && result.validUpTo && result.validUpTo > 0) {
        const runs = streamSpanToRuns(region.runs, starts, v, result.validUpTo);
        const file = carvedRecord(region.volume, runs, { ok: true, length: result.validUpTo, format: carver.id, ext: carver.types[0] });
        file.status = 'damaged';
        file.validation = { ok: false, by: carver.id, reason: result.reason, validUpTo: result.validUpTo };
        file.notes.push(`partial: ${result.reason}`);
        files.push(file);
        resumeAt = v + result.validUpTo;
        return;
      }
    }
  };

  if (options.startsIn) {
    // A second look at a few places: read only the heads there, not the chunks around them.
    for (const span of streamSpans(region.runs, starts, options.startsIn)) {
      const i = runAt(starts, span.start);
      const abs0 = region.runs[i].offset;
      const skew = (((region.alignBase - abs0) % g) + g) % g;
      let v = starts[i] + skew;
      if (v < span.start) v += Math.ceil((span.start - v) / g) * g;
      for (; v < span.end; v += g) {
        if (v < resumeAt) continue;
        const head = stream.read(v, HEAD);
        const bucket = candidatesAt(table, head, 0);
        if (bucket) tryStart(v, abs0 + (v - starts[i]), head, bucket);
      }
    }
    return { files, rejected, bytesScanned: 0 };
  }

  let firstRun = 0;
  // The chunks go where the JPEG end search runs (WebAssembly memory), so it searches them in place.
  const lease = leaseSearchMemory(SCAN_BUFFER_SIZES);
  const ahead = startReadAhead(disk, total, lease?.buffers.slice(1));
  // The reading thread's slots are its own (it touches their pages before the scan starts,
  // src/source/read-ahead.ts). Without it (a small region: the space before a partition) the
  // scan reads into the spare buffer, in smaller steps: a first touch of a page costs ~16 us
  // on a VM, and 4 MiB of them cost more than the reads (~16 ms against ~1 ms for 256 KiB).
  const step = ahead ? SCAN_CHUNK : OWN_READ_CHUNK;
  const buffer = lease?.buffers[0] ?? Buffer.allocUnsafe(step + HEAD);
  const chunkRuns = (at: number) => streamSpanToRuns(region.runs, starts, at, Math.min(SCAN_CHUNK + HEAD, total - at));
  // A chunk that lies in a hole of a sparse image is zeros: no file starts there (candidatesAt
  // offers no carver a start of zeros, test/carvers/registry.test.ts) and no old folder lies
  // there, so it is neither read nor looked at. A walk that runs into one reads it as usual.
  const inHole = holeTest(mergeSpans(streamSpans(region.runs, starts, disk.holes?.() ?? [])));
  let bytesInHoles = 0;
  /** Stream offset of the first chunk not yet asked of the reading thread. */
  let askedTo = 0;
  const askUpTo = (last: number) => {
    for (; askedTo <= last && askedTo < total; askedTo += SCAN_CHUNK) {
      if (!inHole(askedTo, Math.min(askedTo + SCAN_CHUNK + HEAD, total))) ahead!.request(askedTo, chunkRuns(askedTo));
    }
  };
  try {
    if (ahead) askUpTo(0);
    for (let chunkStart = 0; chunkStart < total; chunkStart += step) {
      if (inHole(chunkStart, Math.min(chunkStart + step + HEAD, total))) {
        const end = Math.min(chunkStart + step, total);
        bytesInHoles += end - chunkStart;
        if (ahead && disk.directFile?.()) askUpTo(chunkStart + (READ_AHEAD_SLOTS - 1) * SCAN_CHUNK);
        options.onProgress?.(end, files.length);
        continue;
      }
      const chunk = ahead?.take(chunkStart) ?? buffer.subarray(0, readIntoAny(stream, buffer.subarray(0, Math.min(step + HEAD, total - chunkStart)), chunkStart));
      // The chunks ahead are read while this one is worked on (unless unreadable sectors turned up: then read with care).
      // Three ahead: the work on a chunk varies (a photo's scan data is searched, a video's is
      // jumped over), and the thread reads on through the quick ones without waiting to be woken.
      if (ahead && disk.directFile?.()) askUpTo(chunkStart + (READ_AHEAD_SLOTS - 1) * SCAN_CHUNK);
      const nextAt = chunkStart + step;
      view.show(chunkStart, chunk, ahead ? () => ahead.peek(nextAt) : undefined);
      const chunkEnd = Math.min(chunkStart + step, total);
      while (firstRun < region.runs.length && starts[firstRun] + region.runs[firstRun].length <= chunkStart) firstRun++;
      for (let runIdx = firstRun; runIdx < region.runs.length && starts[runIdx] < chunkEnd; runIdx++) {
        const runStart = starts[runIdx];
        const runEnd = runStart + region.runs[runIdx].length;
        // First aligned position inside this run that falls in this chunk.
        const abs0 = region.runs[runIdx].offset;
        const skew = (((region.alignBase - abs0) % g) + g) % g;
        let v = runStart + skew;
        if (v < chunkStart) v += Math.ceil((chunkStart - v) / g) * g;
        for (; v < Math.min(runEnd, chunkEnd); v += g) {
          const at = v - chunkStart;
          if (options.onHead) options.onHead(abs0 + (v - runStart), chunk, at);
          if (v < resumeAt) continue;
          const bucket = candidatesAt(table, chunk, at);
          if (bucket) tryStart(v, abs0 + (v - runStart), chunk.subarray(at, at + HEAD), bucket);
        }
      }
      options.onProgress?.(chunkEnd, files.length);
    }
  } finally {
    ahead?.close();
    lease?.release();
  }
  return { files, rejected, bytesScanned: total, bytesInHoles: bytesInHoles || undefined };
}

/** A read-ahead thread for a scan of `total` bytes of `disk`, when plain reads of a file can serve it. */
function startReadAhead(disk: Reader, total: number, slots?: Buffer[]): ReadAheadOnDisk | undefined {
  const direct = total >= READ_AHEAD_MIN ? disk.directFile?.() : undefined;
  if (!direct) return undefined;
  const ahead = new ReadAhead(direct.path, SCAN_CHUNK + HEAD, slots ?? READ_AHEAD_SLOTS);
  return {
    request: (key, runs) => ahead.request(key, runs.map((r) => ({ offset: r.offset + direct.offset, length: r.length }))),
    take: (key) => ahead.take(key),
    peek: (key) => ahead.peek(key),
    close: () => ahead.close(),
  };
}

interface ReadAheadOnDisk {
  request(key: number, runs: readonly ByteRun[]): void;
  take(key: number): Buffer | null;
  peek(key: number): Buffer | null;
  close(): void;
}

/**
 * The region's stream, with the scan's current chunk in front of it: reads inside the chunk
 * are views of it (no copy), the rest go to the stream. The views are only valid until the
 * scan moves on, which is after the walk that asked for them has returned.
 */
class ChunkView implements Reader {
  readonly size: number;
  private start = 0;
  private chunk: Buffer = Buffer.alloc(0);
  /** The next chunk, which a read-ahead thread may be reading now: asked for only when a walk reaches it. */
  private nextChunk?: () => Buffer | null;

  constructor(private readonly stream: Reader) {
    this.size = stream.size;
  }

  show(start: number, chunk: Buffer, next?: () => Buffer | null): void {
    this.start = start;
    this.chunk = chunk;
    this.nextChunk = next;
  }

  read(offset: number, length: number): Buffer {
    const at = offset - this.start;
    if (at >= 0 && at + length <= this.chunk.length) return this.chunk.subarray(at, at + length);
    const next = at >= 0 && at < SCAN_CHUNK + this.chunk.length ? this.nextChunk?.() : null;
    if (next) {
      // The chunks overlap by HEAD bytes: the next one starts SCAN_CHUNK after this one.
      const inNext = at - SCAN_CHUNK;
      const want = Math.min(length, this.size - offset);
      if (inNext >= 0 && inNext + want <= next.length) return next.subarray(inNext, inNext + want);
      if (inNext < 0 && at + want <= SCAN_CHUNK + next.length) return Buffer.concat([this.chunk.subarray(at, SCAN_CHUNK), next.subarray(0, at + want - SCAN_CHUNK)]);
    }
    return this.stream.read(offset, length);
  }

  readInto(target: Buffer, offset: number): number {
    const at = offset - this.start;
    if (at >= 0 && at + target.length <= this.chunk.length) return this.chunk.copy(target, 0, at, at + target.length);
    return readIntoAny(this.stream, target, offset);
  }

  readSome(offset: number, length: number): Buffer {
    const at = offset - this.start;
    if (at < 0 || at + length <= this.chunk.length) return this.read(offset, length);
    // The rest of this chunk, rather than a copy of it joined to the next chunk's start.
    if (at + MIN_SOME <= this.chunk.length) return this.chunk.subarray(at);
    // In the next chunk (a walk that went on past this one): the rest of that, rather than a
    // read of the card in this thread, of bytes the reading thread has read already or will.
    const inNext = at - SCAN_CHUNK;
    const next = inNext >= 0 ? this.nextChunk?.() : null;
    if (next && inNext + MIN_SOME <= next.length) return next.subarray(inNext, Math.min(next.length, inNext + length));
    return this.read(offset, length);
  }
}

const MIN_SOME = 64;

/** Index of the run whose stream span holds stream offset v. */
function runAt(starts: readonly number[], v: number): number {
  let lo = 0;
  let hi = starts.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (starts[mid] <= v) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

/** Sorted spans with the touching ones joined. */
function mergeSpans(spans: readonly { start: number; end: number }[]): { start: number; end: number }[] {
  const out: { start: number; end: number }[] = [];
  for (const s of spans) {
    const last = out[out.length - 1];
    if (last && s.start <= last.end) last.end = Math.max(last.end, s.end);
    else out.push({ ...s });
  }
  return out;
}

/** Does [from, to) lie inside one of these sorted, disjoint spans? */
function holeTest(spans: readonly { start: number; end: number }[]): (from: number, to: number) => boolean {
  if (spans.length === 0) return () => false;
  return (from, to) => {
    let lo = 0;
    let hi = spans.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (spans[mid].end <= from) lo = mid + 1;
      else hi = mid;
    }
    return lo < spans.length && spans[lo].start <= from && to <= spans[lo].end;
  };
}

/** Stream positions [start, end) of absolute ranges that lie inside the region's runs. */
function streamSpans(runs: readonly ByteRun[], starts: readonly number[], ranges: readonly ByteRun[]): { start: number; end: number }[] {
  const out: { start: number; end: number }[] = [];
  for (const r of ranges) {
    // Runs are in source order: start at the first one that ends after the range begins.
    let lo = 0;
    let hi = runs.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (runs[mid].offset + runs[mid].length <= r.offset) lo = mid + 1;
      else hi = mid;
    }
    for (let i = lo; i < runs.length && runs[i].offset < r.offset + r.length; i++) {
      const from = Math.max(r.offset, runs[i].offset);
      const to = Math.min(r.offset + r.length, runs[i].offset + runs[i].length);
      if (from < to) out.push({ start: starts[i] + (from - runs[i].offset), end: starts[i] + (to - runs[i].offset) });
    }
  }
  return out.sort((a, b) => a.start - b.start);
}

function safeWalk(carver: Carver, stream: Reader, start: number, maxLength: number): WalkResult {
  try {
    return carver.walk(stream, start, { maxLength });
  } catch (err) {
    return { ok: false, reason: `walker error: ${(err as Error).message}` };
  }
}

function carvedRecord(volume: number, runs: ByteRun[], result: Extract<WalkResult, { ok: true }>): RecoveredFile {
  const offset = runs[0]?.offset ?? 0;
  const notes = [...(result.notes ?? [])];
  if (result.trailer) notes.push(`${result.trailer.length} bytes after the end may belong to the file (${result.trailer.kind})`);
  if (result.meta?.date) notes.push(`date in the file: ${result.meta.date}`);
  const mtime = result.meta?.date ? parseExifDate(result.meta.date) : undefined;
  return {
    volume,
    provenance: 'carved',
    name: `f${offset}.${result.ext}`,
    folder: [result.format],
    runs,
    size: result.length,
    format: result.format,
    camera: result.meta?.camera,
    mtime,
    basis: runs.length > 1 ? 'reassembled' : 'structure',
    status: 'ok',
    validation: { ok: true, by: result.format },
    notes: runs.length > 1 ? [...notes, 'reassembled by skipping clusters owned by other files (exclusion)'] : notes,
  };
}

/** '2024:05:01 10:20:30' (EXIF) or ISO text → a local Date, when it makes sense. */
export function parseExifDate(text: string): Date | undefined {
  const m = /^(\d{4})[:-](\d{2})[:-](\d{2})[ T](\d{2}):(\d{2}):(\d{2})/.exec(text);
  if (!m) return undefined;
  const d = new Date(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6]);
  return Number.isNaN(d.getTime()) || +m[1] < 1990 ? undefined : d;
}
