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
// BENCH_WORK: another work folder (e.g. when two runs share a checkout; both would use bench/work)
const workDir = path.resolve(process.env.BENCH_WORK ?? path.join(benchDir, 'work'));
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
// "intact originals": contiguous on the image; "fragmented": every cluster still on the image, not
// in one run (the intact fragmented originals); "fragmented exact": how many of those the tool
// recovered byte-exact; "filler": outputs that are one of the filler files of the fragmented
// scenarios ('-' where there are none).
const COLS = ['tool', 'outputs', 'intact originals', 'byte-exact', 'original name+folder', 'fragmented', 'fragmented exact',
  'trailing garbage', 'truncated', 'duplicate', 'filler', 'junk', 'wall time (s)'];
const row = (sc, r) => [r.tool, r.outputs, sc.counts.intact, r.exact, r.named, sc.counts.fragmented, r.fragmented.exact,
  r.trailing, r.truncated, r.duplicate, sc.fillers ? r.filler : '-', r.junk, r.seconds.toFixed(2)];

function textTable(rows, cols = COLS) {
  const all = [cols, ...rows].map((r) => r.map(String));
  const w = cols.map((_, i) => Math.max(...all.map((r) => r[i].length)));
  const line = (r) => r.map((c, i) => (i === 0 ? c.padEnd(w[i]) : c.padStart(w[i]))).join(' | ');
  return [line(all[0]), w.map((n) => '-'.repeat(n)).join('-|-'), ...all.slice(1).map(line)].join('\n');
}

const pct = (a, b) => (b ? `${((100 * a) / b).toFixed(1)}%` : 'n/a');

function markdown(results) {
  const head = ['scenario', 'originals (intact, fragmented)', ...COLS.filter((c) => !['intact originals', 'outputs', 'fragmented'].includes(c))];
  const lines = [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`];
  for (const sc of results.scenarios) {
    for (const r of sc.tools) {
      lines.push(`| ${sc.name} | ${sc.counts.total} (${sc.counts.intact}, ${sc.counts.fragmented}) | ${r.tool} | ${r.exact} | ${r.named} | ` +
        `${r.fragmented.exact} | ${r.trailing} | ${r.truncated} | ${r.duplicate} | ${sc.fillers ? r.filler : '-'} | ${r.junk} | ${r.seconds.toFixed(2)} |`);
    }
  }
  return lines.join('\n');
}

// Fragmented originals broken down by type and by number of pieces: "exact/total" per tool.
const FRAG_KINDS = ['jpeg', 'mov', 'mp4', 'cr3'];
const pieceClass = (n) => (n >= 4 ? '4+' : String(n));
function fragmentTable(scRes) {
  const frag = scRes.originals.filter((o) => o.status === 'fragmented');
  const kinds = [...FRAG_KINDS.filter((k) => frag.some((o) => o.kind === k)), ...new Set(frag.map((o) => o.kind).filter((k) => !FRAG_KINDS.includes(k)))];
  const pcs = ['2', '3', '4+'].filter((p) => frag.some((o) => pieceClass(o.pieces) === p));
  const groups = [...kinds.map((k) => [k, (o) => o.kind === k]), ...pcs.map((p) => [`${p} pieces`, (o) => pieceClass(o.pieces) === p])];
  const cols = ['fragmented exact / total', ...groups.map(([g]) => `${g} (${frag.filter(groups.find((x) => x[0] === g)[1]).length})`), 'all'];
  const rows = scRes.tools.map((r) => [r.tool, ...groups.map(([, test]) => {
    const sub = frag.filter(test);
    return `${sub.filter((o) => o.recovered[r.tool] === 'exact').length}/${sub.length}`;
  }), `${r.fragmented.exact}/${frag.length} (${pct(r.fragmented.exact, frag.length)})`]);
  return textTable(rows, cols);
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

/**
 * Originals of the fragmented scenarios: the real JPEGs, the MOV/MP4 videos and the CR3s (the one
 * complete CR3 from complete-bmff seed 1 and the ExifTool-stripped M50 CR3); no AVI/HEIC/CR2/NEF
 * and no generated JPEGs.
 */
function fragmentedCorpus(shots) {
  return shots.filter((s) => s.files.every((f) =>
    (f.kind === 'jpeg' && !f.origin.startsWith('generated')) || f.kind === 'mov' || f.kind === 'mp4' ||
    (f.kind === 'cr3' && (f.origin.startsWith('structure/') || f.origin.endsWith('SEED=1')))));
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
  tools: Object.fromEntries(active.map((t) => [t.name, t.name === 'cardrescue' ? 'dist/cardrescue.js' : which(t.cmds[0])])),
  scenarios: [],
};

for (const [i, def] of SCENARIOS.entries()) {
  if (onlyScenarios && !onlyScenarios.includes(def.name)) continue;
  const dir = path.join(workDir, def.name);
  releaseStale(dir);
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });

  const chosen = def.corpus === 'fragmented' ? fragmentedCorpus(shots)
    : def.noBigCr3 ? shots.filter((s) => !s.files.some((f) => f.origin.includes('complete-bmff'))) : shots;
  const size = quick ? def.size.quick : def.size.full;
  const placed = nameFiles(chosen, 1000 + i);
  const refill = (bytes) => nameFiles(moreShots({ samples, workDir, quick, bytes }), 2000 + i, chosen.length + 1);
  log(`${def.name}: building ${size === 'fit' ? 'a just-big-enough' : fmtMB(size)} image with ${placed.length} files (${fmtMB(totalSize(placed))})`);
  const sc = def.build({ image: path.join(dir, `${def.name}.img`), size, files: placed, workDir: dir, refill,
    corpusDir: path.join(workDir, 'corpus'), seed: 3000 + i });
  const files = sc.files;
  const imageSize = fs.statSync(sc.image).size;

  log(`${def.name}: locating the originals on the image`);
  const where = locateOriginals(sc.image, files, sc);
  files.forEach((f, k) => Object.assign(f, where[k]));
  const counts = { total: files.length, deleted: files.filter((f) => f.deleted).length };
  for (const s of ['intact', 'fragmented', 'partial', 'absent']) counts[s] = files.filter((f) => f.status === s).length;
  const fillers = sc.fillers ?? [];
  const scRes = {
    name: def.name, imageSize, partitionOffset: sc.partitionOffset, dataStart: sc.dataStart,
    clusterSize: sc.clusterSize, steps: sc.steps, counts, tools: [],
    layout: sc.layout,
    fillers: fillers.length ? { count: fillers.length, bytes: fillers.reduce((a, f) => a + f.size, 0),
      kinds: fillers.reduce((m, f) => ((m[f.kind] = (m[f.kind] ?? 0) + 1), m), {}) } : undefined,
    originals: files.map((f, k) => ({
      name: f.name, origin: f.origin, kind: f.kind, size: f.size, sha256: f.sha256, deleted: !!f.deleted, written_after_delete: !!f.refill,
      status: f.status, offset: f.offset, presentFraction: f.presentFraction, pieces: f.pieces,
      plannedPieces: sc.layout?.plannedPieces?.[k], runs: f.runs, recovered: {},
    })),
  };

  const idx = makeOriginalIndex(files);
  const fillerIdx = makeOriginalIndex(fillers);
  for (const tool of active) {
    const out = path.join(dir, `out-${tool.name}`);
    fs.rmSync(out, { recursive: true, force: true });
    log(`${def.name}: running ${tool.name}`);
    const r = tool.name === 'cardrescue' && cliProblem
      ? { seconds: 0, exit: null, note: cliProblem }
      : tool.run(sc, out, { timeoutSec });
    const s = scoreOutput(out, idx, tool.ignore, fillerIdx);
    s.perOriginal.forEach((k, n) => { if (k) scRes.originals[n].recovered[tool.name] = k; });
    const fragmented = { total: counts.fragmented };
    for (const k of ['exact', 'trailing', 'truncated']) fragmented[k] = files.filter((f, n) => f.status === 'fragmented' && s.perOriginal[n] === k).length;
    const entry = { tool: tool.name, seconds: r.seconds, exit: r.exit, note: r.note || undefined, ...s, fragmented, perOriginal: undefined };
    if (tool.name === 'cardrescue') entry.report = cardrescueReport(out);
    scRes.tools.push(entry);
    if (!keep) fs.rmSync(out, { recursive: true, force: true });
  }

  console.log(`\n## ${def.name} — ${fmtMB(imageSize)} image, ${counts.total} originals on it: ${counts.intact} intact-contiguous, ` +
    `${counts.fragmented} fragmented, ${counts.partial} partially overwritten, ${counts.absent} absent; ${counts.deleted} deleted before the damage`);
  console.log(`   ${sc.steps.join(' → ')}`);
  if (counts.fragmented) {
    const byPieces = {};
    for (const f of files.filter((f) => f.status === 'fragmented')) byPieces[f.pieces] = (byPieces[f.pieces] ?? 0) + 1;
    const plannedOff = sc.layout ? files.filter((f, k) => (f.status === 'fragmented' || f.status === 'intact') && f.pieces !== sc.layout.plannedPieces[k]).length : 0;
    console.log(`   fragmented originals (all clusters on the image): ${Object.entries(byPieces).map(([p, n]) => `${n} in ${p} pieces`).join(', ')}` +
      (sc.layout ? `; ${plannedOff} of ${files.length} landed differently from the plan` : ''));
  }
  if (fillers.length) console.log(`   fillers: ${fillers.length} files, ${fmtMB(scRes.fillers.bytes)} (${Object.entries(scRes.fillers.kinds).map(([k, n]) => `${n} ${k}`).join(', ')})`);
  console.log(textTable(scRes.tools.map((r) => row(scRes, r))));
  for (const r of scRes.tools.filter((r) => r.note)) console.log(`   note: ${r.tool}: ${r.note}`);
  if (counts.fragmented) {
    console.log('');
    console.log(fragmentTable(scRes));
    const cr = scRes.tools.find((r) => r.tool === 'cardrescue');
    if (cr) console.log(`   cardrescue: ${cr.fragmented.exact} of ${counts.fragmented} intact fragmented originals byte-exact (${pct(cr.fragmented.exact, counts.fragmented)}), ${cr.junk} junk`);
  }
  results.scenarios.push(scRes);
  if (!keep) fs.rmSync(dir, { recursive: true, force: true });
}

results.seconds = Math.round((Date.now() - t0) / 1000);
fs.writeFileSync(path.join(workDir, 'results.json'), JSON.stringify(results, null, 2) + '\n');
if (!keep) fs.rmSync(path.join(workDir, 'corpus'), { recursive: true, force: true });
console.log(`\nTotal ${results.seconds} s (${results.mode} run); details in ${path.relative(process.cwd(), path.join(workDir, 'results.json'))}\n`);
console.log(markdown(results));

// The fragmented scenarios together: intact fragmented originals recovered byte-exact, and junk.
const fragScs = results.scenarios.filter((s) => SCENARIOS.find((d) => d.name === s.name)?.corpus === 'fragmented');
if (fragScs.length) {
  const total = fragScs.reduce((a, s) => a + s.counts.fragmented, 0);
  console.log(`\n## Fragmented scenarios together (${fragScs.map((s) => s.name).join(', ')}): ${total} intact fragmented originals\n`);
  const cols = ['tool', 'fragmented exact', '%', 'fragmented trailing garbage', 'fragmented truncated', 'junk'];
  const rows = active.map((t) => {
    const rs = fragScs.map((s) => s.tools.find((r) => r.tool === t.name)).filter(Boolean);
    const sum = (f) => rs.reduce((a, r) => a + f(r), 0);
    const exact = sum((r) => r.fragmented.exact);
    return [t.name, `${exact}/${total}`, pct(exact, total), sum((r) => r.fragmented.trailing), sum((r) => r.fragmented.truncated), sum((r) => r.junk)];
  });
  console.log(textTable(rows, cols));
  const cr = rows.find((r) => r[0] === 'cardrescue');
  if (cr) {
    const exact = Number(cr[1].split('/')[0]);
    const ok = total > 0 && exact >= 0.8 * total && cr[5] === 0;
    console.log(`\ncardrescue goal (>= 80% of the intact fragmented originals byte-exact, 0 junk): ${ok ? 'MET' : 'NOT MET'} (${cr[1]} = ${cr[2]}, ${cr[5]} junk)`);
  }
}
