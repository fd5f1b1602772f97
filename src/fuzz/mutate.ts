/**
 * Mutations of card images for the fuzzer (`npm run fuzz`) and its seeded subset in
 * `npm test`: bit flips, byte runs, hostile integers, copied blocks and truncations, aimed
 * where the structures live (partition tables, boot sectors, FATs, directories, file headers).
 * Everything is a pure function of (image, targets, seed): a failing case is re-made from its seed.
 */
import type { Reader } from '../reader.js';
import { runPipeline } from '../pipeline.js';

/** xorshift32: small, fast, the same numbers everywhere. */
export function rng(seed: number): () => number {
  let x = seed >>> 0 || 0x9e3779b9;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 0x100000000;
  };
}

/** A case's own seed from the run's seed and the case number (splitmix-style mixing). */
export function caseSeed(seed: number, index: number): number {
  let z = (Math.imul(seed >>> 0, 0x9e3779b1) + Math.imul(index + 1, 0x85ebca6b)) >>> 0;
  z = Math.imul(z ^ (z >>> 16), 0x7feb352d) >>> 0;
  z = Math.imul(z ^ (z >>> 15), 0x846ca68b) >>> 0;
  return (z ^ (z >>> 16)) >>> 0 || 1;
}

export interface Target {
  /** What lives there: 'boot', 'fat', 'dir', 'file-head', ... */
  name: string;
  offset: number;
  length: number;
  weight: number;
}

const WEIGHTS: Record<string, number> = {
  table: 2, gpt: 2, 'gpt-backup': 1, boot: 4, 'backup-boot': 1, fat: 4, root: 3, dir: 4,
  'file-head': 3, 'file-body': 1, meta: 2, any: 1,
};

/**
 * Where the structures of a clean image are, from the pipeline's own analysis: what the
 * mutations aim at. Computed once per image.
 */
export function structureTargets(disk: Reader): Target[] {
  const size = disk.size;
  const out: Target[] = [];
  const add = (name: string, offset: number, length: number) => {
    const start = Math.max(0, Math.min(size, offset));
    const len = Math.max(0, Math.min(size - start, length));
    if (len > 0) out.push({ name, offset: start, length: len, weight: WEIGHTS[name] ?? 1 });
  };
  const result = runPipeline(disk);
  const { layout, volumes } = result.analysis;
  if (layout.scheme !== 'none') add('table', 0, 512);
  if (layout.scheme === 'gpt') {
    add('gpt', 512, 512 + 128 * 128);
    add('gpt-backup', size - 33 * 512, 33 * 512);
  }
  for (const va of volumes) {
    const v = va.volume;
    const fs = va.fs;
    if (!fs) {
      add('boot', v.offset, 512);
      continue;
    }
    const g = fs.geometry;
    const exfat = fs.type === 'exFAT';
    add('boot', v.offset, exfat ? 12 * g.bytesPerSector : g.bytesPerSector);
    if (fs.type === 'FAT32') add('backup-boot', v.offset + 6 * g.bytesPerSector, g.bytesPerSector);
    if (exfat) add('backup-boot', v.offset + 12 * g.bytesPerSector, 12 * g.bytesPerSector);
    add('fat', v.offset + g.fatOffset, Math.min(g.fatSize * Math.max(1, g.fatCount), 512 * 1024));
    add('meta', v.offset, g.dataOffset + 64 * 1024);
    const rootDirStart = g.fatOffset + g.fatCount * g.fatSize;
    if (!g.rootCluster && g.dataOffset > rootDirStart) add('root', v.offset + rootDirStart, g.dataOffset - rootDirStart);
    if (g.rootCluster) add('root', v.offset + fs.clusterOffset(g.rootCluster), g.clusterSize);
    for (const e of fs.entries.filter((x) => x.isDirectory)) {
      for (const x of e.extents.slice(0, 4)) add('dir', v.offset + fs.clusterOffset(x.first), Math.min(x.count * g.clusterSize, 64 * 1024));
    }
  }
  for (const f of result.files) {
    const first = f.runs[0];
    if (!first) continue;
    add('file-head', first.offset, Math.min(4096, first.length));
    for (const r of f.runs) add('file-body', r.offset, r.length);
  }
  add('any', 0, size);
  return out;
}

export interface Mutation {
  /** The mutated image: the buffer given to mutate(), or a prefix of it (truncation). */
  bytes: Buffer;
  /** What was done, in words: saved with a failing case. */
  ops: string[];
  /** Put the buffer back as it was. */
  undo(): void;
}

const INTERESTING = [
  0, 1, 2, 3, 7, 0x7f, 0x80, 0xff, 0x100, 0x1ff, 0x200, 0x7fff, 0x8000, 0xffff, 0x10000,
  0x0ffffff7, 0x0ffffff8, 0x0fffffff, 0x7fffffff, 0x80000000, 0xfffffff7, 0xffffffff,
];

/**
 * Apply 1–4 random operations to `image` in place (with an undo log), aimed at `targets`.
 * Deterministic in (image, targets, seed).
 */
export function mutate(image: Buffer, targets: readonly Target[], seed: number): Mutation {
  const random = rng(seed);
  const int = (n: number) => Math.floor(random() * n);
  const saved: { offset: number; data: Buffer }[] = [];
  const save = (offset: number, length: number) => {
    const end = Math.min(image.length, offset + length);
    if (end > offset) saved.push({ offset, data: Buffer.from(image.subarray(offset, end)) });
  };
  const totalWeight = targets.reduce((n, t) => n + t.weight, 0);
  const pick = (): Target => {
    let w = random() * totalWeight;
    for (const t of targets) {
      w -= t.weight;
      if (w < 0) return t;
    }
    return targets[targets.length - 1];
  };
  /** Small lengths far more often than large ones. */
  const smallLength = (max: number) => Math.max(1, Math.min(max, Math.floor(2 ** (random() * Math.log2(max)))));
  const ops: string[] = [];
  let bytes = image;
  const count = 1 + int(random() < 0.6 ? 1 : 4);
  for (let k = 0; k < count; k++) {
    const t = pick();
    const at = t.offset + int(t.length);
    const kind = random();
    if (kind < 0.3) {
      const flips = smallLength(32);
      for (let i = 0; i < flips; i++) {
        const p = t.offset + int(t.length);
        const bit = int(8);
        save(p, 1);
        image[p] ^= 1 << bit;
      }
      ops.push(`flip ${flips} bit(s) in ${t.name}@${t.offset}+${t.length}`);
    } else if (kind < 0.5) {
      const len = Math.min(smallLength(4096), image.length - at);
      const style = int(4);
      save(at, len);
      if (style === 0) image.fill(0, at, at + len);
      else if (style === 1) image.fill(0xff, at, at + len);
      else if (style === 2) image.fill(int(256), at, at + len);
      else for (let i = 0; i < len; i++) image[at + i] = int(256);
      ops.push(`fill ${len} byte(s) at ${at} (${t.name}) with ${['zeros', '0xff', 'one byte', 'random bytes'][style]}`);
    } else if (kind < 0.8) {
      const n = 1 + int(8);
      for (let i = 0; i < n; i++) {
        const width = [1, 2, 4][int(3)];
        const p = (t.offset + int(t.length)) & ~(width - 1);
        if (p + width > image.length) continue;
        let v = random() < 0.7 ? INTERESTING[int(INTERESTING.length)] : random() < 0.5 ? int(65536) : int(0x100000000);
        if (random() < 0.2) v = (v + int(3) - 1) >>> 0;
        save(p, width);
        if (width === 1) image[p] = v & 0xff;
        else if (width === 2) image.writeUInt16LE(v & 0xffff, p);
        else image.writeUInt32LE(v >>> 0, p);
        ops.push(`write ${width}-byte ${width === 4 ? v >>> 0 : v & (width === 1 ? 0xff : 0xffff)} at ${p} (${t.name})`);
      }
    } else if (kind < 0.92) {
      const from = pick();
      const len = Math.min(smallLength(4096), from.length, image.length - at);
      const src = from.offset + int(Math.max(1, from.length - len));
      save(at, len);
      image.copy(image, at, src, src + len);
      ops.push(`copy ${len} byte(s) from ${src} (${from.name}) to ${at} (${t.name})`);
    } else {
      // Truncate: at a structure's edge or anywhere.
      const cut = random() < 0.5 ? Math.max(1, at) : Math.max(1, int(image.length));
      bytes = bytes.subarray(0, Math.min(bytes.length, cut));
      ops.push(`truncate to ${bytes.length} bytes`);
    }
  }
  return {
    bytes,
    ops,
    undo() {
      for (let i = saved.length - 1; i >= 0; i--) saved[i].data.copy(image, saved[i].offset);
      saved.length = 0;
    },
  };
}
