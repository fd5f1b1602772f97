import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import crypto from 'node:crypto';
import { fileURLToPath } from 'node:url';
import type { Known } from './check.js';

/** The repository root: where package.json says cardrescue (works from src/ and dist/src/). */
export function projectRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pkg = path.join(dir, 'package.json');
    if (fs.existsSync(pkg) && (JSON.parse(fs.readFileSync(pkg, 'utf8')) as { name?: string }).name === 'cardrescue') return dir;
    const up = path.dirname(dir);
    if (up === dir) throw new Error('cannot find the cardrescue project root');
    dir = up;
  }
}

export const fixturesDir = () => path.join(projectRoot(), 'fixtures');

/** Names of the committed fixture images (fixtures/<name>.img.gz). */
export function fixtureNames(): string[] {
  return fs
    .readdirSync(fixturesDir())
    .filter((f) => f.endsWith('.img.gz'))
    .map((f) => f.slice(0, -'.img.gz'.length))
    .sort();
}

export function loadFixture(name: string): Buffer {
  return zlib.gunzipSync(fs.readFileSync(path.join(fixturesDir(), `${name}.img.gz`)));
}

/** What the fixture's manifest says its files are, when it has one. */
export function knownFiles(name: string): Known | undefined {
  const p = path.join(fixturesDir(), `${name}.manifest.json`);
  if (!fs.existsSync(p)) return undefined;
  const m = JSON.parse(fs.readFileSync(p, 'utf8')) as { files?: { sha256: string; size: number }[] };
  const files = m.files ?? [];
  return { shas: new Set(files.map((f) => f.sha256)), sizes: new Set(files.map((f) => f.size)) };
}

export function sha256(data: Buffer): string {
  return crypto.createHash('sha256').update(data).digest('hex');
}

/** sha256 of every fixtures/*.img.gz: the fuzzer and the test suite check they never change. */
export function fixtureHashes(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of fixtureNames()) out[name] = sha256(fs.readFileSync(path.join(fixturesDir(), `${name}.img.gz`)));
  return out;
}
