/**
 * What `cardrescue` runs (dist/cardrescue.js requires this, built to dist/cardrescue-load.cjs
 * by tools/bundle.mjs): the tool's one-file bundle, compiled with V8's code cache.
 *
 * A command that scans has its reading threads started first, before the bundle is read and
 * compiled: they boot meanwhile (src/source/read-ahead-thread.ts). V8's helper threads are
 * given the lowest priority before that (src/launch/helper-threads.ts).
 *
 * The cache is made at build time, after a `list` of the demo card, so it holds the compiled
 * code of every function that run used, not only the top level: without it each function is
 * compiled the first time it is called, all through the run (about 20 ms of a `list` of the
 * 2 GiB bench card). V8 checks the cache against its own version, flags and the source, and
 * compiles as usual when it does not match (a new Node, `--cpu-prof`): slower, never wrong.
 * The cache is only written when asked (CARDRESCUE_CODE_CACHE=write, by the build), never
 * by a user's run.
 */
import fs from 'node:fs';
import path from 'node:path';
import vm from 'node:vm';
import nodeModule from 'node:module';
import { fileURLToPath } from 'node:url';
import { scansByCommandLine } from './scans.js';
import { spawnEarly } from '../source/read-ahead-thread.js';
import { lowerHelperThreads } from './helper-threads.js';

// Before the reading threads are started: they keep the main thread's priority.
(globalThis as Record<symbol, unknown>)[Symbol.for('cardrescue.helperThreads')] = lowerHelperThreads();
if (scansByCommandLine(process.argv.slice(2))) spawnEarly();

const here = path.dirname(fileURLToPath(import.meta.url));
const bundle = path.join(here, 'cardrescue-bundle.cjs');
const cacheFile = path.join(here, 'cardrescue-bundle.cache');
const writing = process.env.CARDRESCUE_CODE_CACHE === 'write';

let cachedData: Buffer | undefined;
if (!writing) {
  try {
    cachedData = fs.readFileSync(cacheFile);
  } catch {
    // No cache (not built, or removed): compiled as it runs.
  }
}
// Wrapped as Node wraps a CommonJS module, on the first line, so line numbers stay right.
const script = new vm.Script(`(function (exports, require, module, __filename, __dirname) {${fs.readFileSync(bundle, 'utf8')}\n})`, { filename: bundle, cachedData });
// For CARDRESCUE_TIMING (src/timing.ts) and the test that the built cache is taken.
(globalThis as Record<symbol, unknown>)[Symbol.for('cardrescue.codeCache')] = cachedData ? (script.cachedDataRejected ? 'rejected' : 'used') : 'none';
if (writing) {
  process.once('exit', () => {
    const tmp = `${cacheFile}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, script.createCachedData());
    fs.renameSync(tmp, cacheFile);
  });
}
const bundleModule = { exports: {} };
(script.runInThisContext() as (...args: unknown[]) => void).call(bundleModule.exports, bundleModule.exports, nodeModule.createRequire(bundle), bundleModule, bundle, here);
