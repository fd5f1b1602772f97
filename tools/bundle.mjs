#!/usr/bin/env node
// Join the compiled CLI (dist/src/main.js and everything it imports; tsc type-checks and emits
// dist/) into one CommonJS file, dist/cardrescue-bundle.cjs, and make V8's code cache for it.
// `cardrescue` is dist/cardrescue.js, which runs the bundle through src/launch/load.ts.
//
// Why so: Node loads one file much faster than ~75 ES modules (about 80 ms less at every
// start, a fifth of listing a 2 GiB card), and one CommonJS file faster than ES module
// chunks (their linking, and `node:` imports, which each build an ES module facade). The
// code cache saves compiling each function when it is first called. `list` of the 2 GiB
// bench card, warm, fastest of ten: 0.68 s, against 0.70 s for the CommonJS file without the
// cache and 0.75 s for ES module chunks (docs/performance.md).
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import fs from 'node:fs';
import os from 'node:os';
import zlib from 'node:zlib';
import { spawnSync } from 'node:child_process';
import { build } from 'esbuild';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const distDir = path.resolve(process.argv[2] ?? path.join(root, 'dist'));

// What earlier layouts left (ES module chunks), so that nothing stale is ever loaded.
for (const f of fs.readdirSync(distDir)) if (/^cardrescue[-.].*\.(c?js|map|cache)$/.test(f)) fs.rmSync(path.join(distDir, f));

const common = { bundle: true, platform: 'node', format: 'cjs', target: 'node20', logLevel: 'warning' };
await build({
  ...common,
  entryPoints: [path.join(distDir, 'src/main.js')],
  outfile: path.join(distDir, 'cardrescue-bundle.cjs'),
  // The native addon stays a separate package, loaded (or missed) at run time.
  external: ['fs-ext'],
  // The modules are ES modules: strict, as they were written (esbuild's own "use strict" would
  // come after the banner, where it is no directive), and their import.meta.url is the bundle's own.
  define: { 'import.meta.url': '__cardrescueUrl' },
  banner: { js: "'use strict';\nvar __cardrescueUrl = require('node:url').pathToFileURL(__filename).href;" },
  sourcemap: 'linked',
  // Without comments and spaces the file is 469 KB, not 717 KB: `--version` started in
  // 0.155-0.165 s against 0.170-0.180 s, with ~860 fewer page faults (each ~11 us on the VM
  // the benchmark runs on). Names stay, so stack traces still read; the map has the lines.
  minifyWhitespace: true,
  minifySyntax: true,
  legalComments: 'none',
});
// The launcher, on its own: it starts a scan's reading thread before it reads the bundle.
await build({
  ...common,
  entryPoints: [path.join(distDir, 'src/launch/load.js')],
  outfile: path.join(distDir, 'cardrescue-load.cjs'),
  define: { 'import.meta.url': '__cardrescueUrl' },
  banner: { js: "'use strict';\nvar __cardrescueUrl = require('node:url').pathToFileURL(__filename).href;" },
});
// The command, CommonJS: an ES module entry costs ~8 ms more at every start (the ES module
// loader, and libuv's thread pool, which it starts to read the file). dist/package.json makes
// dist/cardrescue.js CommonJS; tsc's output below it (src/, carvers/, parsers/: what
// `npm run demo` and `npm run fuzz` run) stays ES modules, as the package declares.
const entry = path.join(distDir, 'cardrescue.js');
fs.writeFileSync(path.join(distDir, 'package.json'), `${JSON.stringify({ private: true, type: 'commonjs' })}\n`);
for (const d of fs.readdirSync(distDir, { withFileTypes: true })) {
  if (d.isDirectory()) fs.writeFileSync(path.join(distDir, d.name, 'package.json'), `${JSON.stringify({ private: true, type: 'module' })}\n`);
}
fs.writeFileSync(entry, "#!/usr/bin/env node\n// The command (package.json \"bin\"). See src/launch/load.ts.\nrequire('./cardrescue-load.cjs');\n");
fs.chmodSync(entry, 0o755);

// The code cache, from a `list` of the demo card (FAT32, old and deleted files, photos and
// videos to carve). Without it the tool works the same, only starts slower: a failure here is
// reported, not fatal.
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'cardrescue-bundle-'));
try {
  const card = path.join(work, 'demo-card.img');
  fs.writeFileSync(card, zlib.gunzipSync(fs.readFileSync(path.join(root, 'fixtures/demo-card.img.gz'))));
  const run = spawnSync(process.execPath, [entry, 'list', '-q', card], { env: { ...process.env, CARDRESCUE_CODE_CACHE: 'write' }, stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
  if (!fs.existsSync(path.join(distDir, 'cardrescue-bundle.cache'))) {
    console.warn(`tools/bundle.mjs: no code cache made (the tool will start slower): exit ${run.status} ${(run.stderr || '').trim().split('\n')[0] ?? ''}`);
  }
} finally {
  fs.rmSync(work, { recursive: true, force: true });
}
