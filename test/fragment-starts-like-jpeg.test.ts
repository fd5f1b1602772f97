import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { SAMPLES, freshOut, noise, runCli, sha256, sha256File } from './support/fixtures.js';
import type { Report } from '../src/report.js';

/**
 * Kodak's EasyShare Z1012 ends its last FlashPix APP2 segment with the bytes FF D8, right
 * before the DQT at byte 163,840: a 32 KiB multiple. When the file is split there, its second
 * fragment starts FF D8 FF DB on a cluster boundary, a JPEG of its own to any carver (the rest
 * of the picture, whole). The card is made by mkfs.fat and mtools, fragmented the way a used
 * card is (a hole of exactly 163,840 bytes, a live file, then room), then quick-formatted.
 */
const KODAK = path.join(SAMPLES, 'jpeg/eastman_kodak_easyshare_z1012_is_digital_camera/Kodak_Z1012_IS.jpg');
const haveTools = ['mkfs.fat', 'mcopy', 'mdel', 'mmd', 'mdir'].every((t) => spawnSync('sh', ['-c', `command -v ${t}`]).status === 0);

function run(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', env: { ...process.env, MTOOLS_SKIP_CHECK: '1', TZ: 'UTC' } });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

/** Make the card and recover it (only when the tools and the sample are here: a skipped suite's body still runs). */
function scenario() {
  const dir = freshOut('kodak-split');
  const img = path.join(dir, 'card.img');
  const file = (name: string, bytes: Buffer) => {
    const p = path.join(dir, name);
    fs.writeFileSync(p, bytes);
    return p;
  };
  const kodak = fs.readFileSync(KODAK);
  const between = noise(6 * 2048, 11);
  fs.writeFileSync(img, Buffer.alloc(24 * 1024 * 1024));
  run('mkfs.fat', ['-F', '16', '-s', '4', '-i', '0C0FFEE1', '-n', 'CARD', img]);
  run('mmd', ['-i', img, '::DCIM', '::DCIM/100KODAK']);
  run('mcopy', ['-i', img, file('HOLE1.BIN', noise(163840, 1)), '::DCIM/100KODAK/HOLE1.BIN']);
  run('mcopy', ['-m', '-i', img, file('IMG_5001.BIN', between), '::DCIM/100KODAK/IMG_5001.BIN']);
  run('mcopy', ['-i', img, file('HOLE2.BIN', noise(kodak.length, 2)), '::DCIM/100KODAK/HOLE2.BIN']);
  // mtools allocates next-fit: fill the rest so the next file wraps around into the holes.
  const free = Number(/([\d ]+) bytes free/.exec(run('mdir', ['-i', img, '::']))![1].replace(/ /g, ''));
  run('mcopy', ['-i', img, file('PADDING.BIN', Buffer.alloc(free)), '::PADDING.BIN']);
  run('mdel', ['-i', img, '::DCIM/100KODAK/HOLE1.BIN', '::DCIM/100KODAK/HOLE2.BIN']);
  run('mcopy', ['-m', '-i', img, file('IMG_0001.JPG', kodak), '::DCIM/100KODAK/IMG_0001.JPG']);
  run('mkfs.fat', ['-F', '16', '-s', '4', '-i', '0C0FFEE2', '-n', 'CARD', img]);

  const out = path.join(dir, 'out');
  const r = runCli(['recover', img, '--out', out]);
  const report = JSON.parse(fs.readFileSync(path.join(out, 'report.json'), 'utf8')) as Report;
  return { img, kodak, between, out, r, report };
}

const ready = haveTools && fs.existsSync(KODAK);

describe.runIf(ready)('a fragment that starts like a JPEG of its own', () => {
  const { img, kodak, between, out, r, report } = ready ? scenario() : ({} as ReturnType<typeof scenario>);

  it('the card holds the photo in two pieces, the second starting FF D8 FF DB on a cluster boundary', () => {
    const disk = fs.readFileSync(img);
    const head = disk.indexOf(kodak.subarray(0, 4096));
    const tail = disk.indexOf(kodak.subarray(163840, 163840 + 4096));
    expect(head).toBeGreaterThan(0);
    expect(tail - head).toBe(163840 + between.length);
    expect(kodak.subarray(163840, 163844).toString('hex')).toBe('ffd8ffdb');
  });

  it('brings the photo back whole under its name, and the piece is not written as a file', () => {
    expect(r.status, r.stderr).toBe(0);
    const hits = report.files.filter((f) => f.sha256 === sha256(kodak));
    expect(hits, JSON.stringify([report.files.map((f) => [f.path, f.size, f.basis, f.status, f.notes, f.runs]), report.skipped])).toHaveLength(1);
    expect(hits[0].path).toBe('orphaned/DCIM/100KODAK/IMG_0001.JPG');
    expect(hits[0].runs).toHaveLength(2);
    expect(sha256File(path.join(out, hits[0].path!))).toBe(sha256(kodak));
    const tailSha = sha256(kodak.subarray(163840));
    expect(report.files.filter((f) => f.sha256 === tailSha)).toEqual([]);
    expect(report.files.filter((f) => f.provenance === 'carved')).toEqual([]);
  });

  it('the file between keeps its name, and no guess ran over it', () => {
    const hit = report.files.find((f) => f.sha256 === sha256(between));
    expect(hit?.path).toBe('orphaned/DCIM/100KODAK/IMG_5001.BIN');
  });
});
