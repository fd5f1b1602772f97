// Fragmented-card scenarios: a card whose free space is many holes between small live files,
// so that the camera files written next are split across holes by the file system driver's own
// allocator (mtools for FAT32, exfat-fuse for exFAT), then deleted or quick-formatted.
//
// How the card is made (both file systems, same steps):
//   1. mkfs; directories DCIM/100CANON and MISC.
//   2. Directories are sized up front: as many empty placeholder entries as the directory will
//      hold at once are created, then one live "keeper" filler after them, then the placeholders
//      are deleted; their slots are all reused later (no empty deleted entry is left). So no
//      directory grows later (a growing directory would take a cluster from a hole, and its
//      clusters would be scattered between the fillers), and exfat-fuse, which shrinks a
//      directory whose trailing entries are deleted, keeps it (hence the keeper).
//   3. Layout phase: hole file, filler file(s), hole file, filler, ... The hole files ("deleted
//      photos", DCIM/100CANON/IMG_8nnn.JPG, seeded random bytes) have exactly the sizes of the
//      holes planned for the camera files; the fillers (live small JPEGs DCIM/100CANON/IMG_5nnn.JPG
//      from ImageMagick, text logs MISC/LOG_nnnn.TXT, random data MISC/DAT_nnnn.BIN) are the gaps
//      between holes: log-uniform sizes from one cluster (at least 4 KiB) to 384 KiB.
//      FAT32: mtools allocates next-fit (from the last allocated cluster, wrapping around), so
//      the rest of the card is then filled with MISC/PADDING.BIN (zeros) and the next writes wrap
//      around to the first hole. exFAT: exfat-fuse allocates first-fit, no padding needed.
//   4. The hole files are deleted (mdel / rm), then the camera files are written in camera order
//      (mcopy / cp): each one fills the free clusters in order, i.e. the rest of the current hole
//      and then the next hole(s).
//   5. Damage: "deleted" = the camera files are deleted (mdel / rm on the FUSE mount), the
//      fillers stay live; "quickformat" = mkfs again with the same parameters.
//
// The plan: per camera file a number of pieces (JPEG: 12% 1 = contiguous control, 65% 2, 17% 3,
// 6% 4; MOV/MP4/CR3 always fragmented: 60% 2, 30% 3, 10% 4), cut at seeded cluster positions;
// a file's last piece shares its hole with the next file's first piece 30% of the time (a file
// that starts mid-hole). Where the files really landed is measured afterwards from the image
// (lib/locate.mjs: intact / fragmented + number of pieces), not taken from the plan.
import fs from 'node:fs';
import path from 'node:path';
import { run, prng, sha256, MiB } from './util.mjs';

const KiB = 1024;
const GAP_MAX = 384 * KiB;
const MT_ENV = { MTOOLS_SKIP_CHECK: '1' };

const ceilDiv = (a, b) => Math.ceil(a / b);

/** Number of pieces for a camera file of n clusters. */
function piecesFor(f, n, rnd) {
  const r = rnd();
  const p = f.kind === 'jpeg'
    ? (r < 0.12 ? 1 : r < 0.77 ? 2 : r < 0.94 ? 3 : 4)
    : (r < 0.6 ? 2 : r < 0.9 ? 3 : 4);
  return Math.max(1, Math.min(p, n));
}

/** p pieces (cluster counts) summing to n, cut at distinct seeded positions. */
function cut(n, p, rnd) {
  const cuts = new Set();
  while (cuts.size < p - 1) cuts.add(1 + Math.floor(rnd() * (n - 1)));
  const pos = [0, ...[...cuts].sort((a, b) => a - b), n];
  return pos.slice(1).map((x, i) => x - pos[i]);
}

/**
 * Plan holes and gaps for the camera files (in write order) at cluster size cs.
 * Returns { holes: [clusters], gaps: [bytes] (gap i follows hole i), planned: [pieces per file] }.
 */
export function planLayout(files, cs, seed) {
  const rnd = prng(seed);
  const holes = [];
  const planned = [];
  let open = 0; // clusters of the hole being planned
  files.forEach((f, i) => {
    const n = Math.max(1, ceilDiv(f.size, cs));
    const pieces = cut(n, piecesFor(f, n, rnd), rnd);
    planned.push(pieces.length);
    pieces.forEach((c, k) => {
      open += c;
      const last = k === pieces.length - 1;
      if (!last || i === files.length - 1 || rnd() >= 0.3) {
        holes.push(open);
        open = 0;
      }
    });
  });
  const lo = Math.max(cs, 4 * KiB);
  const gaps = holes.map(() => Math.exp(Math.log(lo) + rnd() * (Math.log(GAP_MAX) - Math.log(lo))));
  return { holes, gaps: gaps.map((g) => Math.max(1, Math.round(g / cs)) * cs), planned };
}

// ---- filler contents --------------------------------------------------------------------------

function randomBytes(n, seed) {
  const rnd = prng(seed);
  const b = Buffer.alloc(n);
  for (let i = 0; i + 4 <= n; i += 4) b.writeUInt32LE((rnd() * 2 ** 32) >>> 0, i);
  for (let i = n - (n % 4); i < n; i++) b[i] = (rnd() * 256) | 0;
  return b;
}

function textBytes(n, seed) {
  const rnd = prng(seed);
  const lines = [];
  let len = 0;
  for (let i = 0; len < n; i++) {
    const l = `2021-06-${String(1 + (i % 28)).padStart(2, '0')} ${String(8 + (i % 12)).padStart(2, '0')}:${String((i * 7) % 60).padStart(2, '0')}:00 ` +
      `shot ${String(seed % 10000).padStart(4, '0')}-${i} ISO ${[100, 200, 400, 800, 1600][(rnd() * 5) | 0]} 1/${[60, 125, 250, 500, 1000][(rnd() * 5) | 0]} ` +
      `f/${(1.8 + rnd() * 9).toFixed(1)} battery ${(50 + rnd() * 50) | 0}% temp ${(20 + rnd() * 15).toFixed(1)}C\r\n`;
    lines.push(l);
    len += l.length;
  }
  return Buffer.from(lines.join(''), 'latin1').subarray(0, n);
}

/** Small JPEG of about `bytes` (ImageMagick plasma + noise, ~0.23 byte/pixel), cached. */
function fillerJpeg(cacheDir, seed, bytes) {
  const px = Math.max(4800, bytes / 0.23);
  const w = Math.max(80, Math.round(Math.sqrt((px * 4) / 3) / 8) * 8);
  const h = Math.max(60, Math.round((w * 3) / 4 / 8) * 8);
  const out = path.join(cacheDir, `filler-${seed}-${w}x${h}.jpg`);
  if (!fs.existsSync(out)) {
    const tmp = `${out}.tmp.jpg`;
    run('convert', ['-seed', String(seed), '-size', `${w}x${h}`, 'plasma:', '-attenuate', '0.4', '+noise', 'Gaussian', '-quality', '85', tmp]);
    fs.renameSync(tmp, out);
  }
  return out;
}

/**
 * Turn the plan into the files of the layout phase, staged under `stage`:
 * [keeper JPEG, keeper text, hole 1, gap 1, hole 2, gap 2, ...]. A gap is one filler (kind by
 * size and seed). Returns { items: [{ role: 'hole'|'filler', name, src, size, kind }] }.
 */
export function layoutFiles(plan, cs, seed, { stage, cacheDir }) {
  fs.mkdirSync(stage, { recursive: true });
  fs.mkdirSync(cacheDir, { recursive: true });
  const rnd = prng(seed ^ 0x5eed);
  const items = [];
  let nJpeg = 5000, nLog = 0, nDat = 0, nHole = 8000;
  const put = (role, name, kind, data, src) => {
    if (!src) {
      src = path.join(stage, name.replace(/\//g, '_'));
      fs.writeFileSync(src, data);
    }
    items.push({ role, name, kind, src, size: fs.statSync(src).size });
  };
  const filler = (bytes, force) => {
    const kind = force ?? (bytes < 8 * KiB ? (rnd() < 0.5 ? 'text' : 'data') : rnd() < 0.5 ? 'jpeg' : rnd() < 0.4 ? 'text' : 'data');
    const clusters = Math.max(1, Math.round(bytes / cs));
    // text/data: a size that takes exactly `clusters` clusters
    const exact = (clusters - 1) * cs + 1 + Math.floor(rnd() * cs);
    const s = (seed * 100003 + items.length) >>> 0;
    if (kind === 'jpeg') {
      const src = fillerJpeg(cacheDir, s, Math.max(3000, clusters * cs * 0.9));
      put('filler', `DCIM/100CANON/IMG_${++nJpeg}.JPG`, 'jpeg', null, src);
    } else if (kind === 'text') {
      put('filler', `MISC/LOG_${String(++nLog).padStart(4, '0')}.TXT`, 'text', textBytes(exact, s));
    } else {
      put('filler', `MISC/DAT_${String(++nDat).padStart(4, '0')}.BIN`, 'data', randomBytes(exact, s));
    }
  };
  filler(48 * KiB, 'jpeg'); // keepers: the last entry of each directory stays live
  filler(2 * cs, 'text');
  const keepers = items.length;
  plan.holes.forEach((clusters, i) => {
    put('hole', `DCIM/100CANON/IMG_${++nHole}.JPG`, 'hole', randomBytes(clusters * cs, seed * 7919 + i));
    filler(plan.gaps[i]);
  });
  return { items, keepers };
}

// ---- writing the card -------------------------------------------------------------------------

/**
 * Placeholders per directory: the most entries it holds at once minus its keepers (written after
 * the placeholders). Layout phase: fillers + holes; camera phase: fillers + camera files (the holes
 * are deleted by then). Every placeholder slot is reused by a later entry, so no empty deleted
 * entry is left behind; what is left deleted are hole entries (when there are more holes than
 * camera files) and, in the "deleted" scenarios, the camera files.
 */
function placeholdersPerDir(items, keepers, camera) {
  const m = new Map();
  const at = (d) => m.get(d) ?? m.set(d, { fillers: 0, holes: 0, camera: 0 }).get(d);
  items.forEach((f, i) => { if (i >= keepers) at(path.posix.dirname(f.name))[f.role === 'hole' ? 'holes' : 'fillers']++; });
  for (const f of camera) at(path.posix.dirname(f.name)).camera++;
  return new Map([...m].map(([d, c]) => [d, c.fillers + Math.max(c.holes, c.camera)]));
}

/**
 * Card writer over mtools (FAT) or a mounted exFAT (exfat-fuse) with the same operations.
 */
export function mtoolsCard(spec) {
  return {
    mkdir: (d) => run('mmd', ['-i', spec, `::${d}`], { env: MT_ENV, check: false }),
    write: (src, name) => run('mcopy', ['-i', spec, src, `::${name}`], { env: MT_ENV }),
    writeMany: (srcs, dir) => run('mcopy', ['-i', spec, ...srcs, `::${dir}/`], { env: MT_ENV }),
    remove: (names) => {
      for (let i = 0; i < names.length; i += 100) run('mdel', ['-i', spec, ...names.slice(i, i + 100).map((n) => `::${n}`)], { env: MT_ENV });
    },
    freeBytes: () => {
      const out = run('minfo', ['-i', spec, '::'], { env: MT_ENV }).stdout;
      const free = Number(out.match(/free clusters=(\d+)/)?.[1]);
      const spc = Number(out.match(/cluster size:\s*(\d+) sectors/)?.[1]);
      const bps = Number(out.match(/sector size:\s*(\d+) bytes/)?.[1]);
      if (!(free >= 0 && spc && bps)) throw new Error(`minfo: cannot read free clusters:\n${out}`);
      return free * spc * bps;
    },
  };
}

export function mountCard(mnt) {
  return {
    mkdir: (d) => fs.mkdirSync(path.join(mnt, d), { recursive: true }),
    write: (src, name) => fs.copyFileSync(src, path.join(mnt, name)),
    writeMany: (srcs, dir) => { for (const s of srcs) fs.copyFileSync(s, path.join(mnt, dir, path.basename(s))); },
    remove: (names) => { for (const n of names) fs.rmSync(path.join(mnt, n)); },
  };
}

/**
 * Steps 1-4 on a freshly made file system: directories sized up front, layout phase (holes and
 * fillers, FAT32: padding), holes deleted, camera files written. Returns { fillers, steps, layout }.
 */
export function writeFragmentedCard(card, { camera, cs, seed, stage, cacheDir, padding }) {
  const plan = planLayout(camera, cs, seed);
  const { items, keepers } = layoutFiles(plan, cs, seed, { stage: path.join(stage, 'files'), cacheDir });
  const steps = [];

  // 1-2. directories, sized up front with empty placeholders, a live keeper after them
  const dirs = ['DCIM', 'DCIM/100CANON', 'MISC'];
  for (const d of dirs) card.mkdir(d);
  const perDir = placeholdersPerDir([...items, ...(padding ? [{ name: 'MISC/PADDING.BIN', role: 'filler' }] : [])], keepers, camera);
  const phDir = path.join(stage, 'placeholders');
  const placeholders = [];
  for (const [d, n] of perDir) {
    const sub = path.join(phDir, d.replace(/\//g, '_'));
    fs.mkdirSync(sub, { recursive: true });
    const srcs = [];
    for (let i = 1; i <= n; i++) {
      const s = path.join(sub, `PH_${String(i).padStart(5, '0')}.JPG`);
      fs.writeFileSync(s, '');
      srcs.push(s);
      placeholders.push(`${d}/${path.basename(s)}`);
    }
    card.writeMany(srcs, d);
  }
  items.slice(0, keepers).forEach((f) => card.write(f.src, f.name));
  card.remove(placeholders);
  steps.push(`mkdir DCIM/100CANON MISC; ${placeholders.length} empty placeholder entries + ${keepers} live keepers, placeholders deleted (directories sized up front)`);

  // 3. layout phase
  for (const f of items.slice(keepers)) card.write(f.src, f.name);
  const holes = items.filter((f) => f.role === 'hole');
  const fillers = items.filter((f) => f.role === 'filler');
  const gapBytes = fillers.slice(keepers).map((f) => ceilDiv(f.size, cs) * cs);
  steps.push(`write ${holes.length} hole files (${(holes.reduce((s, f) => s + f.size, 0) / MiB).toFixed(1)} MiB) alternating with ${fillers.length - keepers} fillers ` +
    `(${fillers.filter((f) => f.kind === 'jpeg').length} JPEG, ${fillers.filter((f) => f.kind === 'text').length} text, ${fillers.filter((f) => f.kind === 'data').length} random; ` +
    `gaps ${Math.min(...gapBytes) / KiB}-${Math.max(...gapBytes) / KiB} KiB)`);
  if (padding) {
    const free = card.freeBytes();
    const src = path.join(stage, 'files', 'MISC_PADDING.BIN');
    fs.rmSync(src, { force: true });
    fs.closeSync(fs.openSync(src, 'w'));
    fs.truncateSync(src, free); // zeros (sparse staging file)
    card.write(src, 'MISC/PADDING.BIN');
    fillers.push({ role: 'filler', name: 'MISC/PADDING.BIN', kind: 'padding', src, size: free });
    steps.push(`MISC/PADDING.BIN (${(free / MiB).toFixed(1)} MiB of zeros) fills the rest: mtools allocates next-fit, the next files wrap around into the holes`);
  }

  // 4. holes deleted, camera files written into them
  card.remove(holes.map((f) => f.name));
  for (const f of camera) card.write(f.src, f.name);
  // camera entries take the first free slots: the deleted hole entries (then unused placeholders)
  const staleHoles = Math.max(0, holes.length - camera.length);
  steps.push(`delete the ${holes.length} hole files; write ${camera.length} camera files (${(camera.reduce((s, f) => s + f.size, 0) / MiB).toFixed(1)} MiB) into the holes ` +
    `(their entries reuse ${holes.length - staleHoles} deleted hole entries; ${staleHoles} stay, pointing at clusters that now hold camera data)`);

  for (const f of fillers) f.sha256 = sha256(fs.readFileSync(f.src));
  const layout = {
    holes: holes.length, holeBytes: holes.reduce((s, f) => s + f.size, 0),
    fillers: fillers.length, fillerBytes: fillers.reduce((s, f) => s + f.size, 0),
    gapKiB: { min: Math.min(...gapBytes) / KiB, median: [...gapBytes].sort((a, b) => a - b)[gapBytes.length >> 1] / KiB, max: Math.max(...gapBytes) / KiB },
    staleHoleEntries: staleHoles,
    plannedPieces: plan.planned,
  };
  return { fillers, steps, layout };
}
