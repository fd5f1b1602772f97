import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { freshOut, isRoot, noise, runCli, sha256 } from './support/fixtures.js';
import { exfatDriver } from '../parsers/exfat/index.js';
import type { Report } from '../src/report.js';

/**
 * The exFAT side of test/fat-deleted-folder.test.ts: a folder deleted whole (`rm -rf` through
 * exfat-fuse) on a card still in use. The folder grew while photos were copied into it, so its
 * second cluster lies after the data of the photo copied before, and exfat-fuse shrinks the
 * folder's DataLength as its files go: nothing but the entry set split across the two clusters
 * tells where the folder went on. Made with mkfs.exfat, exfat-fuse on a loop device, and cjpeg.
 */
const haveTools =
  isRoot && fs.existsSync('/dev/fuse') && ['mkfs.exfat', 'mount.exfat-fuse', 'losetup', 'umount', 'cjpeg'].every((t) => spawnSync('sh', ['-c', `command -v ${t}`]).status === 0);

function run(cmd: string, args: string[], input?: Buffer): Buffer {
  const r = spawnSync(cmd, args, { input });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

/** A real JPEG of noise, w × h pixels. */
function photo(w: number, h: number, seed: number): Buffer {
  const ppm = Buffer.concat([Buffer.from(`P6\n${w} ${h}\n255\n`, 'latin1'), noise(w * h * 3, seed)]);
  return run('cjpeg', ['-quality', '85'], ppm);
}

/** Mount `img` with exfat-fuse, run `work` on the mount point, unmount whatever happens. */
function mounted(img: string, work: (mnt: string) => void): void {
  const loop = run('losetup', ['-f', '--show', img]).toString().trim();
  const mnt = fs.mkdtempSync(path.join(path.dirname(img), 'mnt-'));
  try {
    run('mount.exfat-fuse', [loop, mnt]);
    try {
      work(mnt);
    } finally {
      run('umount', [mnt]);
    }
  } finally {
    spawnSync('losetup', ['-d', loop]);
    fs.rmdirSync(mnt);
  }
}

const COUNT = 45;
// 44 characters: a set of 5 entries (File, Stream Extension, 3 File Name), 25 of them and a
// part of the 26th fill a 4 KiB cluster.
const nameOf = (i: number) => `Holiday photo number ${String(i).padStart(4, '0')} at the seaside.jpg`;

function scenario() {
  const dir = freshOut('exfat-deleted-folder');
  const img = path.join(dir, 'card.img');
  fs.writeFileSync(img, Buffer.alloc(48 * 1024 * 1024));
  run('mkfs.exfat', ['-c', '4K', '-L', 'CARD', img]);
  const originals = new Map<string, string>();
  mounted(img, (mnt) => {
    const folder = path.join(mnt, 'DCIM', '100TEST');
    fs.mkdirSync(folder, { recursive: true });
    for (let i = 1; i <= COUNT; i++) {
      const bytes = photo(60 + ((i * 37) % 90), 60 + ((i * 53) % 70), i);
      fs.writeFileSync(path.join(folder, nameOf(i)), bytes);
      originals.set(nameOf(i), sha256(bytes));
    }
  });
  // The folder's clusters while it is live, from its FAT chain.
  const live = fs.readFileSync(img);
  const fsLive = exfatDriver.open({ size: live.length, read: (o, l) => live.subarray(o, Math.min(live.length, o + l)) });
  const extents = fsLive.entries.find((e) => e.isDirectory && e.name === '100TEST')?.extents ?? [];
  mounted(img, (mnt) => fs.rmSync(path.join(mnt, 'DCIM', '100TEST'), { recursive: true }));
  const out = path.join(dir, 'out');
  const r = runCli(['recover', img, '--out', out]);
  const report = JSON.parse(fs.readFileSync(path.join(out, 'report.json'), 'utf8')) as Report;
  return { extents, originals, out, r, report };
}

describe.runIf(haveTools)('an exFAT folder deleted whole on a card still in use', () => {
  const { extents, originals, out, r, report } = haveTools ? scenario() : ({} as ReturnType<typeof scenario>);

  it('the folder had clusters apart from each other, with photos between them', () => {
    expect(extents.length).toBeGreaterThanOrEqual(2);
  });

  it('every photo comes back under its own name and folder, byte for byte, as a deleted file', () => {
    expect(r.status).toBe(0);
    const deleted = report.files.filter((f) => f.provenance === 'deleted');
    expect(deleted.map((f) => f.name).sort()).toEqual([...originals.keys()].sort());
    for (const f of deleted) {
      expect(f.originalPath, f.name).toBe(`/DCIM/100TEST/${f.name}`);
      expect(f.status, f.name).toBe('ok');
      expect(sha256(fs.readFileSync(path.join(out, f.path!))), f.name).toBe(originals.get(f.name));
    }
    expect(report.files.filter((f) => f.provenance !== 'deleted')).toEqual([]);
  });
});
