import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { freshOut, noise, runCli, sha256 } from './support/fixtures.js';
import type { Report } from '../src/report.js';

/**
 * A folder deleted whole on a card that is still in use (mdeltree: every entry 0xE5, the
 * chains freed). The folder grew while photos were copied into it, so its later clusters
 * lie after the photos' data, not after its first cluster: the names in them are found only
 * by looking past that data. The card is made by mkfs.fat and mtools, the photos by cjpeg.
 */
const haveTools = ['mkfs.fat', 'mcopy', 'mmd', 'mdeltree', 'mshowfat', 'cjpeg'].every((t) => spawnSync('sh', ['-c', `command -v ${t}`]).status === 0);

function run(cmd: string, args: string[], input?: Buffer): Buffer {
  const r = spawnSync(cmd, args, { input, env: { ...process.env, MTOOLS_SKIP_CHECK: '1', TZ: 'UTC' } });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

/** A real JPEG of noise, w × h pixels. */
function photo(w: number, h: number, seed: number): Buffer {
  const ppm = Buffer.concat([Buffer.from(`P6\n${w} ${h}\n255\n`, 'latin1'), noise(w * h * 3, seed)]);
  return run('cjpeg', ['-quality', '85'], ppm);
}

const COUNT = 45;
const nameOf = (i: number) => `Holiday photo number ${String(i).padStart(4, '0')} at the seaside.jpg`;

function scenario() {
  const dir = freshOut('deleted-folder');
  const img = path.join(dir, 'card.img');
  fs.writeFileSync(img, Buffer.alloc(24 * 1024 * 1024));
  run('mkfs.fat', ['-F', '16', '-s', '4', '-i', '0C0FFEE3', '-n', 'CARD', img]);
  run('mmd', ['-i', img, '::DCIM', '::DCIM/100TEST']);
  const originals = new Map<string, string>();
  for (let i = 1; i <= COUNT; i++) {
    const bytes = photo(60 + ((i * 37) % 90), 60 + ((i * 53) % 70), i);
    const file = path.join(dir, `p${i}.jpg`);
    fs.writeFileSync(file, bytes);
    run('mcopy', ['-i', img, file, `::DCIM/100TEST/${nameOf(i)}`]);
    originals.set(nameOf(i), sha256(bytes));
  }
  // Long names take 4 slots each: 45 of them fill three 2 KiB clusters of the folder.
  const chain = [...run('mshowfat', ['-i', img, '::DCIM/100TEST']).toString().matchAll(/<(\d+)(?:-(\d+))?>/g)].flatMap((m) => {
    const a = Number(m[1]);
    const b = m[2] ? Number(m[2]) : a;
    return Array.from({ length: b - a + 1 }, (_, k) => a + k);
  });
  run('mdeltree', ['-i', img, '::DCIM/100TEST']);
  const out = path.join(dir, 'out');
  const r = runCli(['recover', img, '--out', out]);
  const report = JSON.parse(fs.readFileSync(path.join(out, 'report.json'), 'utf8')) as Report;
  return { chain, originals, out, r, report };
}

describe.runIf(haveTools)('a folder deleted whole on a card still in use', () => {
  const { chain, originals, out, r, report } = haveTools ? scenario() : ({} as ReturnType<typeof scenario>);

  it('the folder had clusters apart from each other, with photos between them', () => {
    expect(chain.length).toBeGreaterThanOrEqual(3);
    expect(chain.some((c, i) => i > 0 && c !== chain[i - 1] + 1)).toBe(true);
  });

  it('every photo comes back under its own name, byte for byte, as a deleted file', () => {
    expect(r.status).toBe(0);
    const deleted = report.files.filter((f) => f.provenance === 'deleted');
    expect(deleted.map((f) => f.name).sort()).toEqual([...originals.keys()].sort());
    for (const f of deleted) {
      // The folder's 8.3 name lost its first character; DCF numbering gives it back.
      expect(f.originalPath, f.name).toBe(`/DCIM/100TEST/${f.name}`);
      expect(f.status, f.name).toBe('ok');
      expect(sha256(fs.readFileSync(path.join(out, f.path!))), f.name).toBe(originals.get(f.name));
    }
    expect(report.files.filter((f) => f.provenance === 'carved')).toEqual([]);
  });
});
