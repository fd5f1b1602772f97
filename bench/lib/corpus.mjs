// The set of original files the scenarios put on their cards: real camera files from the shared
// samples (used in place, never copied into the repository), complete CR3s made with the samples'
// `complete-bmff` tool, and generated JPEGs with EXIF thumbnails. Files are grouped in "shots"
// (an AVI and its THM sidecar are one shot) that get camera-style names per scenario.
import fs from 'node:fs';
import path from 'node:path';
import { run, sha256, shuffle, log } from './util.mjs';

// Files used by --quick (relative to the samples folder); the full run takes every file of a folder.
const QUICK = {
  mov: ['apple_iphone_xr/IMG_3589.mov', 'panasonic_pv_sd4090/P1000244.MOV'],
  mp4: ['gopro_max/max-heromode.mp4', 'android_phone_unknown/with-gps.mp4'],
  avi: ['canon_powershot_s40/MVI_0121.AVI', 'nikon_d90/DSC_0009.AVI'],
  heic: ['apple_iphone_xr/IMG_3578.HEIC'],
};
const STRUCTURE = [
  ['NikonD70_exiftool-stripped.NEF', 'nef'],
  ['CanonEOSM50_exiftool-stripped.CR3', 'cr3'],
  ['CanonEOS350D_exiftool-stripped.CR2', 'cr2'],
];

// kind -> [DCIM sub-folder, name prefix, extension]
const NAMING = {
  jpeg: ['100CANON', 'IMG', 'JPG'],
  mov: ['100CANON', 'MVI', 'MOV'],
  mp4: ['100CANON', 'MVI', 'MP4'],
  avi: ['100CANON', 'MVI', 'AVI'],
  thm: ['100CANON', 'MVI', 'THM'],
  heic: ['100APPLE', 'IMG', 'HEIC'],
  cr2: ['100CANON', 'IMG', 'CR2'],
  cr3: ['100CANON', 'IMG', 'CR3'],
  nef: ['100NIKON', 'DSC', 'NEF'],
};

function listDir(dir, re) {
  const out = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...listDir(p, re));
    else if (re.test(e.name)) out.push(p);
  }
  return out.sort();
}

function entry(src, kind, origin) {
  const data = fs.readFileSync(src);
  return { src, kind, origin, size: data.length, sha256: sha256(data) };
}

/** Generated JPEG: ImageMagick plasma (seeded) + an EXIF block with a thumbnail written by exiftool. */
function generatedJpeg(dir, seed, quick) {
  const out = path.join(dir, `gen-${seed}.jpg`);
  if (!fs.existsSync(out)) {
    const tmp = path.join(dir, `gen-${seed}.tmp.jpg`);
    const thumb = path.join(dir, `gen-${seed}.thumb.jpg`);
    const size = quick ? '1600x1200' : '2400x1600';
    run('convert', ['-seed', String(seed), '-size', size, 'plasma:', '-quality', '92', tmp]);
    run('convert', [tmp, '-resize', '160x120', '-quality', '80', thumb]);
    run('exiftool', ['-q', '-overwrite_original', `-ThumbnailImage<=${thumb}`, '-Make=Canon',
      '-Model=Canon EOS 5D Mark III', `-DateTimeOriginal=2021:06:${String(1 + (seed % 28)).padStart(2, '0')} 12:00:00`, tmp]);
    fs.renameSync(tmp, out);
    fs.rmSync(thumb);
  }
  return entry(out, 'jpeg', `generated: convert -seed ${seed} plasma: + exiftool thumbnail`);
}

/** Complete CR3 from the truncated Canon EOS R header (real box sequence, seeded payload). */
function completeCr3(samples, dir, seed) {
  const out = path.join(dir, `eosr-${seed}.cr3`);
  if (!fs.existsSync(out)) {
    const tool = path.join(samples, 'structure', 'complete-bmff');
    run('python3', [tool, path.join(samples, 'structure', 'CanonEOSR_truncated-131072.CR3'), out, String(seed)]);
  }
  return entry(out, 'cr3', `generated: complete-bmff CanonEOSR_truncated-131072.CR3 SEED=${seed}`);
}

/**
 * Build the corpus: an array of shots, each { files: [entry] }.
 * entry = { src, kind, origin, size, sha256 }.
 */
export function buildCorpus({ samples, workDir, quick }) {
  const genDir = path.join(workDir, 'corpus');
  fs.mkdirSync(genDir, { recursive: true });
  const rel = (p) => path.relative(samples, p);
  const shots = [];
  const add = (...files) => shots.push({ files });

  let jpegs = listDir(path.join(samples, 'jpeg'), /\.jpe?g$/i);
  if (quick) jpegs = jpegs.filter((_, i) => i % 6 === 0);
  for (const p of jpegs) add(entry(p, 'jpeg', rel(p)));

  for (const kind of ['mov', 'mp4', 'avi', 'heic']) {
    const files = quick
      ? QUICK[kind].map((f) => path.join(samples, kind, f))
      : listDir(path.join(samples, kind), kind === 'avi' ? /\.avi$/i : /./);
    for (const p of files) {
      const thm = p.replace(/\.AVI$/i, '.THM');
      if (kind === 'avi' && thm !== p && fs.existsSync(thm)) add(entry(p, 'avi', rel(p)), entry(thm, 'thm', rel(thm)));
      else add(entry(p, kind, rel(p)));
    }
  }
  for (const p of listDir(path.join(samples, 'cr2'), /\.cr2$/i)) add(entry(p, 'cr2', rel(p)));
  for (const [f, kind] of STRUCTURE) add(entry(path.join(samples, 'structure', f), kind, `structure/${f}`));

  log('generating JPEGs and complete CR3s in', genDir);
  for (const seed of quick ? [1, 2, 3] : [1, 2, 3, 4, 5, 6, 7, 8]) add(generatedJpeg(genDir, seed, quick));
  for (const seed of quick ? [1] : [1, 2]) add(completeCr3(samples, genDir, seed));
  return shots;
}

/**
 * Order the shots as a camera would have written them (seeded shuffle) and give every file its
 * camera name, e.g. DCIM/100CANON/IMG_0001.JPG, DCIM/100CANON/MVI_0002.MOV + MVI_0002.THM.
 * Returns a flat list of files in write order: { ...entry, name, shot }.
 */
export function nameFiles(shots, seed, firstNumber = 1) {
  const files = [];
  shuffle(shots, seed).forEach((shot, i) => {
    const num = String(firstNumber + i).padStart(4, '0');
    for (const f of shot.files) {
      const [folder, prefix, ext] = NAMING[f.kind];
      files.push({ ...f, name: `DCIM/${folder}/${prefix}_${num}.${ext}`, shot: i });
    }
  });
  return files;
}

/**
 * More shots for a "camera kept shooting" refill, adding up to at least `bytes`: one more complete
 * CR3 (29 MB, it will be scattered over the freed holes) when it takes less than 3/4 of the
 * budget, then generated JPEGs (seeds from 101 on).
 */
export function moreShots({ samples, workDir, quick, bytes }) {
  const genDir = path.join(workDir, 'corpus');
  fs.mkdirSync(genDir, { recursive: true });
  const shots = [];
  let sum = 0;
  if (bytes > (29378658 * 4) / 3) {
    const e = completeCr3(samples, genDir, 3);
    shots.push({ files: [e] });
    sum += e.size;
  }
  for (let seed = 101; sum < bytes; seed++) {
    const e = generatedJpeg(genDir, seed, quick);
    shots.push({ files: [e] });
    sum += e.size;
  }
  return shots;
}

export const totalSize = (files) => files.reduce((s, f) => s + f.size, 0);
