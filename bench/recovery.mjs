#!/usr/bin/env node
// Recovery benchmark: build damaged card images from real camera files with the real tools,
// run cardrescue and its peers (PhotoRec, foremost, tsk_recover, scalpel) on each, and score
// every output against the originals by content. See bench/README.md.
//
//   sudo node bench/recovery.mjs [--quick] [--keep] [--scenario NAME[,NAME]] [--tool NAME[,NAME]]
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildCorpus, moreShots, nameFiles, totalSize } from './lib/corpus.mjs';
import { SCENARIOS, releaseStale } from './lib/images.mjs';
import { locateOriginals } from './lib/locate.mjs';
import { makeTools } from './lib/tools.mjs';
import { makeOriginalIndex, scoreOutput } from './lib/score.mjs';
import { log, which, fmtMB } from './lib/util.mjs';

const benchDir = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.resolve(benchDir, '..');
const workDir = path.join(benchDir, 'work');
const samples = path.resolve(process.env.BENCH_SAMPLES ?? path.join(repoRoot, '..', 'shared', 'samples'));

// ---- arguments ------------------------------------------------------------------------------
const argv = process.argv.slice(2);
const flag = (f) => argv.includes(f);
const listArg = (f) => {
  const i = argv.indexOf(f);
  return i >= 0 && argv[i + 1] ? argv[i + 1].split(',') : null;
};
if (flag('--help') || flag('-h')) {
  console.log(`usage: node bench/recovery.mjs [--quick] [--keep] [--scenario a,b] [--tool x,y]
  --quick     fewer files, <= 100 MiB images (about a minute)
  --keep      keep images and tool outputs under bench/work/
  --scenario  only these scenarios: ${SCENARIOS.map((s) => s.name).join(', ')}
  --tool      only these tools: cardrescue, photorec, foremost, tsk_recover, scalpel
needs root (loop devices, FUSE mount). Results: stdout tables + bench/work/results.json`);
  process.exit(0);
}
const quick = flag('--quick');
const keep = flag('--keep');
const onlyScenarios = listArg('--scenario');
const onlyTools = listArg('--tool');
const timeoutSec = quick ? 300 : 1200;

// ---- preflight: root, tools, samples --------------------------------------------------------
function preflight(tools) {
  const problems = [];
  if (process.getuid?.() !== 0) problems.push('must run as root (losetup, mount.exfat-fuse): sudo node bench/recovery.mjs');
  const needed = {
    'mkfs.fat': 'dosfstools', mcopy: 'mtools', mmd: 'mtools', mdel: 'mtools', sfdisk: 'fdisk',
    losetup: 'mount', umount: 'mount', dd: 'coreutils', 'mkfs.exfat': 'exfatprogs',
    'mount.exfat-fuse': 'exfat-fuse', convert: 'imagemagick', exiftool: 'libimage-exiftool-perl',
    python3: 'python3',
  };
  for (const t of tools.filter((t) => !t.optional)) for (const c of t.cmds) if (t.apt) needed[c] = t.apt;
  const missing = Object.entries(needed).filter(([cmd]) => !which(cmd));
  if (missing.length) {
    problems.push(`missing: ${missing.map(([c]) => c).join(', ')}\n  install: apt-get install -y ${[...new Set(missing.map(([, p]) => p))].join(' ')}`);
  }
  if (!fs.existsSync(path.join(samples, 'README.md'))) problems.push(`camera samples not found at ${samples} (set BENCH_SAMPLES)`);
  if (problems.length) {
    console.error(`bench/recovery.mjs cannot run:\n- ${problems.join('\n- ')}`);
    process.exit(1);
  }
  for (const t of tools.filter((t) => t.optional && !t.cmds.every(which))) {
    log(`optional tool ${t.name} not installed (apt-get install -y ${t.apt}); skipping it`);
  }
}

// ---- output formatting ----------------------------------------------------------------------
const COLS = ['tool', 'outputs', 'intact originals', 'byte-exact', 'original name+folder', 'trailing garbage', 'truncated', 'duplicate', 'junk', 'wall time (s)'];
const row = (sc, r) => [r.tool, r.outputs, sc.counts.intact, r.exact, r.named, r.trailing, r.truncated, r.duplicate, r.junk, r.seconds.toFixed(2)];

function textTable(rows) {
  const all = [COLS, ...rows].map((r) => r.map(String));
  const w = COLS.map((_, i) => Math.max(...all.map((r) => r[i].length)));
  const line = (r) => r.map((c, i) => (i === 0 ? c.padEnd(w[i]) : c.padStart(w[i]))).join(' | ');
  return [line(all[0]), w.map((n) => '-'.repeat(n)).join('-|-'), ...all.slice(1).map(line)].join('\n');
}

function markdown(results) {
  const head = ['scenario', 'originals (intact)', ...COLS.filter((c) => c !== 'intact originals' && c !== 'outputs')];
  const lines = [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`];
  for (const sc of results.scenarios) {
    for (const r of sc.tools) {
      lines.push(`| ${sc.name} | ${sc.counts.total} (${sc.counts.intact}) | ${r.tool} | ${r.exact} | ${r.named} | ${r.trailing} | ${r.truncated} | ${r.duplicate} | ${r.junk} | ${r.seconds.toFixed(2)} |`);
    }
  }
  return lines.join('\n');
}

/** Summary of cardrescue's own report.json (provenance/status counts), if it wrote one. */
function cardrescueReport(out) {
  try {
    const rep = JSON.parse(fs.readFileSync(path.join(out, 'report.json'), 'utf8'));
    const tally = (k) => rep.files.reduce((m, f) => ((m[f[k]] = (m[f[k]] ?? 0) + 1), m), {});
    return { files: rep.files.length, provenance: tally('provenance'), status: tally('status') };
  } catch (e) {
    return { error: String(e.message ?? e) };
  }
}

// ---- main -----------------------------------------------------------------------------------
const tools = makeTools({ repoRoot, workDir }).filter((t) => !onlyTools || onlyTools.includes(t.name));
preflight(tools);
const active = tools.filter((t) => t.cmds.every(which));
fs.mkdirSync(workDir, { recursive: true });

const cliProblem = active.find((t) => t.name === 'cardrescue')?.check();
if (cliProblem) log(`WARNING: ${cliProblem} (cardrescue will score 0)`);

const t0 = Date.now();
const shots = buildCorpus({ samples, workDir, quick });
const results = {
  date: new Date().toISOString(), mode: quick ? 'quick' : 'full', samples,
  tools: Object.fromEntries(active.map((t) => [t.name, t.name === 'cardrescue' ? 'dist/src/cli.js' : which(t.cmds[0])])),
  scenarios: [],
};

for (const [i, def] of SCENARIOS.entries()) {
  if (onlyScenarios && !onlyScenarios.includes(def.name)) continue;
  const dir = path.join(workDir, def.name);
  releaseStale(dir);
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });

  const chosen = def.noBigCr3 ? shots.filter((s) => !s.files.some((f) => f.origin.includes('complete-bmff'))) : shots;
  const size = quick ? def.size.quick : def.size.full;
  const placed = nameFiles(chosen, 1000 + i);
  const refill = (bytes) => nameFiles(moreShots({ samples, workDir, quick, bytes }), 2000 + i, chosen.length + 1);
  log(`${def.name}: building ${size === 'fit' ? 'a just-big-enough' : fmtMB(size)} image with ${placed.length} files (${fmtMB(totalSize(placed))})`);
  const sc = def.build({ image: path.join(dir, `${def.name}.img`), size, files: placed, workDir: dir, refill });
  const files = sc.files;
  const imageSize = fs.statSync(sc.image).size;

  log(`${def.name}: locating the originals on the image`);
  const where = locateOriginals(sc.image, files, sc);
  files.forEach((f, k) => Object.assign(f, where[k]));
  const counts = { total: files.length, deleted: files.filter((f) => f.deleted).length };
  for (const s of ['intact', 'fragmented', 'partial', 'absent']) counts[s] = files.filter((f) => f.status === s).length;
  const scRes = {
    name: def.name, imageSize, partitionOffset: sc.partitionOffset, dataStart: sc.dataStart,
    clusterSize: sc.clusterSize, steps: sc.steps, counts, tools: [],
    originals: files.map((f) => ({
      name: f.name, origin: f.origin, size: f.size, sha256: f.sha256, deleted: !!f.deleted, written_after_delete: !!f.refill,
      status: f.status, offset: f.offset, presentFraction: f.presentFraction, recovered: {},
    })),
  };

  const idx = makeOriginalIndex(files);
  for (const tool of active) {
    const out = path.join(dir, `out-${tool.name}`);
    fs.rmSync(out, { recursive: true, force: true });
    log(`${def.name}: running ${tool.name}`);
    const r = tool.name === 'cardrescue' && cliProblem
      ? { seconds: 0, exit: null, note: cliProblem }
      : tool.run(sc, out, { timeoutSec });
    const s = scoreOutput(out, idx, tool.ignore);
    s.perOriginal.forEach((k, n) => { if (k) scRes.originals[n].recovered[tool.name] = k; });
    const entry = { tool: tool.name, seconds: r.seconds, exit: r.exit, note: r.note || undefined, ...s, perOriginal: undefined };
    if (tool.name === 'cardrescue') entry.report = cardrescueReport(out);
    scRes.tools.push(entry);
    if (!keep) fs.rmSync(out, { recursive: true, force: true });
  }

  console.log(`\n## ${def.name} — ${fmtMB(imageSize)} image, ${counts.total} originals on it: ${counts.intact} intact-contiguous, ` +
    `${counts.fragmented} fragmented, ${counts.partial} partially overwritten, ${counts.absent} absent; ${counts.deleted} deleted before the damage`);
  console.log(`   ${sc.steps.join(' → ')}`);
  console.log(textTable(scRes.tools.map((r) => row(scRes, r))));
  for (const r of scRes.tools.filter((r) => r.note)) console.log(`   note: ${r.tool}: ${r.note}`);
  results.scenarios.push(scRes);
  if (!keep) fs.rmSync(dir, { recursive: true, force: true });
}

results.seconds = Math.round((Date.now() - t0) / 1000);
fs.writeFileSync(path.join(workDir, 'results.json'), JSON.stringify(results, null, 2) + '\n');
if (!keep) fs.rmSync(path.join(workDir, 'corpus'), { recursive: true, force: true });
console.log(`\nTotal ${results.seconds} s (${results.mode} run); details in ${path.relative(process.cwd(), path.join(workDir, 'results.json'))}\n`);
console.log(markdown(results));
