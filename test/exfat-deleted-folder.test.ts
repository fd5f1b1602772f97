import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { freshOut, haveCommands, isRoot, noisePhoto, runCli, runTool, sha256 } from './support/fixtures.js';
import { exfatDriver } from '../parsers/exfat/index.js';
import type { Report } from '../src/report.js';

/**
 * The exFAT side of test/fat-deleted-folder.test.ts: a folder deleted whole (`rm -rf` through
 * exfat-fuse) on a card still in use. The folder grew while photos were copied into it, so its
 * second cluster lies after the data of the photo copied before, and exfat-fuse shrinks the
 * folder's DataLength as its files go: nothing but the entry set split across the two clusters
 * tells where the folder went on. Made with mkfs.exfat, exfat-fuse on a loop device, and cjpeg.
 */
const haveTools = isRoot && fs.existsSync('/dev/fuse') && haveCommands('mkfs.exfat', 'mount.exfat-fuse', 'losetup', 'umount', 'cjpeg');

/** Mount `img` with exfat-fuse, run `work` on the mount point, unmount whatever happens. */
function mounted(img: string, work: (mnt: string) => void): void {
  const loop = runTool('losetup', ['-f', '--show', img]).toString().trim();
  const mnt = fs.mkdtempSync(path.join(path.dirname(img), 'mnt-'));
  try {
    runTool('mount.exfat-fuse', [loop, mnt]);
    try {
      work(mnt);
    } finally {
      runTool('umount', [mnt]);
    }
  } finally {
    spawnSync('losetup', ['-d', loop]);
    fs.rmdirSync(mnt);
  }
}

/** Long names (sets of 5 entries): the set that did not fit is split between the two clusters. */
const longName = (i: number) => `Holiday photo number ${String(i).padStart(4, '0')} at the seaside.jpg`;
/** Phone names of one length (sets of 4 entries): 32 fill a 4 KiB cluster exactly, nothing is split. */
const phoneName = (i: number) => `IMG_20231105_1234${String(i).padStart(2, '0')}.jpg`;

interface Folder {
  name: string;
  count: number;
  nameOf: (i: number) => string;
}

/**
 * A 48 MiB exFAT card with 4 KiB clusters; the folders are filled in turn (photos numbered on
 * across them, as a camera does), then each is removed with `rm -rf` and the card recovered.
 */
function scenario(label: string, folders: Folder[]) {
  const dir = freshOut(label);
  const img = path.join(dir, 'card.img');
  fs.writeFileSync(img, Buffer.alloc(48 * 1024 * 1024));
  runTool('mkfs.exfat', ['-c', '4K', '-L', 'CARD', img]);
  const originals = new Map<string, string>();
  mounted(img, (mnt) => {
    let seed = 0;
    for (const f of folders) {
      const folder = path.join(mnt, 'DCIM', f.name);
      fs.mkdirSync(folder, { recursive: true });
      for (let i = 1; i <= f.count; i++) {
        seed++;
        const bytes = noisePhoto(60 + ((seed * 37) % 90), 60 + ((seed * 53) % 70), seed);
        fs.writeFileSync(path.join(folder, f.nameOf(seed)), bytes);
        originals.set(`/DCIM/${f.name}/${f.nameOf(seed)}`, sha256(bytes));
      }
    }
  });
  // The folders' clusters while they are live, from their FAT chains.
  const live = fs.readFileSync(img);
  const fsLive = exfatDriver.open({ size: live.length, read: (o, l) => live.subarray(o, Math.min(live.length, o + l)) });
  const extents = new Map(folders.map((f) => [f.name, fsLive.entries.find((e) => e.isDirectory && e.name === f.name)?.extents ?? []]));
  mounted(img, (mnt) => {
    for (const f of folders) fs.rmSync(path.join(mnt, 'DCIM', f.name), { recursive: true });
  });
  const out = path.join(dir, 'out');
  const r = runCli(['recover', img, '--out', out]);
  const report = JSON.parse(fs.readFileSync(path.join(out, 'report.json'), 'utf8')) as Report;
  return { extents, originals, out, r, report };
}

function expectAllBack({ originals, out, r, report }: ReturnType<typeof scenario>): void {
  expect(r.status).toBe(0);
  const deleted = report.files.filter((f) => f.provenance === 'deleted');
  expect(deleted.map((f) => f.originalPath).sort()).toEqual([...originals.keys()].sort());
  for (const f of deleted) {
    expect(f.status, f.name).toBe('ok');
    expect(sha256(fs.readFileSync(path.join(out, f.path!))), f.name).toBe(originals.get(f.originalPath!));
  }
  expect(report.files.filter((f) => f.provenance !== 'deleted')).toEqual([]);
}

describe.runIf(haveTools)('an exFAT folder deleted whole on a card still in use', () => {
  // One folder of 45 photos that grew a second cluster apart from its first, two ways of naming them.
  const grown = [
    { title: 'long names: an entry set split between its two clusters', image: 'exfat-deleted-folder-long', folder: '100TEST', nameOf: longName },
    { title: 'names of one length: the first cluster filled exactly', image: 'exfat-deleted-folder-phone', folder: '100PHONE', nameOf: phoneName },
  ];
  for (const c of grown) {
    describe(c.title, () => {
      const result = haveTools ? scenario(c.image, [{ name: c.folder, count: 45, nameOf: c.nameOf }]) : undefined!;

      it('the folder had two clusters apart, with photos between them', () => {
        expect(result.extents.get(c.folder)!.length).toBeGreaterThanOrEqual(2);
      });

      it('every photo comes back under its own name and folder, byte for byte, as a deleted file', () => {
        expectAllBack(result);
      });
    });
  }

  describe('a folder that filled its one cluster exactly, and the next folder after its photos', () => {
    // 32 phone names fill 100PHONE's cluster, and the numbering goes on in 101PHONE, whose
    // first cluster lies where 100PHONE would have grown: it stays 101PHONE's.
    const result = haveTools
      ? scenario('exfat-deleted-folder-sibling', [
          { name: '100PHONE', count: 32, nameOf: phoneName },
          { name: '101PHONE', count: 10, nameOf: phoneName },
        ])
      : undefined!;

    it('each folder had one cluster', () => {
      expect(result.extents.get('100PHONE')!.map((e) => e.count)).toEqual([1]);
      expect(result.extents.get('101PHONE')!.map((e) => e.count)).toEqual([1]);
    });

    it('every photo comes back in its own folder', () => {
      expectAllBack(result);
    });
  });
});
