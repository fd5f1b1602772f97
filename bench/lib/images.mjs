// Scenario builders: make card images with the real tools (mkfs.fat + mtools, sfdisk,
// mkfs.exfat + exfat-fuse on a loop device, dd), then damage them the way users do.
// Each builder returns { image, partitionOffset, dataStart, clusterSize, files, steps }.
import fs from 'node:fs';
import path from 'node:path';
import { run, MiB } from './util.mjs';
import { writeFragmentedCard, mtoolsCard, mountCard } from './fragmented.mjs';

const PART_START_SECTOR = 8192; // 4 MiB, like SD cards formatted by cameras / the SD Formatter
const MT_ENV = { MTOOLS_SKIP_CHECK: '1' };

function blankImage(image, size) {
  fs.rmSync(image, { force: true });
  fs.closeSync(fs.openSync(image, 'w'));
  fs.truncateSync(image, size); // sparse, zero-filled
}

function readAt(image, offset, length) {
  const fd = fs.openSync(image, 'r');
  try {
    const buf = Buffer.alloc(length);
    fs.readSync(fd, buf, 0, length, offset);
    return buf;
  } finally {
    fs.closeSync(fd);
  }
}

/** FAT12/16/32 geometry from the boot sector at `offset`. */
export function fatGeometry(image, offset) {
  const b = readAt(image, offset, 512);
  const bps = b.readUInt16LE(11);
  const spc = b[13];
  const reserved = b.readUInt16LE(14);
  const fats = b[16];
  const rootEntries = b.readUInt16LE(17);
  const fatSectors = b.readUInt16LE(22) || b.readUInt32LE(36);
  const rootSectors = Math.ceil((rootEntries * 32) / bps);
  return {
    bytesPerSector: bps,
    reserved,
    fats,
    fatSectors,
    clusterSize: bps * spc,
    dataStart: offset + (reserved + fats * fatSectors + rootSectors) * bps,
  };
}

/** exFAT geometry from the boot sector at `offset`. */
export function exfatGeometry(image, offset) {
  const b = readAt(image, offset, 512);
  if (b.toString('latin1', 3, 11) !== 'EXFAT   ') throw new Error('no exFAT boot sector');
  const bps = 1 << b[0x6c];
  return { clusterSize: bps << b[0x6d], dataStart: offset + b.readUInt32LE(0x58) * bps };
}

function partitionTable(image, type) {
  run('sfdisk', ['-q', image], { input: `label: dos\nstart=${PART_START_SECTOR}, type=${type}\n` });
}

const totalSize = (files) => files.reduce((s, f) => s + f.size, 0);

const dirsOf = (files) => {
  const dirs = new Set();
  for (const f of files) {
    const parts = f.name.split('/').slice(0, -1);
    parts.forEach((_, i) => dirs.add(parts.slice(0, i + 1).join('/')));
  }
  return [...dirs].sort();
};

/** Write files (in order) with mtools into the FAT file system at `spec` (image[@@offset]). */
function mtoolsWrite(spec, files) {
  // (a directory left from an earlier write makes mmd fail; mcopy would then fail if it were missing)
  for (const d of dirsOf(files)) run('mmd', ['-i', spec, `::${d}`], { env: MT_ENV, check: false });
  for (const f of files) run('mcopy', ['-m', '-i', spec, f.src, `::${f.name}`], { env: MT_ENV });
}

/** Delete every third shot (shot % 3 == 1, ~1/3 of the files) with mdel; marks them deleted. */
function mtoolsDeleteSome(spec, files) {
  const doomed = files.filter((f) => f.shot % 3 === 1);
  for (const f of doomed) {
    run('mdel', ['-i', spec, `::${f.name}`], { env: MT_ENV });
    f.deleted = true;
  }
  return doomed.length;
}

// a. FAT16 superfloppy, files written, then quick-formatted with the same mkfs.fat parameters.
export function fat16SuperfloppyQuickformat({ image, size, files }) {
  blankImage(image, size);
  const mkfs = ['-F', '16', '--mbr=n', '-n', 'CARD', '-i', '0CA4D016', image];
  run('mkfs.fat', mkfs);
  mtoolsWrite(image, files);
  const geo = fatGeometry(image, 0);
  run('mkfs.fat', mkfs); // quick format: new boot sector, FATs and root directory; data area untouched
  return {
    image, partitionOffset: 0, ...geo, files,
    steps: [`mkfs.fat ${mkfs.slice(0, -1).join(' ')}`, `mcopy ${files.length} files`, 'mkfs.fat again (quick format)'],
  };
}

function fat32Mbr({ image, size, files }) {
  blankImage(image, size);
  partitionTable(image, 'c');
  const partSectors = size / 512 - PART_START_SECTOR;
  const mkfs = ['-F', '32', `--offset=${PART_START_SECTOR}`, '-h', String(PART_START_SECTOR),
    '-n', 'CARD', '-i', '0CA4D032', image, String(partSectors / 2)];
  run('mkfs.fat', mkfs);
  const spec = `${image}@@${PART_START_SECTOR * 512}`;
  mtoolsWrite(spec, files);
  const deleted = mtoolsDeleteSome(spec, files);
  const geo = fatGeometry(image, PART_START_SECTOR * 512);
  return {
    image, partitionOffset: PART_START_SECTOR * 512, ...geo, files,
    steps: ['sfdisk: one FAT32 (0x0c) partition at 4 MiB', `mkfs.fat ${mkfs.slice(0, -2).join(' ')}`,
      `mcopy ${files.length} files`, `mdel ${deleted} files (every third shot)`],
  };
}

// b. MBR + FAT32 at 4 MiB, files written, ~1/3 deleted with mdel.
export const fat32MbrDeleted = fat32Mbr;

// d. Same as (b), then the file system is wiped: MBR, FAT32 reserved area (boot sector, FSInfo,
//    backup boot sector at 6, backup FSInfo) and both FATs zeroed with dd.
export function zeroedFs(opts) {
  const sc = fat32Mbr(opts);
  const g = sc; // fatGeometry was taken before damage
  const p = PART_START_SECTOR;
  const zero = (seek, count) =>
    run('dd', ['if=/dev/zero', `of=${sc.image}`, 'bs=512', `seek=${seek}`, `count=${count}`, 'conv=notrunc', 'status=none']);
  zero(0, 1); // MBR
  zero(p, g.reserved); // boot sector .. backup boot sector .. end of reserved area
  zero(p + g.reserved, g.fats * g.fatSectors); // FAT #1 and FAT #2
  sc.steps.push(`dd zero: MBR, ${g.reserved} reserved sectors (boot + backup boot), ${g.fats} FATs x ${g.fatSectors} sectors`);
  return sc;
}

// c. MBR + exFAT at 4 MiB (mkfs.exfat on a loop device, files copied through exfat-fuse),
//    then quick-formatted with mkfs.exfat again.
export function exfatQuickformat({ image, size, files, workDir }) {
  blankImage(image, size);
  partitionTable(image, '7');
  const offset = PART_START_SECTOR * 512;
  const loop = run('losetup', ['--find', '--show', '--offset', String(offset),
    '--sizelimit', String(size - offset), image]).stdout.trim();
  const mnt = path.join(workDir, 'mnt-exfat');
  fs.mkdirSync(mnt, { recursive: true });
  let mounted = false;
  try {
    const mkfs = ['-L', 'CARD', loop];
    run('mkfs.exfat', mkfs);
    run('mount.exfat-fuse', [loop, mnt]);
    mounted = true;
    for (const d of dirsOf(files)) fs.mkdirSync(path.join(mnt, d), { recursive: true });
    for (const f of files) fs.copyFileSync(f.src, path.join(mnt, f.name));
    run('umount', [mnt]);
    mounted = false;
    const geo = exfatGeometry(image, offset);
    run('mkfs.exfat', mkfs); // exfatprogs formats quickly by default: bitmap, FAT, upcase, root only
    return {
      image, partitionOffset: offset, ...geo, files,
      steps: ['sfdisk: one exFAT (0x07) partition at 4 MiB', `losetup --offset ${offset}; mkfs.exfat -L CARD`,
        `mount.exfat-fuse; cp ${files.length} files; umount`, 'mkfs.exfat again (quick format)'],
    };
  } finally {
    if (mounted) run('umount', [mnt], { check: false });
    run('losetup', ['-d', loop], { check: false });
  }
}

// e. MBR + FAT32 just big enough for the files, ~1/3 deleted, then the camera keeps shooting:
//    the new files fill the freed holes (mtools allocates first-fit after the last allocated
//    cluster, wrapping around), so they are fragmented and the deleted files partly overwritten.
//    `refill(bytes)` returns more named files (camera numbering continues).
export function fat32DeletedRefilled({ image, files, refill }) {
  const size = Math.ceil((PART_START_SECTOR * 512 + totalSize(files) * 1.04 + 2 * MiB) / MiB) * MiB;
  const sc = fat32Mbr({ image, size, files });
  const freed = totalSize(files.filter((f) => f.deleted));
  const more = refill(Math.round(freed * 0.7));
  const spec = `${image}@@${PART_START_SECTOR * 512}`;
  mtoolsWrite(spec, more);
  for (const f of more) f.refill = true;
  sc.files = [...files, ...more];
  sc.imageSize = size;
  sc.steps.push(`mcopy ${more.length} new files (${(totalSize(more) / MiB).toFixed(1)} MiB) into the freed space`);
  return sc;
}

// f-i. Fragmented cards (see lib/fragmented.mjs): small live fillers between holes, camera files
//      written into the holes by the driver's own allocator, then deleted or quick-formatted.
//      FAT32: MBR + FAT32 at 4 MiB with mtools; clusters of 2 KiB (512 B on the <= 64 MiB --quick
//      image: FAT32 needs >= 65525 clusters). exFAT: MBR + exFAT at 4 MiB, 32 KiB clusters,
//      written through exfat-fuse on a loop device.
function fat32Fragmented(damage) {
  return ({ image, size, files, workDir, corpusDir, seed }) => {
    blankImage(image, size);
    partitionTable(image, 'c');
    const partSectors = size / 512 - PART_START_SECTOR;
    const spc = size <= 128 * MiB ? 1 : 4;
    const mkfs = ['-F', '32', '-s', String(spc), `--offset=${PART_START_SECTOR}`, '-h', String(PART_START_SECTOR),
      '-n', 'CARD', '-i', '0CA4F032', image, String(partSectors / 2)];
    run('mkfs.fat', mkfs);
    const offset = PART_START_SECTOR * 512;
    const spec = `${image}@@${offset}`;
    const geo = fatGeometry(image, offset);
    const card = mtoolsCard(spec);
    const w = writeFragmentedCard(card, { camera: files, cs: geo.clusterSize, seed, stage: path.join(workDir, 'stage'), cacheDir: corpusDir, padding: true });
    const steps = ['sfdisk: one FAT32 (0x0c) partition at 4 MiB', `mkfs.fat ${mkfs.slice(0, -2).join(' ')}`, ...w.steps];
    if (damage === 'deleted') {
      card.remove(files.map((f) => f.name));
      for (const f of files) f.deleted = true;
      steps.push(`mdel the ${files.length} camera files (fillers stay)`);
    } else {
      run('mkfs.fat', mkfs);
      steps.push('mkfs.fat again, same parameters (quick format)');
    }
    return { image, partitionOffset: offset, ...geo, files, fillers: w.fillers, layout: w.layout, steps };
  };
}

function exfatFragmented(damage) {
  return ({ image, size, files, workDir, corpusDir, seed }) => {
    blankImage(image, size);
    partitionTable(image, '7');
    const offset = PART_START_SECTOR * 512;
    const loop = run('losetup', ['--find', '--show', '--offset', String(offset),
      '--sizelimit', String(size - offset), image]).stdout.trim();
    const mnt = path.join(workDir, 'mnt-exfat');
    fs.mkdirSync(mnt, { recursive: true });
    let mounted = false;
    try {
      const mkfs = ['-c', '32K', '-L', 'CARD', loop];
      run('mkfs.exfat', mkfs);
      const geo = exfatGeometry(image, offset);
      run('mount.exfat-fuse', [loop, mnt]);
      mounted = true;
      const card = mountCard(mnt);
      const w = writeFragmentedCard(card, { camera: files, cs: geo.clusterSize, seed, stage: path.join(workDir, 'stage'), cacheDir: corpusDir, padding: false });
      const steps = ['sfdisk: one exFAT (0x07) partition at 4 MiB', `losetup --offset ${offset}; mkfs.exfat -c 32K -L CARD; mount.exfat-fuse`, ...w.steps];
      if (damage === 'deleted') {
        card.remove(files.map((f) => f.name));
        for (const f of files) f.deleted = true;
        steps.push(`rm the ${files.length} camera files on the FUSE mount (fillers stay); umount`);
      }
      run('umount', [mnt]);
      mounted = false;
      if (damage !== 'deleted') {
        run('mkfs.exfat', mkfs);
        steps.push('umount; mkfs.exfat again, same parameters (quick format)');
      }
      return { image, partitionOffset: offset, ...geo, files, fillers: w.fillers, layout: w.layout, steps };
    } finally {
      if (mounted) run('umount', [mnt], { check: false });
      run('losetup', ['-d', loop], { check: false });
    }
  };
}

/** Undo what an interrupted earlier run may have left under `dir`: FUSE mounts and loop devices. */
export function releaseStale(dir) {
  if (!fs.existsSync(dir)) return;
  const mounts = fs.readFileSync('/proc/mounts', 'utf8').split('\n').map((l) => l.split(' ')[1]);
  for (const m of mounts) if (m && m.startsWith(dir + '/')) run('umount', [m], { check: false });
  for (const f of fs.readdirSync(dir).filter((n) => n.endsWith('.img'))) {
    const img = path.join(dir, f);
    for (const line of run('losetup', ['-j', img], { check: false }).stdout.split('\n')) {
      const dev = line.split(':')[0];
      if (dev.startsWith('/dev/loop')) run('losetup', ['-d', dev], { check: false });
    }
  }
}

export const SCENARIOS = [
  { name: 'fat16-superfloppy-quickformat', build: fat16SuperfloppyQuickformat, size: { quick: 96 * MiB, full: 256 * MiB }, noBigCr3: true },
  { name: 'fat32-mbr-deleted', build: fat32MbrDeleted, size: { quick: 96 * MiB, full: 512 * MiB } },
  { name: 'exfat-quickformat', build: exfatQuickformat, size: { quick: 96 * MiB, full: 512 * MiB } },
  { name: 'zeroed-fs', build: zeroedFs, size: { quick: 96 * MiB, full: 512 * MiB } },
  { name: 'fat32-deleted-refilled', build: fat32DeletedRefilled, size: { quick: 'fit', full: 'fit' } },
  // fragmented cards: real JPEGs, MOV/MP4 and CR3s only (corpus 'fragmented')
  { name: 'fat32-fragmented-deleted', build: fat32Fragmented('deleted'), size: { quick: 64 * MiB, full: 256 * MiB }, corpus: 'fragmented' },
  { name: 'fat32-fragmented-quickformat', build: fat32Fragmented('quickformat'), size: { quick: 64 * MiB, full: 256 * MiB }, corpus: 'fragmented' },
  { name: 'exfat-fragmented-deleted', build: exfatFragmented('deleted'), size: { quick: 64 * MiB, full: 256 * MiB }, corpus: 'fragmented' },
  { name: 'exfat-fragmented-quickformat', build: exfatFragmented('quickformat'), size: { quick: 64 * MiB, full: 256 * MiB }, corpus: 'fragmented' },
];

