import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import crypto from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const FIXTURES = path.join(ROOT, 'fixtures');
export const SAMPLES = path.resolve(ROOT, '../shared/samples');
export const CLI = path.join(ROOT, 'dist/cardrescue.js');

export interface ManifestFile {
  path: string;
  size: number;
  sha256: string;
  mtime: string;
  state: 'live' | 'deleted' | 'orphan' | 'orphan-lost-folder' | 'carved' | 'overwritten';
}

export interface Manifest {
  image: string;
  fs: string;
  table: 'mbr' | 'gpt' | 'none';
  partitionOffset: number;
  clusterSize?: number;
  label?: string;
  files: ManifestFile[];
  directories?: string[];
}

let scratch: string | undefined;
/**
 * One temp folder per test worker. It lives inside the run's folder made by the
 * global setup, which removes it after the run: forked workers are often ended
 * without an 'exit' event, so their own cleanup cannot be trusted.
 */
export function tempDir(prefix = 'cardrescue-test-'): string {
  scratch ??= fs.mkdtempSync(path.join(process.env.CARDRESCUE_TEST_TMP ?? os.tmpdir(), prefix));
  return scratch;
}
process.on('exit', () => {
  if (scratch) fs.rmSync(scratch, { recursive: true, force: true });
});

const unpacked = new Map<string, string>();
/** The raw image of a committed fixture, decompressed once into the worker's temp folder. */
export function fixtureImage(name: string): string {
  const cached = unpacked.get(name);
  if (cached) return cached;
  const target = path.join(tempDir(), `${name}.img`);
  fs.writeFileSync(target, zlib.gunzipSync(fs.readFileSync(path.join(FIXTURES, `${name}.img.gz`))));
  unpacked.set(name, target);
  return target;
}

export function manifest(name: string): Manifest {
  return JSON.parse(fs.readFileSync(path.join(FIXTURES, `${name}.manifest.json`), 'utf8')) as Manifest;
}

/** Deterministic random-looking bytes (xorshift32): what a used card holds between files. */
export function noise(length: number, seed: number): Buffer {
  const b = Buffer.allocUnsafe(length);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    b[i] = x & 0xff;
  }
  return b;
}

export function sha256(data: Buffer): string {
  return crypto.createHash('sha256').update(data).digest('hex');
}

export function sha256File(p: string): string {
  return sha256(fs.readFileSync(p));
}

export interface CliResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

export function runCli(args: string[], env: Record<string, string> = {}): CliResult {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', env: { ...process.env, TZ: 'UTC', NO_COLOR: '1', ...env } });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Every file under `root`, at any depth. */
export function filesUnder(root: string): string[] {
  return fs.readdirSync(root, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? filesUnder(path.join(root, e.name)) : [path.join(root, e.name)]));
}

/** `cardrescue recover image --out out -q`, and the sha256 of every file it wrote. */
export function recoverHashes(image: string, out: string): CliResult & { hashes: Set<string> } {
  const r = runCli(['recover', image, '--out', out, '-q']);
  return { ...r, hashes: new Set(fs.existsSync(out) ? filesUnder(out).map((f) => sha256(fs.readFileSync(f))) : []) };
}

export function freshOut(label: string): string {
  return fs.mkdtempSync(path.join(tempDir(), `${label}-`));
}

export const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;

/** Are these commands on the PATH? */
export function haveCommands(...commands: string[]): boolean {
  return commands.every((t) => spawnSync('sh', ['-c', `command -v ${t}`]).status === 0);
}

/** Run a command that must succeed (stdin `input`); its stdout. MTOOLS_SKIP_CHECK and TZ=UTC for mtools. */
export function runTool(cmd: string, args: string[], input?: Buffer): Buffer {
  const r = spawnSync(cmd, args, { input, env: { ...process.env, MTOOLS_SKIP_CHECK: '1', TZ: 'UTC' } });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

/** A real JPEG (cjpeg, libjpeg-turbo-progs) of noise, w × h pixels. */
export function noisePhoto(w: number, h: number, seed: number): Buffer {
  const ppm = Buffer.concat([Buffer.from(`P6\n${w} ${h}\n255\n`, 'latin1'), noise(w * h * 3, seed)]);
  return runTool('cjpeg', ['-quality', '85'], ppm);
}

/**
 * A FAT card image made by the real tools (mkfs.fat, mmd, mcopy): `photos` copied into
 * /DCIM/100TEST as IMG_0000.JPG, IMG_0001.JPG, ... `mkfs` is mkfs.fat's options (-F, -s, -i ...).
 */
export function photoCard(dir: string, sizeMiB: number, mkfs: string[], photos: Buffer[]): { img: string; names: string[] } {
  const img = path.join(dir, 'card.img');
  fs.writeFileSync(img, Buffer.alloc(sizeMiB * 1024 * 1024));
  runTool('mkfs.fat', [...mkfs, '-n', 'CARD', img]);
  runTool('mmd', ['-i', img, '::DCIM', '::DCIM/100TEST']);
  const names = photos.map((_, i) => `IMG_${String(i).padStart(4, '0')}.JPG`);
  photos.forEach((p, i) => fs.writeFileSync(path.join(dir, names[i]), p));
  runTool('mcopy', ['-i', img, ...names.map((n) => path.join(dir, n)), '::DCIM/100TEST/']);
  return { img, names };
}
