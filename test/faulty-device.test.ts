import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runPipeline } from '../src/pipeline.js';
import { BufferReader } from '../src/reader.js';
import type { Report } from '../src/report.js';
import { attachFailingDevice, canFakeFailingDevice, type FailingDevice } from './support/faulty.js';
import { fixtureImage, freshOut, manifest, runCli, sha256File } from './support/fixtures.js';

/**
 * A real failing block device: a FUSE file that returns EIO in chosen ranges
 * (test/support/faulty_fs.py), attached read-only as /dev/loopN. Needs root, /dev/fuse,
 * python3-fusepy and losetup; skipped otherwise.
 */
describe.skipIf(!canFakeFailingDevice())('recover from a block device with unreadable sectors', () => {
  const name = 'demo-card';
  const m = manifest(name);
  const image = fixtureImage(name);
  const before = sha256File(image);
  const clean = runPipeline(new BufferReader(fs.readFileSync(image)));
  /** One 4 KiB page (the kernel reads block devices by pages) well inside a file. */
  const pageInside = (originalPath: string, at: number) => {
    const run = clean.files.find((f) => f.originalPath === originalPath)!.runs[0];
    const offset = Math.ceil((run.offset + at) / 4096) * 4096;
    expect(offset + 4096).toBeLessThan(run.offset + run.length);
    return { offset, length: 4096 };
  };
  const live = pageInside('/DCIM/100CANON/IMG_0004.JPG', 4096);
  const deleted = pageInside('/DCIM/100CANON/IMG_0003.JPG', 8192);
  // And one in space no file uses: counted as unreadable, touches no file.
  const free = { offset: 60 * 1024 * 1024, length: 8192 };
  let dev: FailingDevice | undefined;

  beforeAll(async () => {
    dev = await attachFailingDevice(image, [live, deleted, free]);
  });
  afterAll(() => {
    dev?.cleanup();
    // The image behind the device was never written.
    expect(sha256File(image)).toBe(before);
  });

  it('the device really fails there', () => {
    const fd = fs.openSync(dev!.device, 'r');
    try {
      expect(() => fs.readSync(fd, Buffer.alloc(512), 0, 512, live.offset + 512)).toThrow(/EIO/);
      expect(fs.readSync(fd, Buffer.alloc(512), 0, 512, live.offset - 4096)).toBe(512);
    } finally {
      fs.closeSync(fd);
    }
  });

  it('recovers every file: the damaged ones marked with their ranges, the rest byte-exact', () => {
    const out = path.join(freshOut('failing-device'), 'out');
    const r = runCli(['recover', dev!.device, '--out', out]);
    expect(r.status, r.stderr).toBe(5);
    expect(r.stdout).toMatch(/could not be read .*2 file\(s\) touch it/);
    const report = JSON.parse(fs.readFileSync(path.join(out, 'report.json'), 'utf8')) as Report;
    expect(report.source.kind).toBe('block-device');
    expect(report.complete).toBe(true);
    const covers = (r: { offset: number; length: number }) =>
      report.badRanges.some(([o, l]) => o <= r.offset && r.offset + r.length <= o + l);
    for (const r of [live, deleted, free]) expect(covers(r), `${r.offset}`).toBe(true);
    // Nothing readable is called unreadable: at most the page the kernel reads around it.
    expect(report.summary.unreadableBytes).toBe(4096 + 4096 + 8192);

    for (const [p, range] of [['/DCIM/100CANON/IMG_0004.JPG', live], ['/DCIM/100CANON/IMG_0003.JPG', deleted]] as const) {
      const f = report.files.find((x) => x.originalPath === p);
      expect(f, p).toBeDefined();
      expect(f!.status).toBe('damaged');
      expect(f!.badRanges).toEqual([[range.offset, range.length]]);
      expect(f!.notes.join(' ')).toMatch(/unreadable: 4096 byte/);
      expect(fs.statSync(path.join(out, f!.path!)).size).toBe(f!.size);
    }

    const expected = m.files.filter((x) => x.state === 'live' || x.state === 'deleted');
    let intact = 0;
    for (const f of expected) {
      const hit = report.files.find((x) => x.originalPath === '/' + f.path);
      expect(hit, f.path).toBeDefined();
      if (hit!.badRanges.length) continue;
      expect(sha256File(path.join(out, hit!.path!)), f.path).toBe(f.sha256);
      intact++;
    }
    expect(intact).toBe(expected.length - 2);
    // What the benchmark numbers in the report say.
    console.log(`failing device: ${report.files.length} files recovered, ${intact} of ${expected.length} known files byte-exact, ${report.summary.damaged} damaged, ${report.summary.unreadableBytes} bytes unreadable`);
  });

  it('info and list see the unreadable ranges too', () => {
    const info = runCli(['info', dev!.device]);
    expect(info.status, info.stderr).toBe(0);
    const list = runCli(['list', '--json', dev!.device]);
    expect(list.status, list.stderr).toBe(0);
    const files = (JSON.parse(list.stdout) as { files: Report['files'] }).files;
    expect(files.find((f) => f.originalPath === '/DCIM/100CANON/IMG_0004.JPG')!.status).toBe('damaged');
  });
});
