#!/usr/bin/env node
// Summarise a V8 .cpuprofile (from `node --cpu-prof`): self time per function and per file.
//
//   node bench/lib/speed-profile.mjs FILE.cpuprofile [TOP] [ROOT]   (ROOT: strip it from paths)
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** { totalMs, functions: [{ name, where, selfMs, pct }], files: [{ file, selfMs, pct }] } */
export function summariseProfile(file, top = 15, root = null) {
  const prof = JSON.parse(fs.readFileSync(file, 'utf8'));
  const byId = new Map(prof.nodes.map((n) => [n.id, n]));
  const self = new Map(); // node id -> microseconds
  prof.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (prof.timeDeltas[i] ?? 0)));
  const fn = new Map();
  const files = new Map();
  let total = 0;
  for (const [id, us] of self) {
    const cf = byId.get(id).callFrame;
    const url = cf.url ? cf.url.replace(/^file:\/\//, '') : '';
    const short = root && url.startsWith(root + '/') ? url.slice(root.length + 1)
      : url.includes('/dist/') ? url.slice(url.indexOf('/dist/') + 6)
      : url.includes('node_modules/') ? url.slice(url.lastIndexOf('node_modules/') + 13) : url ? path.basename(url) : '';
    const name = cf.functionName || (url ? '(anonymous)' : '');
    const key = url ? `${name} ${short}:${cf.lineNumber + 1}` : `(${name || cf.functionName || 'native'})`;
    const f = fn.get(key) ?? { name: name || cf.functionName, where: url ? `${short}:${cf.lineNumber + 1}` : '', selfMs: 0 };
    f.selfMs += us / 1000;
    fn.set(key, f);
    const fk = short || `(${name})`;
    files.set(fk, (files.get(fk) ?? 0) + us / 1000);
    total += us / 1000;
  }
  const pct = (ms) => Math.round((1000 * ms) / total) / 10;
  return {
    totalMs: Math.round(total),
    functions: [...fn.values()].sort((a, b) => b.selfMs - a.selfMs).slice(0, top)
      .map((f) => ({ ...f, selfMs: Math.round(f.selfMs), pct: pct(f.selfMs) })),
    files: [...files.entries()].sort((a, b) => b[1] - a[1]).slice(0, top)
      .map(([file, ms]) => ({ file, selfMs: Math.round(ms), pct: pct(ms) })),
  };
}

export function formatProfile(s) {
  const lines = [`total sampled ${(s.totalMs / 1000).toFixed(2)} s; self time by function:`];
  for (const f of s.functions) lines.push(`  ${String(f.pct).padStart(5)}%  ${String(f.selfMs).padStart(7)} ms  ${f.name} ${f.where}`);
  lines.push('self time by file:');
  for (const f of s.files) lines.push(`  ${String(f.pct).padStart(5)}%  ${String(f.selfMs).padStart(7)} ms  ${f.file}`);
  return lines.join('\n');
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [file, top, root] = process.argv.slice(2);
  if (!file) {
    console.error('usage: node bench/lib/speed-profile.mjs FILE.cpuprofile [TOP]');
    process.exit(2);
  }
  console.log(formatProfile(summariseProfile(file, Number(top ?? 15), root ? path.resolve(root) : null)));
}
