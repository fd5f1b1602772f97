// Where are the originals on the (damaged) image? A file is "intact" when its bytes appear
// contiguously at a cluster-aligned offset (image[offset, offset+size) == original); "fragmented"
// when every cluster-sized chunk of it is somewhere on a cluster boundary but not in one run;
// "partial" when only some chunks are left (overwritten), "absent" when none are.
// For a fragmented file, `pieces` is the number of runs of consecutive clusters it is in and
// `runs` their [image offset, clusters].
import fs from 'node:fs';

const KEY = 16; // bytes at the start of a cluster used as the lookup key

export function locateOriginals(imagePath, files, { dataStart, clusterSize }) {
  const img = fs.readFileSync(imagePath);
  const datas = files.map((f) => fs.readFileSync(f.src));
  const chunkAt = files.map((f) => new Array(Math.ceil(f.size / clusterSize)).fill(-1));
  const starts = files.map(() => []);

  // key of every chunk (long enough to have one) -> chunks that still need to be found
  const index = new Map();
  datas.forEach((data, fi) => {
    for (let ci = 0; ci < chunkAt[fi].length; ci++) {
      const start = ci * clusterSize;
      if (data.length - start < KEY) { chunkAt[fi][ci] = -2; continue; } // tiny tail: not checked
      const key = data.latin1Slice(start, start + KEY);
      if (!index.has(key)) index.set(key, []);
      index.get(key).push({ fi, ci });
    }
  });

  for (let off = dataStart; off + KEY <= img.length; off += clusterSize) {
    const key = img.latin1Slice(off, off + KEY);
    const refs = index.get(key);
    if (!refs) continue;
    for (const { fi, ci } of refs) {
      if (ci > 0 && chunkAt[fi][ci] >= 0) continue;
      const start = ci * clusterSize;
      const len = Math.min(clusterSize, datas[fi].length - start);
      if (off + len > img.length) continue;
      if (datas[fi].compare(img, off, off + len, start, start + len) !== 0) continue;
      if (chunkAt[fi][ci] < 0) chunkAt[fi][ci] = off;
      if (ci === 0) starts[fi].push(off);
    }
    // forget chunks already found (chunk 0 stays: a file's start may occur more than once)
    const left = refs.filter(({ fi, ci }) => ci === 0 || chunkAt[fi][ci] === -1);
    if (left.length) index.set(key, left);
    else index.delete(key);
  }

  return files.map((f, fi) => {
    const data = datas[fi];
    const offset = starts[fi].find((s) => s + data.length <= img.length && data.compare(img, s, s + data.length) === 0);
    if (offset !== undefined) return { status: 'intact', offset, pieces: 1 };
    const checked = chunkAt[fi].filter((x) => x !== -2);
    const present = checked.filter((x) => x >= 0).length;
    if (present === checked.length) return { status: 'fragmented', offset: null, ...runsOf(img, data, chunkAt[fi], starts[fi], clusterSize) };
    return { status: present ? 'partial' : 'absent', offset: null, presentFraction: +(present / checked.length).toFixed(3) };
  });
}

/**
 * Runs of a fragmented file: follow the chunks in order, staying contiguous (the next cluster on
 * the image holds the next chunk) as long as possible, so that chunks whose content occurs more
 * than once do not count as breaks. The tiny tail (< 16 bytes) and chunks of one repeated byte
 * are taken as contiguous (a break inside a zero-filled stretch is counted where the next
 * distinctive chunk is found).
 */
function runsOf(img, data, at, starts, cs) {
  // a chunk of one repeated byte (zero-filled parts of a file) matches anywhere: taken as contiguous
  const uniform = (ci) => {
    const s = ci * cs;
    const c = data.subarray(s, Math.min(s + cs, data.length));
    return c.every((b) => b === c[0]);
  };
  const same = (off, ci) => {
    const s = ci * cs;
    const len = Math.min(cs, data.length - s);
    return off >= 0 && off + len <= img.length && data.compare(img, off, off + len, s, s + len) === 0;
  };
  // the start that goes furthest contiguously
  let best = null;
  for (const s0 of starts.length ? starts : [at[0]]) {
    let ci = 1;
    while (ci < at.length && (at[ci] === -2 || uniform(ci) || same(s0 + ci * cs, ci))) ci++;
    if (!best || ci > best.len) best = { off: s0, len: ci };
  }
  const runs = [[best.off, 1]];
  let cur = best.off;
  for (let ci = 1; ci < at.length; ci++) {
    if (at[ci] === -2 || uniform(ci) || same(cur + cs, ci)) { cur += cs; runs[runs.length - 1][1]++; continue; }
    cur = at[ci];
    runs.push([cur, 1]);
  }
  return { pieces: runs.length, runs };
}
