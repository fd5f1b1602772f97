import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { freshOut, haveCommands, noisePhoto, runCli, runTool, sha256 } from './support/fixtures.js';
import type { Report } from '../src/report.js';

/**
 * A folder deleted whole on a card that is still in use (mdeltree: every entry 0xE5, the
 * chains freed). The folder grew while photos were copied into it, so its later clusters
 * lie after the photos' data, not after its first cluster: the names in them are found only
 * by looking past that data. The card is made by mkfs.fat and mtools, the photos by cjpeg.
 */
const haveTools = haveCommands('mkfs.fat', 'mcopy', 'mmd', 'mdeltree', 'mshowfat', 'cjpeg');

const COUNT = 45;
const nameOf = (i: number) => `Holiday photo number ${String(i).padStart(4, '0')} at the seaside.jpg`;

function scenario() {
  const dir = freshOut('deleted-folder');
  const img = path.join(dir, 'card.img');
  fs.writeFileSync(img, Buffer.alloc(24 * 1024 * 1024));
  runTool('mkfs.fat', ['-F', '16', '-s', '4', '-i', '0C0FFEE3', '-n', 'CARD', img]);
  runTool('mmd', ['-i', img, '::DCIM', '::DCIM/100TEST']);
  const originals = new Map<string, string>();
  for (let i = 1; i <= COUNT; i++) {
    const bytes = noisePhoto(60 + ((i * 37) % 90), 60 + ((i * 53) % 70), i);
    const file = path.join(dir, `p${i}.jpg`);
    fs.writeFileSync(file, bytes);
    runTool('mcopy', ['-i', img, file, `::DCIM/100TEST/${nameOf(i)}`]);
    originals.set(nameOf(i), sha256(bytes));
  }
  // Long names take 4 slots each: 45 of them fill three 2 KiB clusters of the folder.
  const chain = [...runTool('mshowfat', ['-i', img, '::DCIM/100TEST']).toString().matchAll(/<(\d+)(?:-(\d+))?>/g)].flatMap((m) => {
    const a = Number(m[1]);
    const b = m[2] ? Number(m[2]) : a;
    return Array.from({ length: b - a + 1 }, (_, k) => a + k);
  });
  runTool('mdeltree', ['-i', img, '::DCIM/100TEST']);
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
