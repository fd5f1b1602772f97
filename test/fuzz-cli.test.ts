import fs from 'node:fs';
import path from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { ROOT, freshOut } from './support/fixtures.js';
import { scratchBase } from '../src/fuzz/check.js';

const FUZZ = path.join(ROOT, 'dist/src/fuzz/main.js');
const fuzz = (args: string[]) => spawnSync(process.execPath, [FUZZ, ...args], { encoding: 'utf8', cwd: ROOT });

/** `npm run fuzz` itself: its worker processes, limits, saved failures and replay. */
describe('the fuzzer', () => {
  it('runs seeded cases in workers and checks its inputs are untouched', () => {
    const out = freshOut('fuzz-ok');
    const r = fuzz(['--cases', '12', '--seed', '7', '--images', 'fat12,gpt', '--out', out]);
    expect(r.status, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/fuzz: 12 cases, 0 failure\(s\)/);
    expect(r.stdout).toMatch(/inputs untouched: \d+ fixtures\/\*\.img\.gz unchanged, in-memory originals intact/);
  });

  it('kills a case over its time or memory limit, saves the input with its seed, and replays it', () => {
    // What the workers write goes in one folder the run removes, whatever a killed worker left in it.
    const scratch = () => new Set(fs.readdirSync(scratchBase()).filter((f) => f.startsWith('cardrescue-fuzz-')));
    const before = scratch();
    const out = freshOut('fuzz-limits');
    const slow = fuzz(['--cases', '2', '--seed', '7', '--images', 'fat12', '--timeout-ms', '1', '--out', out]);
    expect(slow.status).toBe(1);
    expect(slow.stdout).toMatch(/fuzz: 2 cases, 2 failure\(s\) \(2 timeout\)/);
    const saved = fs.readdirSync(out).filter((f) => f.endsWith('.img.gz')).sort();
    expect(saved).toEqual(['fat12-seed7-case0.img.gz', 'fat12-seed7-case1.img.gz']);
    const info = JSON.parse(fs.readFileSync(path.join(out, 'fat12-seed7-case0.json'), 'utf8')) as { kind: string; runSeed: number; caseSeed: number; ops: string[] };
    expect(info).toMatchObject({ kind: 'timeout', runSeed: 7 });
    expect(info.ops.length).toBeGreaterThan(0);
    // Without the absurd limit the case passes: replay runs it in process.
    const replay = fuzz(['--replay', path.join(out, 'fat12-seed7-case0.img.gz')]);
    expect(replay.status, replay.stdout + replay.stderr).toBe(0);
    expect(replay.stdout).toMatch(/mutations: .*\n.*no problems/);

    const big = fuzz(['--cases', '1', '--seed', '7', '--images', 'fat12', '--max-rss-mb', '1', '--out', freshOut('fuzz-mem')]);
    expect(big.status).toBe(1);
    expect(big.stdout).toMatch(/1 failure\(s\) \(1 memory\)/);
    expect([...scratch()].filter((f) => !before.has(f))).toEqual([]);
  });
});

describe('the fuzzer, stopped', () => {
  it('on Ctrl-C stops its workers, removes its scratch folder and says how far it got', async () => {
    const scratch = () => new Set(fs.readdirSync(scratchBase()).filter((f) => f.startsWith('cardrescue-fuzz-')));
    const before = scratch();
    // Its own process group, as a shell gives a command: Ctrl-C reaches the run and its workers alike.
    const child = spawn(process.execPath, [FUZZ, '--cases', '100000', '--seed', '7', '--images', 'fat12', '--jobs', '2', '--out', freshOut('fuzz-stop')], { cwd: ROOT, detached: true });
    let stdout = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    // Stop it mid-run, once its workers are busy with cases.
    await new Promise((resolve) => setTimeout(resolve, 3000));
    expect([...scratch()].filter((f) => !before.has(f)).length).toBe(1);
    process.kill(-child.pid!, 'SIGINT');
    const code = await exited;
    expect(code, stdout).toBe(130);
    expect(stdout).toMatch(/fuzz: stopped by SIGINT after \d+ of 100000 cases/);
    expect(stdout).toMatch(/inputs untouched/);
    expect(stdout).not.toMatch(/worker-died|FAIL/);
    expect([...scratch()].filter((f) => !before.has(f))).toEqual([]);
  }, 30_000);
});
