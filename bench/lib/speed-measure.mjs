// Timing and peak memory of one command for bench/speed.mjs: run it under `/usr/bin/time -v`
// (GNU time; "Maximum resident set size" is the peak RSS of the process, for Node the main
// process), wall time from our own clock, stdout/stderr to files (a `list` of thousands of
// files must not be buffered by us). Page cache dropped before each measurement when allowed.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export const TIME = '/usr/bin/time';

/** Can we drop the page cache? (root on a kernel that lets us write drop_caches) */
export function canDropCaches() {
  try {
    dropCaches();
    return true;
  } catch {
    return false;
  }
}

export function dropCaches() {
  spawnSync('sync');
  fs.writeFileSync('/proc/sys/vm/drop_caches', '3\n');
}

/** What the VM has handed back to its host so far (free-page reporting), where the kernel says. */
const REPORTED = '/sys/module/page_reporting/parameters/reported_kib';

/**
 * Wait until the VM has handed the memory a drop freed back to its host: until the count of
 * reported memory has not moved for 3 s (at most 90 s). Returns the seconds waited, or null
 * where the kernel does not report pages.
 */
export function waitForPageReporting() {
  if (!fs.existsSync(REPORTED)) return null;
  const t0 = Date.now();
  let last = fs.readFileSync(REPORTED, 'utf8');
  let still = Date.now();
  while (Date.now() - still < 3000 && Date.now() - t0 < 90_000) {
    spawnSync('sleep', ['0.25']);
    const now = fs.readFileSync(REPORTED, 'utf8');
    if (now !== last) {
      last = now;
      still = Date.now();
    }
  }
  return (Date.now() - t0) / 1000;
}

/** Parse GNU time -v output. */
function parseTime(text) {
  const kb = text.match(/Maximum resident set size \(kbytes\): (\d+)/);
  const user = text.match(/User time \(seconds\): ([\d.]+)/);
  const sys = text.match(/System time \(seconds\): ([\d.]+)/);
  const cpu = text.match(/Percent of CPU this job got: (\d+)%/);
  const majflt = text.match(/Major \(requiring I\/O\) page faults: (\d+)/);
  const minflt = text.match(/Minor \(reclaiming a frame\) page faults: (\d+)/);
  const exit = text.match(/Exit status: (\d+)/);
  return {
    peakRssKB: kb ? Number(kb[1]) : null,
    userSec: user ? Number(user[1]) : null,
    sysSec: sys ? Number(sys[1]) : null,
    cpuPercent: cpu ? Number(cpu[1]) : null,
    majorFaults: majflt ? Number(majflt[1]) : null,
    minorFaults: minflt ? Number(minflt[1]) : null,
    exitFromTime: exit ? Number(exit[1]) : null,
  };
}

/**
 * Run `cmd args` under /usr/bin/time -v with stdout/stderr into `logDir/<tag>.{out,err}`.
 * Returns { seconds, exit, signal, timedOut, peakRssKB, userSec, sysSec, cpuPercent, stdoutFile, stderrFile, stderrTail }.
 */
export function measure(cmd, args, { cwd, env, logDir, tag, timeoutSec, drop, settle, quietFirst }) {
  fs.mkdirSync(logDir, { recursive: true });
  const outFile = path.join(logDir, `${tag}.out`);
  const errFile = path.join(logDir, `${tag}.err`);
  const timeFile = path.join(logDir, `${tag}.time`);
  fs.rmSync(timeFile, { force: true });
  // Waited for before the drop, not after: see QUIET_FIRST in bench/speed.mjs.
  const quietBefore = drop && quietFirst ? waitForPageReporting() : undefined;
  if (drop) dropCaches();
  const settledAfter = drop && settle ? waitForPageReporting() : undefined;
  const loadAvg1 = +os.loadavg()[0].toFixed(2);
  const out = fs.openSync(outFile, 'w');
  const err = fs.openSync(errFile, 'w');
  const t0 = process.hrtime.bigint();
  // `timeout` under `time`: on expiry the tool itself is killed and time still reports (the
  // peak RSS reported for timeout's child is the tool's: wait4 folds in reaped descendants).
  const limit = timeoutSec ? ['timeout', '--signal=KILL', String(timeoutSec)] : [];
  const r = spawnSync(TIME, ['-v', '-o', timeFile, ...limit, cmd, ...args], { cwd, env: env ? { ...process.env, ...env } : undefined, stdio: ['ignore', out, err] });
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  fs.closeSync(out);
  fs.closeSync(err);
  if (r.error) throw r.error;
  const timedOut = !!timeoutSec && r.status === 128 + 9 && seconds >= timeoutSec;
  const t = fs.existsSync(timeFile) ? parseTime(fs.readFileSync(timeFile, 'utf8')) : {};
  const stderr = fs.readFileSync(errFile, 'utf8');
  return {
    seconds, exit: r.status, signal: r.signal, timedOut, loadAvg1, quietBefore, settledAfter, ...t,
    stdoutFile: outFile, stderrFile: errFile, stderrTail: stderr.trim().split('\n').slice(-3).join('\n').slice(0, 500),
  };
}

/** Number and total size of the regular files below dir. */
export function dirStats(dir) {
  let files = 0;
  let bytes = 0;
  const walk = (d) => {
    if (!fs.existsSync(d)) return;
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile()) {
        files++;
        bytes += fs.statSync(p).size;
      }
    }
  };
  walk(dir);
  return { files, bytes };
}
