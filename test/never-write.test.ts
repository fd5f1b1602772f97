import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { ByteSource, SOURCE_OPEN_FLAGS } from '../src/source/source.js';
import { recoverCommand } from '../src/commands/recover.js';
import { fixtureImage, freshOut, sha256File } from './support/fixtures.js';

/**
 * The source is never written: opened read-only (cli-errors.test.ts checks the flags), and
 * no write of any kind reaches its descriptor during a whole recovery. The fixtures
 * themselves are hashed before and after the suite (test/support/global-setup.ts).
 */
describe('the source is never written', () => {
  it('no write call during a recovery touches the source descriptor, and its bytes and mtime stay', async () => {
    const image = path.join(freshOut('never-write'), 'card.img');
    fs.copyFileSync(fixtureImage('demo-card'), image);
    const before = { sha: sha256File(image), mtime: fs.statSync(image).mtimeMs };
    const sourceFds = new Set<number>();
    const realOpen = fs.openSync;
    const opens = vi.spyOn(fs, 'openSync').mockImplementation(((p: fs.PathLike, flags?: fs.OpenMode, mode?: fs.Mode) => {
      const fd = realOpen(p, flags, mode);
      if (path.resolve(String(p)) === image) {
        expect(flags).toBe(SOURCE_OPEN_FLAGS);
        sourceFds.add(fd);
      }
      return fd;
    }) as typeof fs.openSync);
    const writers = (
      ['write', 'writeSync', 'writeFileSync', 'appendFileSync', 'ftruncateSync', 'fsyncSync', 'writevSync', 'writev', 'writeFile', 'appendFile', 'ftruncate', 'fsync'] as const
    ).map((name) => vi.spyOn(fs, name));
    const source = ByteSource.open(image);
    try {
      expect(await recoverCommand(source, { out: path.join(freshOut('never-write-out'), 'out'), quiet: true })).toBe(0);
    } finally {
      source.close();
      opens.mockRestore();
    }
    expect(sourceFds.size).toBe(1);
    // The spies saw the recovered files being written (fs.write, overlapping the reads): they were listening.
    expect(writers[0].mock.calls.length).toBeGreaterThan(10);
    for (const spy of writers) {
      for (const call of spy.mock.calls) {
        const target = call[0] as unknown;
        expect(typeof target === 'number' ? sourceFds.has(target) : path.resolve(String(target)) === image, `${spy.getMockName()} on the source`).toBe(false);
      }
      spy.mockRestore();
    }
    expect(sha256File(image)).toBe(before.sha);
    expect(fs.statSync(image).mtimeMs).toBe(before.mtime);
  });
});
