import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { describe, expect, it, vi } from 'vitest';
import { ByteSource, SOURCE_OPEN_FLAGS } from '../src/source/source.js';
import { CLI, fixtureImage, isRoot, runCli, tempDir } from './support/fixtures.js';
import { ExitCode } from '../src/errors.js';

/** Every bad source: one clear line on stderr, the documented exit code, no stack trace, nothing written. */
function expectSourceError(source: string, message: RegExp): void {
  const out = path.join(tempDir(), `out-${Math.random().toString(36).slice(2)}`);
  for (const args of [['info', source], ['list', source], ['recover', source, '--out', out]]) {
    const r = runCli(args);
    expect(r.status, `${args.join(' ')}: ${r.stderr}`).toBe(ExitCode.source);
    expect(r.stderr).toMatch(message);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).not.toMatch(/\bat .*\.js:\d+/);
    expect(r.stdout).toBe('');
  }
  expect(fs.existsSync(out)).toBe(false);
}

describe('bad sources', () => {
  it('a missing path', () => {
    expectSourceError(path.join(tempDir(), 'no-such-card.img'), /no such file or device/);
  });

  it('a directory', () => {
    expectSourceError(tempDir(), /is a directory/);
  });

  it('an empty file', () => {
    const empty = path.join(tempDir(), 'empty.img');
    fs.writeFileSync(empty, '');
    expectSourceError(empty, /empty \(0 bytes\)/);
  });

  it('something that is neither a file nor a block device', () => {
    expectSourceError('/dev/null', /neither a regular file nor a block device/);
  });

  it('permission denied says how to fix it', () => {
    const card = path.join(tempDir(), 'locked.img');
    fs.writeFileSync(card, Buffer.alloc(4096));
    fs.chmodSync(card, 0o000);
    if (!isRoot) {
      expectSourceError(card, /permission denied.*root.*disk/);
      return;
    }
    // root may read anything: ask the kernel as an unprivileged user, where that user can reach the tool.
    const probe = spawnSync(process.execPath, ['-e', `require('fs').accessSync(${JSON.stringify(path.resolve('dist/src/cli.js'))})`], { uid: 65534, gid: 65534 });
    if (probe.status === 0) {
      fs.chmodSync(path.dirname(card), 0o755);
      const r = spawnSync(process.execPath, [path.resolve('dist/src/cli.js'), 'info', card], { encoding: 'utf8', uid: 65534, gid: 65534 });
      expect(r.status).toBe(ExitCode.source);
      expect(r.stderr).toMatch(/permission denied.*root.*disk/);
    }
    // And always through the same code path the kernel's EACCES takes.
    const spy = vi.spyOn(fs, 'statSync').mockImplementation(() => {
      throw Object.assign(new Error('EACCES'), { code: 'EACCES' });
    });
    try {
      expect(() => ByteSource.open(card)).toThrow(/permission denied.*root.*disk/);
    } finally {
      spy.mockRestore();
    }
  });
});

describe('usage errors', () => {
  it('recover without --out is a usage error', () => {
    const r = runCli(['recover', '/dev/null']);
    expect(r.status).toBe(ExitCode.usage);
    expect(r.stderr).toMatch(/--out/);
  });

  it('an unknown command is a usage error', () => {
    expect(runCli(['frobnicate']).status).toBe(ExitCode.usage);
  });

  it('--help shows examples on every command', () => {
    for (const cmd of ['info', 'list', 'recover']) {
      const r = runCli([cmd, '--help']);
      expect(r.status).toBe(0);
      expect(r.stdout).toMatch(/Examples:/);
    }
  });
});

describe('the source is never written', () => {
  it('is opened with read-only flags only', () => {
    expect(SOURCE_OPEN_FLAGS & (fs.constants.O_WRONLY | fs.constants.O_RDWR | fs.constants.O_CREAT | fs.constants.O_TRUNC | fs.constants.O_APPEND)).toBe(0);
    const card = path.join(tempDir(), 'ro.img');
    fs.writeFileSync(card, Buffer.alloc(8192, 7));
    const spy = vi.spyOn(fs, 'openSync');
    try {
      ByteSource.open(card).close();
      expect(spy).toHaveBeenCalledWith(card, fs.constants.O_RDONLY);
    } finally {
      spy.mockRestore();
    }
  });
});

describe('exit codes', () => {
  it('a readable card with nothing on it exits 1 and says so', () => {
    const blank = path.join(tempDir(), 'blank.img');
    fs.writeFileSync(blank, Buffer.alloc(4 * 1024 * 1024));
    const out = path.join(tempDir(), 'blank-out');
    const r = runCli(['recover', blank, '--out', out]);
    expect(r.status).toBe(ExitCode.nothingFound);
    expect(r.stdout).toMatch(/Nothing was found/);
    expect(fs.existsSync(path.join(out, 'report.json'))).toBe(true);
    expect(runCli(['list', blank]).status).toBe(ExitCode.nothingFound);
  });

  it('an image cut short before its partition says so, on every command', () => {
    const whole = fs.readFileSync(fixtureImage('demo-card'));
    const cut = path.join(tempDir(), 'demo-cut.img');
    fs.writeFileSync(cut, whole.subarray(0, 3_000_000));
    const list = runCli(['list', cut]);
    expect(list.status).toBe(ExitCode.nothingFound);
    expect(list.stderr).toMatch(/partition 1 at byte \d+, past the end of this 3000000-byte source: the image looks cut short/);
    const info = runCli(['info', cut]);
    expect(info.stdout).toMatch(/past the end of this 3000000-byte source/);
    expect(info.stdout).toMatch(/Partition table: none usable \(read as one volume\)/);
    const out = path.join(tempDir(), 'cut-out');
    const recover = runCli(['recover', cut, '--out', out, '-q']);
    expect(recover.stderr).toMatch(/looks cut short/);
    const report = JSON.parse(fs.readFileSync(path.join(out, 'report.json'), 'utf8'));
    expect(report.partitionTableDiagnostics.map((d: { code: string }) => d.code)).toEqual(['table.partition-past-end']);
    // A whole card has no such warning.
    expect(runCli(['list', fixtureImage('demo-card')]).stderr).not.toMatch(/cut short/);
  });

  it('an image cut inside its data: what lies past the end is named as such, and a deleted photo there is kept in part, not called overwritten', () => {
    type Rec = { path: string; originalPath: string; provenance: string; status: string; size: number; runs: [number, number][]; notes: string[] };
    const whole = fs.readFileSync(fixtureImage('demo-card'));
    const fullOut = path.join(tempDir(), 'whole-out');
    expect(runCli(['recover', fixtureImage('demo-card'), '--out', fullOut, '-q']).status).toBe(0);
    const full: Rec[] = JSON.parse(fs.readFileSync(path.join(fullOut, 'report.json'), 'utf8')).files;
    // Cut 20000 bytes into the deleted photo that lies furthest in, so that live files start after the cut.
    const start = (f: Rec) => f.runs[0][0];
    const deleted = full.filter((f) => f.provenance === 'deleted' && f.runs.length === 1).sort((a, b) => start(b) - start(a));
    const victim = deleted.find((f) => full.some((g) => g.provenance === 'allocated' && g.runs.length > 0 && start(g) > start(f) + f.size))!;
    expect(victim, 'a deleted photo with live files after it').toBeDefined();
    const cutAt = start(victim) + 20000;
    const cut = path.join(tempDir(), 'demo-cut-inside.img');
    fs.writeFileSync(cut, whole.subarray(0, cutAt));

    const out = path.join(tempDir(), 'cut-inside-out');
    const r = runCli(['recover', cut, '--out', out]);
    expect(r.stdout).not.toMatch(/overwritten/);
    const report = JSON.parse(fs.readFileSync(path.join(out, 'report.json'), 'utf8'));
    const files: Rec[] = report.files;
    const kept = files.find((f) => f.path === victim.path);
    expect(kept, `${victim.path} kept`).toBeDefined();
    expect(kept!.status).toBe('damaged');
    expect(kept!.notes.join(' | ')).toMatch(/past the end of the source/);
    expect(report.skipped.map((s: { originalPath: string }) => s.originalPath)).not.toContain(victim.originalPath);
    // What it holds is the photo's first 20000 bytes, as on the whole card.
    const got = fs.readFileSync(path.join(out, kept!.path));
    expect(got.length).toBe(20000);
    expect(got.equals(fs.readFileSync(path.join(fullOut, victim.path)).subarray(0, 20000))).toBe(true);
    // A live file that starts past the cut, in a folder read before it: damaged, and the reason
    // says where its data went. (A folder past the cut takes its files with it.)
    const beyond = full.filter((f) => f.provenance === 'allocated' && f.runs.length > 0 && start(f) >= cutAt);
    const listed = beyond.filter((b) => files.some((x) => x.path === b.path));
    expect(listed.length).toBeGreaterThan(0);
    for (const b of listed) {
      const f = files.find((x) => x.path === b.path)!;
      expect(f.status, b.path).toBe('damaged');
      expect(f.notes.join(' | '), b.path).toMatch(/lies past the end of the source \(the image ends before the volume does\)/);
    }
  });
});

describe('output to a reader that leaves early', () => {
  /** `cardrescue ARGS | head -1`, through a shell: the pipe closes after the first line. */
  function pipedToHead(args: string[]) {
    const errFile = path.join(tempDir(), `stderr-${Math.random().toString(36).slice(2)}`);
    const quoted = [process.execPath, CLI, ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
    const r = spawnSync('bash', ['-c', `${quoted} 2>"$ERR" | head -1 >/dev/null; echo "\${PIPESTATUS[0]}"`], { encoding: 'utf8', env: { ...process.env, ERR: errFile } });
    return { status: Number(r.stdout.trim()), stderr: fs.readFileSync(errFile, 'utf8') };
  }

  const haveMtools = ['mkfs.fat', 'mcopy'].every((t) => spawnSync('sh', ['-c', `command -v ${t}`]).status === 0);

  it.runIf(haveMtools)('list | head: no stack trace, a normal exit', () => {
    // More listing than a pipe holds (64 KiB), so that the writes go on after head has left.
    const dir = fs.mkdtempSync(path.join(tempDir(), 'many-'));
    const names = Array.from({ length: 400 }, (_, i) => path.join(dir, `NOTE${String(i).padStart(4, '0')}.TXT`));
    for (const n of names) fs.writeFileSync(n, `note ${n}\n`);
    const img = path.join(dir, 'card.img');
    fs.writeFileSync(img, Buffer.alloc(16 * 1024 * 1024));
    expect(spawnSync('mkfs.fat', ['-F', '16', img]).status).toBe(0);
    expect(spawnSync('mcopy', ['-i', img, ...names, '::'], { env: { ...process.env, MTOOLS_SKIP_CHECK: '1' } }).status).toBe(0);
    expect(runCli(['list', '--json', '-q', img]).stdout.length).toBeGreaterThan(128 * 1024);
    for (const args of [['list', img], ['list', '--json', img]]) {
      const r = pipedToHead(args);
      expect(r.stderr, args.join(' ')).not.toMatch(/EPIPE|\bat .*\.js:\d+/);
      expect(r.status, args.join(' ')).toBe(0);
    }
  });
});
