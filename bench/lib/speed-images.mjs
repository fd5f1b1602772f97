// Card images for the speed benchmark (bench/speed.mjs): big cards full of real camera files,
// written with the real tools, then partly deleted and quick-formatted. Images are cached: a
// finished image has a sidecar `<image>.json` (what is on it, how it was made); without the
// sidecar (or with --rebuild) the image is built again.
//
// Reused from the recovery benchmark: the corpus (lib/corpus.mjs: the real samples, generated
// JPEGs, camera names), the exFAT/FAT geometry readers and releaseStale (lib/images.mjs), run().
import fs from 'node:fs';
import path from 'node:path';
import { buildCorpus, nameFiles } from './corpus.mjs';
import { exfatGeometry, fatGeometry, releaseStale } from './images.mjs';
import { run, log, MiB } from './util.mjs';

export const GiB = 1024 * MiB;
const PART_START_SECTOR = 8192; // 4 MiB, like cards formatted by cameras / the SD Formatter
const MT_ENV = { MTOOLS_SKIP_CHECK: '1' };
const FILL = 0.97; // fraction of the partition the files may take ("full" card)
const DELETE_EVERY = 10; // ~10% of the files are deleted before the quick format

const VIDEO = new Set(['mov', 'mp4', 'avi', 'thm']);

/**
 * Shot pools (each shot: { files: [entry] }, entry = { src, kind, size, sha256, ... }) built
 * from the recovery benchmark's corpus. Only real camera files for the video card; the JPEG
 * card also takes the ImageMagick-generated JPEGs (plasma + EXIF thumbnail).
 */
export function shotPools({ samples, workDir }) {
  const all = buildCorpus({ samples, workDir, quick: false });
  const real = all.filter((s) => s.files.every((f) => !f.origin.startsWith('generated') && !f.origin.startsWith('structure/')));
  const videos = real.filter((s) => s.files.some((f) => VIDEO.has(f.kind)));
  const photos = real.filter((s) => !s.files.some((f) => VIDEO.has(f.kind)));
  const jpegs = all.filter((s) => s.files.every((f) => f.kind === 'jpeg'));
  return {
    // a camera card that shot video: every video shot 3 times per cycle, every photo once
    video: [...videos, ...videos, ...videos, ...photos],
    jpeg: jpegs,
    // the sparse card: a couple of dozen shots of everything real
    few: [...videos, ...photos],
  };
}

/**
 * Cycle the shots (reshuffled every cycle, camera numbering continues: IMG_0001.JPG,
 * MVI_0002.MOV, ...) until `bytes` would be exceeded (or `maxFiles` reached).
 */
export function cycleFiles(shots, bytes, { seed = 1, maxFiles = Infinity } = {}) {
  const out = [];
  let sum = 0;
  for (let cycle = 0; ; cycle++) {
    const named = nameFiles(shots, seed + cycle, out.length ? out[out.length - 1].number + 1 : 1);
    let added = 0;
    for (const f of named) {
      if (sum + f.size > bytes || out.length >= maxFiles) return out;
      const number = Number(f.name.match(/_(\d+)\./)[1]);
      out.push({ ...f, number, shot: undefined });
      sum += f.size;
      added++;
    }
    if (!added) return out;
  }
}

function blankImage(image, size) {
  fs.rmSync(image, { force: true });
  fs.closeSync(fs.openSync(image, 'w'));
  fs.truncateSync(image, size); // sparse, zero-filled
}

function partitionTable(image, type) {
  run('sfdisk', ['-q', image], { input: `label: dos\nstart=${PART_START_SECTOR}, type=${type}\n` });
}

const dirsOf = (files) => [...new Set(files.map((f) => path.posix.dirname(f.name)))].sort();
const sum = (files) => files.reduce((s, f) => s + f.size, 0);

/**
 * MBR + exFAT at 4 MiB: losetup, mkfs.exfat, mount.exfat-fuse, copy the files (cycled from
 * `shots` until the partition is FILL full, or `maxFiles`), delete every DELETE_EVERY-th file
 * (if `deleteSome`), umount, then mkfs.exfat again (if `quickFormat`).
 */
function buildExfat({ image, size, shots, workDir, deleteSome, quickFormat, maxFiles, seed }) {
  blankImage(image, size);
  partitionTable(image, '7');
  const offset = PART_START_SECTOR * 512;
  const files = cycleFiles(shots, (size - offset) * FILL, { seed, maxFiles });
  const steps = ['truncate (sparse)', 'sfdisk: one exFAT (0x07) partition at 4 MiB'];
  const loop = run('losetup', ['--find', '--show', '--offset', String(offset),
    '--sizelimit', String(size - offset), image]).stdout.trim();
  const mnt = path.join(workDir, 'mnt-exfat');
  fs.mkdirSync(mnt, { recursive: true });
  let mounted = false;
  try {
    const mkfs = ['-L', 'CARD', loop];
    run('mkfs.exfat', mkfs);
    steps.push(`losetup --offset ${offset}; mkfs.exfat -L CARD`);
    run('mount.exfat-fuse', [loop, mnt]);
    mounted = true;
    for (const d of dirsOf(files)) fs.mkdirSync(path.join(mnt, d), { recursive: true });
    let written = 0;
    for (const [i, f] of files.entries()) {
      try {
        fs.copyFileSync(f.src, path.join(mnt, f.name));
      } catch (e) {
        if (e.code !== 'ENOSPC') throw e;
        fs.rmSync(path.join(mnt, f.name), { force: true });
        files.length = i; // card full: stop here
        break;
      }
      written += f.size;
      if (i % 500 === 499) log(`  ${i + 1} files, ${(written / GiB).toFixed(2)} GiB`);
    }
    steps.push(`mount.exfat-fuse; copy ${files.length} files (${(sum(files) / GiB).toFixed(2)} GiB)`);
    if (deleteSome) {
      const doomed = files.filter((_, i) => i % DELETE_EVERY === DELETE_EVERY - 1);
      for (const f of doomed) {
        fs.rmSync(path.join(mnt, f.name));
        f.deleted = true;
      }
      steps.push(`rm ${doomed.length} files (every ${DELETE_EVERY}th)`);
    }
    run('umount', [mnt]);
    mounted = false;
    const geo = exfatGeometry(image, offset);
    if (quickFormat) {
      run('mkfs.exfat', mkfs); // exfatprogs formats quickly: new bitmap, FAT, up-case table, root only
      steps.push('umount; mkfs.exfat again (quick format)');
    } else steps.push('umount');
    return { fs: 'exfat', partitionOffset: offset, ...geo, files, steps };
  } finally {
    if (mounted) run('umount', [mnt], { check: false });
    run('losetup', ['-d', loop], { check: false });
  }
}

/**
 * MBR + FAT32 at 4 MiB (mkfs.fat's default cluster size: 4 KiB up to 8 GiB; 32 KiB clusters
 * would leave a 512 MiB or 2 GiB volume too few clusters for FAT32): mkfs.fat, files copied with mcopy (in batches, from a staging folder of symlinks named like
 * the camera names: the samples are only read), every DELETE_EVERY-th deleted with mdel, then
 * mkfs.fat again with the same parameters (quick format: boot sector, FATs, root directory).
 */
function buildFat32({ image, size, shots, workDir, seed }) {
  blankImage(image, size);
  partitionTable(image, 'c');
  const offset = PART_START_SECTOR * 512;
  const partSectors = size / 512 - PART_START_SECTOR;
  const mkfs = ['-F', '32', `--offset=${PART_START_SECTOR}`, '-h', String(PART_START_SECTOR),
    '-n', 'CARD', '-i', '0CA4D032', image, String(partSectors / 2)];
  run('mkfs.fat', mkfs);
  const spec = `${image}@@${offset}`;
  const files = cycleFiles(shots, (size - offset) * FILL, { seed });
  const stage = path.join(workDir, 'stage');
  fs.rmSync(stage, { recursive: true, force: true });
  try {
    for (const d of dirsOf(files)) {
      run('mmd', ['-i', spec, `::${d.split('/')[0]}`], { env: MT_ENV, check: false });
      run('mmd', ['-i', spec, `::${d}`], { env: MT_ENV });
      const dir = path.join(stage, d);
      fs.mkdirSync(dir, { recursive: true });
      const inDir = files.filter((f) => path.posix.dirname(f.name) === d);
      for (const f of inDir) fs.symlinkSync(f.src, path.join(stage, f.name));
      for (let i = 0; i < inDir.length; i += 200) {
        const batch = inDir.slice(i, i + 200).map((f) => path.join(stage, f.name));
        run('mcopy', ['-i', spec, ...batch, `::${d}/`], { env: MT_ENV });
        log(`  ${Math.min(i + 200, inDir.length)} / ${inDir.length} files in ${d}`);
      }
    }
  } finally {
    fs.rmSync(stage, { recursive: true, force: true });
  }
  const doomed = files.filter((_, i) => i % DELETE_EVERY === DELETE_EVERY - 1);
  for (let i = 0; i < doomed.length; i += 200) {
    run('mdel', ['-i', spec, ...doomed.slice(i, i + 200).map((f) => `::${f.name}`)], { env: MT_ENV });
  }
  for (const f of doomed) f.deleted = true;
  const geo = fatGeometry(image, offset);
  run('mkfs.fat', mkfs); // quick format: data area untouched
  return {
    fs: 'fat32', partitionOffset: offset, ...geo, files,
    steps: ['truncate (sparse)', 'sfdisk: one FAT32 (0x0c) partition at 4 MiB', `mkfs.fat ${mkfs.slice(0, -2).join(' ')}`,
      `mcopy ${files.length} files (${(sum(files) / GiB).toFixed(2)} GiB)`, `mdel ${doomed.length} files (every ${DELETE_EVERY}th)`,
      'mkfs.fat again (quick format)'],
  };
}

/** The three images; sizes for the full run and for --quick. */
export const SPEED_IMAGES = [
  {
    key: 'video', label: 'exFAT video+photo card, 10% deleted, quick-formatted',
    size: { full: 4 * GiB, quick: 1 * GiB }, pool: 'video',
    build: (o) => buildExfat({ ...o, deleteSome: true, quickFormat: true, seed: 501 }),
    photorec: 'always',
    dense: true,
  },
  {
    key: 'jpeg', label: 'FAT32 JPEG card, 10% deleted, quick-formatted',
    size: { full: 2 * GiB, quick: 512 * MiB }, pool: 'jpeg',
    build: (o) => buildFat32({ ...o, seed: 502 }),
    photorec: 'always',
    dense: true,
  },
  {
    key: 'sparse', label: 'sparse exFAT card, a few files, mostly zeros',
    size: { full: 64 * GiB, quick: 8 * GiB }, pool: 'few',
    build: (o) => buildExfat({ ...o, deleteSome: false, quickFormat: false, maxFiles: 24, seed: 503 }),
    photorec: 'optional', // run with a 5 min limit
  },
];

/**
 * Write the holes of an image out as zeros. A card's dump (`dd` of the device) has none, and
 * cardrescue does not read the holes of a sparse image (src/source/holes.ts): the camera cards,
 * whose free 3% `truncate` left as holes, are made dense so that the raw read and the tools
 * read the same bytes. Only the sparse card keeps its holes. Returns whether it wrote any.
 */
function densify(image) {
  const st = fs.statSync(image);
  if (st.blocks * 512 >= st.size) return false;
  const tmp = `${image}.dense`;
  run('cp', ['--sparse=never', image, tmp]);
  fs.renameSync(tmp, image);
  return true;
}

const DENSIFY_STEP = 'cp --sparse=never (the holes written out as zeros, as in a dump of a card)';

export const imageName = (def, size) => `${def.key}-${size >= GiB ? `${size / GiB}g` : `${size / MiB}m`}.img`;

/**
 * The image for `def` at `size` under `dir`, built unless a finished one (with its sidecar) is
 * there and `rebuild` is false. Returns the sidecar: { image, size, fs, files, steps, ... }.
 */
export function ensureImage(def, { dir, size, rebuild, pools }) {
  const image = path.join(dir, imageName(def, size));
  const meta = `${image}.json`;
  if (!rebuild && fs.existsSync(image) && fs.existsSync(meta)) {
    const m = JSON.parse(fs.readFileSync(meta, 'utf8'));
    if (m.size === size && fs.statSync(image).size === size) {
      log(`${path.basename(image)}: cached (built ${m.built}; --rebuild to build again)`);
      // Built before the camera cards were made dense (2026-12-06): made so now, once.
      if (def.dense && densify(image)) {
        m.steps.push(DENSIFY_STEP);
        m.allocatedBytes = fs.statSync(image).blocks * 512;
        fs.writeFileSync(meta, JSON.stringify(m, null, 1) + '\n');
        log(`${path.basename(image)}: holes written out as zeros`);
      }
      return { ...m, cached: true };
    }
  }
  fs.rmSync(meta, { force: true });
  const workDir = path.join(dir, `build-${def.key}`);
  releaseStale(workDir);
  fs.mkdirSync(workDir, { recursive: true });
  log(`${path.basename(image)}: building (${def.label})`);
  const t0 = Date.now();
  const r = def.build({ image, size, shots: pools[def.pool], workDir });
  fs.rmSync(workDir, { recursive: true, force: true });
  if (def.dense && densify(image)) r.steps.push(DENSIFY_STEP);
  const kinds = {};
  for (const f of r.files) {
    const k = (kinds[f.kind] ??= { files: 0, bytes: 0, deleted: 0 });
    k.files++;
    k.bytes += f.size;
    if (f.deleted) k.deleted++;
  }
  const m = {
    image, size, label: def.label, built: new Date().toISOString(), buildSeconds: Math.round((Date.now() - t0) / 1000),
    fs: r.fs, partitionOffset: r.partitionOffset, dataStart: r.dataStart, clusterSize: r.clusterSize, steps: r.steps,
    files: r.files.length, bytes: sum(r.files), deleted: r.files.filter((f) => f.deleted).length,
    deletedBytes: sum(r.files.filter((f) => f.deleted)), kinds,
    allocatedBytes: fs.statSync(image).blocks * 512,
    list: r.files.map((f) => ({ name: f.name, origin: f.origin, size: f.size, deleted: !!f.deleted })),
  };
  fs.writeFileSync(meta, JSON.stringify(m, null, 1) + '\n');
  log(`${path.basename(image)}: built in ${m.buildSeconds} s: ${m.files} files, ${(m.bytes / GiB).toFixed(2)} GiB, ${m.deleted} deleted`);
  return m;
}

export { releaseStale };
