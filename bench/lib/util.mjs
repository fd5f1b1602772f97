// Small helpers shared by the benchmark: running commands, hashing, walking directories.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

/** Progress messages go to stderr so stdout stays tables only. */
export const log = (...args) => console.error('[bench]', ...args);

/**
 * Run a command synchronously. Throws (with stderr) on a non-zero exit unless `check: false`.
 * Returns { status, stdout, stderr, seconds, timedOut }.
 */
export function run(cmd, args, { check = true, cwd, env, input, timeoutSec, quiet = true } = {}) {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(cmd, args, {
    cwd,
    input,
    env: { ...process.env, ...env },
    encoding: 'utf8',
    maxBuffer: 256 * 1024 * 1024,
    timeout: timeoutSec ? timeoutSec * 1000 : undefined,
    killSignal: 'SIGKILL',
    stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
  });
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const res = {
    status: r.status,
    stdout: r.stdout ?? '',
    stderr: r.stderr ?? '',
    seconds,
    timedOut: r.error?.code === 'ETIMEDOUT' || (r.signal === 'SIGKILL' && !!timeoutSec),
    error: r.error,
  };
  if (!quiet) process.stderr.write(res.stdout + res.stderr);
  if (check && (r.error || r.status !== 0)) {
    const why = r.error ? r.error.message : `exit ${r.status}`;
    throw new Error(`${cmd} ${args.join(' ')} failed (${why}):\n${res.stderr.slice(-2000)}`);
  }
  return res;
}

/** Absolute path of an executable on PATH, or null. */
export function which(cmd) {
  for (const dir of (process.env.PATH ?? '').split(':')) {
    const p = path.join(dir || '.', cmd);
    try {
      fs.accessSync(p, fs.constants.X_OK);
      return p;
    } catch { /* keep looking */ }
  }
  return null;
}

export const sha256 = (buf) => createHash('sha256').update(buf).digest('hex');

/** All regular files below dir (recursive), as absolute paths, sorted. */
export function walk(dir) {
  const out = [];
  if (!fs.existsSync(dir)) return out;
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...walk(p));
    else if (e.isFile()) out.push(p);
  }
  return out.sort();
}

/** Deterministic PRNG (mulberry32) so scenario layouts are reproducible. */
export function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function shuffle(arr, seed) {
  const rnd = prng(seed);
  const a = [...arr];
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1));
    [a[i], a[j]] = [a[j], a[i]];
  }
  return a;
}

export const MiB = 1024 * 1024;
export const fmtMB = (n) => `${(n / MiB).toFixed(1)} MiB`;
