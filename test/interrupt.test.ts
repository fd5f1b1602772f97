import fs from 'node:fs';
import path from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { ByteSource } from '../src/source/source.js';
import { recoverCommand } from '../src/commands/recover.js';
import { ExitCode, UserError } from '../src/errors.js';
import type { Report } from '../src/report.js';
import { CLI, freshOut, isRoot, sha256File } from './support/fixtures.js';
import { jpegCardImage } from './support/synthetic.js';

function listFiles(dir: string, prefix = ''): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? listFiles(path.join(dir, e.name), `${prefix}${e.name}/`) : [`${prefix}${e.name}`]));
}

/** What is on disk is exactly what report.json lists, each file with its hash: no half-written file. */
function expectOutputMatchesReport(out: string, report: Report): void {
  const onDisk = listFiles(out).filter((p) => p !== 'report.json' && p !== 'report.html' && !p.startsWith('report_files/') && !p.startsWith('gallery/'));
  expect(onDisk.sort()).toEqual(report.files.map((f) => f.path!).sort());
  for (const f of report.files) expect(sha256File(path.join(out, f.path!)), f.path!).toBe(f.sha256);
}

describe('Ctrl-C / SIGTERM while writing', () => {
  // 200 MB of JPEGs without a file system: some 5000 files, a second or more of writing.
  const { image, copies } = jpegCardImage(200 * 1024 * 1024);

  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    it(`${signal}: stops cleanly, removes the unfinished file, writes report.json with complete: false, exit 130`, async () => {
      const out = path.join(freshOut(`interrupt-${signal}`), 'out');
      const child = spawn(process.execPath, [CLI, 'recover', image, '--out', out, '-q'], { env: { ...process.env, NO_COLOR: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', (d) => (stderr += String(d)));
      const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
      // As soon as a second file appears, interrupt: files are started one after the other, each
      // once the one before was read whole (its writes are then finished however the run ends).
      // On the first file alone the signal may come before its first byte is read: nothing is
      // written then, rightly, and this test cannot tell a clean stop from a broken one.
      const carved = path.join(out, 'carved', 'jpeg');
      let sent = false;
      for (let i = 0; i < 6000 && !sent; i++) {
        if (fs.existsSync(carved) && fs.readdirSync(carved).length >= 2) {
          child.kill(signal);
          sent = true;
        } else await new Promise((r) => setTimeout(r, 5));
        if (child.exitCode !== null) break;
      }
      expect(sent, 'the recovery finished before it could be interrupted').toBe(true);
      const code = await exited;
      expect(code, stderr).toBe(ExitCode.interrupted);
      expect(stderr).toMatch(new RegExp(`${signal}: stopping`));
      expect(stderr).toMatch(/interrupted: \d+ of \d+ file\(s\) written/);
      const report = JSON.parse(fs.readFileSync(path.join(out, 'report.json'), 'utf8')) as Report;
      expect(report.complete).toBe(false);
      expect(report.stopped?.reason).toBe(signal);
      expect(report.files.length).toBeGreaterThan(0);
      expect(report.files.length).toBeLessThan(copies);
      expect(report.stopped!.filesNotWritten).toBe(copies - report.files.length);
      expect(report.summary.files).toBe(report.files.length);
      expectOutputMatchesReport(out, report);
      expect(fs.existsSync(path.join(out, '.report.json.reserve'))).toBe(false);
    });
  }
});

describe('a full output disk', () => {
  // About 16 MB of photos to write.
  const { image } = jpegCardImage(16 * 1024 * 1024, 'jpegs-16m');

  it('ENOSPC (injected): a clear error, exit 4, report.json of what was written (complete: false), no partial file', async () => {
    const out = path.join(freshOut('enospc'), 'out');
    // The recovered files (not report.json, for which the writer keeps room) get 3 MiB, then ENOSPC.
    let budget = 3 * 1024 * 1024;
    const recovered = new Set<number>();
    const realOpen = fs.openSync;
    const realWrite = fs.write;
    const openSpy = vi.spyOn(fs, 'openSync').mockImplementation(((p: fs.PathLike, flags?: fs.OpenMode, mode?: fs.Mode) => {
      const fd = realOpen(p, flags, mode);
      if (String(p).includes(`${path.sep}carved${path.sep}`)) recovered.add(fd);
      else recovered.delete(fd); // descriptors are reused
      return fd;
    }) as typeof fs.openSync);
    // The recovered files are written with fs.write (overlapping the reads); report.json with writeFileSync.
    type WriteCallback = (err: NodeJS.ErrnoException | null, written: number, buffer: Buffer) => void;
    const spy = vi.spyOn(fs, 'write').mockImplementation(((fd: number, buf: Buffer, offset: number, length: number, position: number, cb: WriteCallback) => {
      if (!recovered.has(fd)) return realWrite(fd, buf, offset, length, position, cb);
      if (budget <= 0) return setImmediate(() => cb(Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' }), 0, buf));
      const take = Math.min(length, budget);
      budget -= take;
      return realWrite(fd, buf, offset, take, position, cb);
    }) as unknown as typeof fs.write);
    const source = ByteSource.open(image);
    let error: unknown;
    try {
      await recoverCommand(source, { out, quiet: true });
    } catch (err) {
      error = err;
    } finally {
      spy.mockRestore();
      openSpy.mockRestore();
      source.close();
    }
    expect(error).toBeInstanceOf(UserError);
    expect((error as UserError).exitCode).toBe(ExitCode.output);
    expect((error as UserError).message).toMatch(/output disk is full while writing .*; \d+ of \d+ file\(s\) were written, listed in .*report\.json \(complete: false\)/);
    const report = JSON.parse(fs.readFileSync(path.join(out, 'report.json'), 'utf8')) as Report;
    expect(report.complete).toBe(false);
    expect(report.stopped?.reason).toBe('output-error');
    expect(report.files.length).toBeGreaterThan(10);
    expectOutputMatchesReport(out, report);
  });

  const tmpfsOk = isRoot && spawnSync('mount', ['--version'], { stdio: 'ignore' }).status === 0;
  const mounts: string[] = [];
  afterAll(() => {
    for (const m of mounts) spawnSync('umount', ['-l', m]);
  });

  it.skipIf(!tmpfsOk)('ENOSPC on a real 2 MiB tmpfs (root): the same, through the CLI', () => {
    const mnt = freshOut('tmpfs');
    const m = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', mnt], { encoding: 'utf8' });
    if (m.status !== 0) return; // no permission to mount here (a container): the injected test above covers it
    mounts.push(mnt);
    const out = path.join(mnt, 'out');
    const r = spawnSync(process.execPath, [CLI, 'recover', image, '--out', out], { encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });
    expect(r.status, r.stderr).toBe(ExitCode.output);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^cardrescue: output disk is full while writing .*; \d+ of \d+ file\(s\) were written, listed in .*report\.json \(complete: false\)/);
    const report = JSON.parse(fs.readFileSync(path.join(out, 'report.json'), 'utf8')) as Report;
    expect(report.complete).toBe(false);
    expect(report.stopped?.reason).toBe('output-error');
    expect(report.files.length).toBeGreaterThan(5);
    expectOutputMatchesReport(out, report);
  });
});
