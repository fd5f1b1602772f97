// Score a tool's output directory against the originals, by content only (names are ignored).
//   byte-exact:       sha256 equals an original's
//   trailing garbage: longer than an original and starts with all of it
//   truncated:        shorter than an original (and >= 4 KiB) and is a prefix of it
//   duplicate:        another output for an original already counted (e.g. exact twice)
//   junk:             matches no original (including carved embedded thumbnails/previews)
//   filler:           (fragmented scenarios) matches none of the originals but one of the
//                     filler files written around them (byte-exact, trailing garbage or truncated);
//                     neither counted as a recovered original nor as junk
// Each original counts once, in its best class (exact > trailing garbage > truncated).
import fs from 'node:fs';
import path from 'node:path';
import { sha256, walk } from './util.mjs';

const PREFIX = 64; // originals are looked up by their first bytes
const MIN_TRUNCATED = 4096;
const RANK = { exact: 3, trailing: 2, truncated: 1 };

export function makeOriginalIndex(files) {
  const bySha = new Map();
  const byPrefix = new Map();
  files.forEach((f, i) => {
    if (!bySha.has(f.sha256)) bySha.set(f.sha256, i);
    const data = fs.readFileSync(f.src);
    if (data.subarray(0, PREFIX).every((b) => b === 0)) return; // zero-filled (padding): exact match only
    const key = data.subarray(0, PREFIX).toString('latin1');
    if (!byPrefix.has(key)) byPrefix.set(key, []);
    byPrefix.get(key).push(i);
  });
  return { files, bySha, byPrefix };
}

const EMPTY_INDEX = { files: [], bySha: new Map(), byPrefix: new Map() };

function classify(buf, idx) {
  const sha = sha256(buf);
  if (idx.bySha.has(sha)) return { kind: 'exact', orig: idx.bySha.get(sha) };
  if (buf.length < PREFIX) return null;
  for (const i of idx.byPrefix.get(buf.subarray(0, PREFIX).toString('latin1')) ?? []) {
    const f = idx.files[i];
    if (buf.length > f.size) {
      const data = fs.readFileSync(f.src);
      if (data.compare(buf, 0, f.size) === 0) return { kind: 'trailing', orig: i };
    } else if (buf.length < f.size && buf.length >= MIN_TRUNCATED) {
      const data = fs.readFileSync(f.src);
      if (buf.compare(data, 0, buf.length) === 0) return { kind: 'truncated', orig: i };
    }
  }
  return null;
}

/**
 * Returns { outputs, exact, trailing, truncated, duplicate, junk, filler, perOriginal: [kind|null], junkByExt, junkFiles (first 50) }.
 * `fillerIdx` (makeOriginalIndex of the fillers, optional): outputs that are fillers count as `filler`, not junk.
 */
export function scoreOutput(outDir, idx, ignore, fillerIdx = EMPTY_INDEX) {
  const best = idx.files.map(() => null); // best class per original
  const hits = idx.files.map(() => 0);
  // Byte-exact and under its original folder and name (DCIM/100CANON/IMG_0001.JPG), wherever the tool put that tree.
  const named = idx.files.map(() => false);
  let outputs = 0;
  let junk = 0;
  let filler = 0;
  const junkFiles = [];
  const junkByExt = {};
  for (const p of walk(outDir)) {
    const rel = path.relative(outDir, p);
    if (ignore(rel)) continue;
    outputs++;
    const buf = fs.readFileSync(p);
    const c = classify(buf, idx);
    if (!c && fillerIdx.files.length && classify(buf, fillerIdx)) {
      filler++;
      continue;
    }
    if (!c) {
      junk++;
      const ext = path.extname(rel).toLowerCase() || '(none)';
      junkByExt[ext] = (junkByExt[ext] ?? 0) + 1;
      if (junkFiles.length < 50) junkFiles.push(rel);
      continue;
    }
    hits[c.orig]++;
    const want = idx.files[c.orig].name;
    if (c.kind === 'exact' && want && (rel === want || rel.endsWith('/' + want))) named[c.orig] = true;
    if (!best[c.orig] || RANK[c.kind] > RANK[best[c.orig]]) best[c.orig] = c.kind;
  }
  const count = (k) => best.filter((b) => b === k).length;
  const matched = hits.reduce((a, b) => a + b, 0);
  const distinct = best.filter(Boolean).length;
  return {
    outputs,
    exact: count('exact'),
    trailing: count('trailing'),
    truncated: count('truncated'),
    duplicate: matched - distinct,
    junk,
    filler,
    named: named.filter(Boolean).length,
    perOriginal: best,
    junkByExt,
    junkFiles,
  };
}
