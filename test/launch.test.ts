import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { CLI, ROOT, fixtureImage, runCli } from './support/fixtures.js';

describe.runIf(process.platform === 'linux')("the launcher's thread priorities", () => {
  it("gives the threads Node started before it the lowest priority, and keeps the main thread's for itself and every thread started after", () => {
    const lower = pathToFileURL(path.join(ROOT, 'dist/src/launch/helper-threads.js')).href;
    // The threads there before the call are Node's and V8's own; the worker stands for the
    // scan's reading thread, started after. Each thread's nice value is read back from /proc.
    const script = `
      import fs from 'node:fs';
      import os from 'node:os';
      import { Worker } from 'node:worker_threads';
      import { lowerHelperThreads } from ${JSON.stringify(lower)};
      const before = fs.readdirSync('/proc/self/task').map(Number).filter((t) => t !== process.pid);
      const lowered = lowerHelperThreads();
      const w = new Worker("require('node:worker_threads').parentPort.postMessage(require('node:fs').readlinkSync('/proc/thread-self'))", { eval: true, execArgv: [] });
      w.once('message', (link) => {
        const worker = Number(String(link).split('/').pop());
        console.log(JSON.stringify({ lowered, before: before.length, main: os.getPriority(process.pid), helpers: before.map((t) => os.getPriority(t)), worker: os.getPriority(worker) }));
        w.terminate();
      });
    `;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    const got = JSON.parse(r.stdout) as { lowered: number; before: number; main: number; helpers: number[]; worker: number };
    expect(got.before).toBeGreaterThan(0);
    expect(got.lowered).toBe(got.before);
    expect(got.helpers.every((n) => n === 19)).toBe(true);
    expect(got.main).not.toBe(19);
    expect(got.worker).toBe(got.main);
  });

  it('does so in the built command, before anything else runs', () => {
    const r = runCli(['list', '-q', fixtureImage('fat16-mbr')], { CARDRESCUE_TIMING: '1' });
    expect(r.status).toBe(0);
    const lowered = /helper threads at nice 19: (\d+)/.exec(r.stderr);
    expect(lowered, r.stderr).not.toBeNull();
    expect(Number(lowered![1])).toBeGreaterThan(0);
  });
});

describe('the command file', () => {
  it('is CommonJS, so that no ES module loader starts before the launcher', () => {
    // dist/package.json says so; tsc's output below it stays ES modules (npm run demo runs it).
    expect(JSON.parse(fs.readFileSync(path.join(path.dirname(CLI), 'package.json'), 'utf8')).type).toBe('commonjs');
    expect(JSON.parse(fs.readFileSync(path.join(ROOT, 'dist/src/package.json'), 'utf8')).type).toBe('module');
    const r = spawnSync(process.execPath, [CLI, '--version'], { encoding: 'utf8' });
    expect(r.status).toBe(0);
    expect(r.stdout.trim()).toBe(JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')).version);
  });
});
