import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { describe, expect, it, vi } from 'vitest';
import { ByteSource, SOURCE_OPEN_FLAGS } from '../src/source/source.js';
import { fixtureImage, isRoot, runCli, tempDir } from './support/fixtures.js';
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
});
