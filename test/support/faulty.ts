import fs from 'node:fs';
import path from 'node:path';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import type { ByteRun } from '../../src/reader.js';
import type { ReadSyncFn } from '../../src/source/source.js';
import { ROOT, isRoot, tempDir } from './fixtures.js';

const eio = () => Object.assign(new Error('EIO: i/o error, read'), { code: 'EIO', errno: -5, syscall: 'read' });

/**
 * fs.readSync that fails in `bad` ranges. 'linux': like a buffered read of a block device,
 * the bytes before the first bad one come back first (a short read), the next read fails.
 * 'whole': any read touching a bad range fails and returns nothing.
 */
export function faultyReadSync(bad: readonly ByteRun[], mode: 'linux' | 'whole' = 'linux'): ReadSyncFn {
  return (fd, buffer, offset, length, position) => {
    const end = position + length;
    const hits = bad.filter((b) => b.offset < end && position < b.offset + b.length);
    if (hits.length) {
      const first = Math.min(...hits.map((b) => b.offset));
      if (mode === 'whole' || first <= position) throw eio();
      length = first - position;
    }
    return fs.readSync(fd, buffer, offset, length, position);
  };
}

/** A python that has fusepy (Debian: python3-fusepy, module `fusepy`; pip: module `fuse`). */
export function fusePython(): string | undefined {
  for (const py of ['/usr/bin/python3', 'python3']) {
    for (const probe of ['import fusepy', 'import fuse; fuse.FUSE; fuse.Operations']) {
      if (spawnSync(py, ['-c', probe], { stdio: 'ignore' }).status === 0) return py;
    }
  }
  return undefined;
}

/** Can this run attach a failing loop device? Root, /dev/fuse, fusepy, losetup. */
export function canFakeFailingDevice(): boolean {
  return isRoot && fs.existsSync('/dev/fuse') && !!fusePython() && spawnSync('losetup', ['--version'], { stdio: 'ignore' }).status === 0;
}

export interface FailingDevice {
  /** /dev/loopN, read-only, whose reads fail with EIO in the bad ranges. */
  device: string;
  /** The FUSE file behind it. */
  file: string;
  cleanup(): void;
}

/**
 * A failing card: test/support/faulty_fs.py mirrors `image` through FUSE with EIO in `bad`,
 * and `losetup -r` makes it a block device. cleanup() detaches and unmounts.
 */
export async function attachFailingDevice(image: string, bad: readonly ByteRun[]): Promise<FailingDevice> {
  const py = fusePython();
  if (!py) throw new Error('no python with fusepy');
  const mnt = fs.mkdtempSync(path.join(tempDir(), 'fuse-'));
  const spec = bad.map((b) => `${b.offset}:${b.length}`).join(',');
  const child: ChildProcess = spawn(py, [path.join(ROOT, 'test/support/faulty_fs.py'), image, mnt, '--bad', spec], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (d) => (stderr += String(d)));
  const file = path.join(mnt, 'card.img');
  let device = '';
  const cleanup = () => {
    if (device) spawnSync('losetup', ['-d', device]);
    device = '';
    if (spawnSync('fusermount', ['-u', mnt]).status !== 0) spawnSync('umount', ['-l', mnt]);
    if (child.exitCode === null) child.kill('SIGKILL');
    fs.rmSync(mnt, { recursive: true, force: true });
  };
  // A worker that dies before afterAll must not leave a mount and a loop device behind.
  process.once('exit', cleanup);
  try {
    for (let i = 0; !fs.existsSync(file); i++) {
      if (child.exitCode !== null || i > 100) throw new Error(`faulty_fs.py did not mount: ${stderr}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    const r = spawnSync('losetup', ['-r', '-f', '--show', file], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`losetup: ${r.stderr}`);
    device = r.stdout.trim();
    return { device, file, cleanup };
  } catch (err) {
    cleanup();
    throw err;
  }
}
