import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { BufferReader } from '../src/reader.js';
import { runPipeline } from '../src/pipeline.js';
import { createProgressReporter, type ProgressEvent } from '../src/progress.js';
import { fixtureImage, runCli } from './support/fixtures.js';

describe('progress', () => {
  it('the scanner reports bytes done up to the total, and the files found', () => {
    const events: ProgressEvent[] = [];
    const result = runPipeline(new BufferReader(fs.readFileSync(fixtureImage('quickformat-fat16'))), { onProgress: (e) => events.push(e) });
    expect(events.length).toBeGreaterThan(0);
    for (let i = 1; i < events.length; i++) expect(events[i].done).toBeGreaterThanOrEqual(events[i - 1].done);
    const last = events[events.length - 1];
    expect(last.done).toBe(last.total);
    const carved = result.files.filter((f) => f.provenance === 'carved').length;
    expect(last.found.carved).toBe(carved);
    expect(last.found.orphan).toBe(result.files.filter((f) => f.provenance === 'orphan').length);
  });

  it('prints plain lines when stderr is not a terminal, and nothing when quiet', () => {
    const lines: string[] = [];
    const stream = { isTTY: false, write: (s: string) => lines.push(s) } as unknown as NodeJS.WriteStream;
    const p = createProgressReporter({ stream, intervalMs: 0 });
    p.update({ stage: 'scan', done: 512 * 1024, total: 1024 * 1024, found: { carved: 3 } });
    p.update({ stage: 'scan', done: 1024 * 1024, total: 1024 * 1024, found: { carved: 4, deleted: 1 } });
    expect(lines[0]).toMatch(/^scanning: 512 KiB of 1\.0 MiB \(50%\), .*\/s, found: 3 carved\n$/);
    expect(lines[1]).toMatch(/found: 4 carved, 1 deleted/);
    const quiet: string[] = [];
    const q = createProgressReporter({ quiet: true, stream: { isTTY: false, write: (s: string) => quiet.push(s) } as unknown as NodeJS.WriteStream });
    q.update({ stage: 'scan', done: 1, total: 1, found: {} });
    expect(quiet).toEqual([]);
  });

  it('list --json keeps stdout machine-readable while progress goes to stderr', () => {
    const r = runCli(['list', '--json', fixtureImage('quickformat-fat16')], { CARDRESCUE_PROGRESS_MS: '0' });
    expect(() => JSON.parse(r.stdout)).not.toThrow();
    expect(r.stderr).toMatch(/scanning: .* \(100%\)/);
    expect(runCli(['list', '--json', '-q', fixtureImage('quickformat-fat16')], { CARDRESCUE_PROGRESS_MS: '0' }).stderr).toBe('');
    // A short job on a pipe stays quiet at the default interval.
    expect(runCli(['list', '--json', fixtureImage('quickformat-fat16')]).stderr).toBe('');
  });
});

describe('timing', () => {
  it('CARDRESCUE_TIMING=1 prints the scan\'s own bytes and time, which bench/speed.mjs reads', () => {
    const image = fixtureImage('quickformat-fat16');
    const events: ProgressEvent[] = [];
    runPipeline(new BufferReader(fs.readFileSync(image)), { onProgress: (e) => events.push(e) });
    const r = runCli(['list', '-q', image], { CARDRESCUE_TIMING: '1' });
    const line = /scan: (\d+) bytes in ([\d.]+) s \(\d+ MB\/s, (\d+) region\(s\)\)/.exec(r.stderr);
    expect(line, r.stderr).not.toBeNull();
    // Every byte the scan went over, the same count its progress events end at.
    expect(Number(line![1])).toBe(events[events.length - 1].total);
    expect(Number(line![2])).toBeGreaterThan(0);
    // Without the variable, nothing.
    expect(runCli(['list', '-q', image]).stderr).not.toMatch(/scan:/);
  });
});

describe('list table', () => {
  it('shortens long paths in the middle to fit the terminal', async () => {
    const { fitMiddle } = await import('../src/commands/list.js');
    expect(fitMiddle('short', 20)).toBe('short');
    const fitted = fitMiddle('/Holiday 2026/Beach day/Kids building a sandcastle.jpg', 30);
    expect(fitted).toHaveLength(30);
    expect(fitted).toMatch(/^\/Holiday.*….*sandcastle\.jpg$/);
  });
});

describe('colour', () => {
  const image = () => fixtureImage('fat16-mbr');
  const ESC = '\u001b[';
  it('colours the summary when asked, and never with NO_COLOR or --no-color', async () => {
    const { freshOut } = await import('./support/fixtures.js');
    const out = () => `${freshOut('colour')}/out`;
    expect(runCli(['recover', image(), '--out', out()], { FORCE_COLOR: '1', NO_COLOR: '' }).stdout).toContain(ESC);
    expect(runCli(['recover', image(), '--out', out()], { FORCE_COLOR: '1', NO_COLOR: '1' }).stdout).not.toContain(ESC);
    expect(runCli(['recover', image(), '--out', out(), '--no-color'], { FORCE_COLOR: '1', NO_COLOR: '' }).stdout).not.toContain(ESC);
  });
});
