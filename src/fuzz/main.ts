/**
 * `npm run fuzz [-- --cases N --seed S --jobs J --images a,b --timeout-ms 5000 --max-rss-mb 1536]`
 *
 * Mutates the fixture images (src/fuzz/mutate.ts) and runs the whole pipeline, plus the
 * writer into a temporary folder, on each case in worker processes, with a time limit per
 * case and a memory limit per worker. Prints how many cases ran and failed; every failing
 * input is saved under fuzz-failures/ (gzip) with a .json that says its seed, case number,
 * mutations and what went wrong. Re-run one with `npm run fuzz -- --replay FILE.img.gz`.
 * Exit status 1 when any case failed or a fixture changed.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { BufferReader } from '../reader.js';
import { caseOptions, checkCase, FUZZ_SCRATCH_ENV, scratchBase } from './check.js';
import { caseSeed, mutate, structureTargets, type Target } from './mutate.js';
import { fixtureHashes, fixtureNames, knownFiles, loadFixture, projectRoot } from './images.js';
import type { CaseMessage, WorkerMessage } from './worker.js';

interface Args {
  cases: number;
  seed: number;
  jobs: number;
  images: string[];
  timeoutMs: number;
  maxRssMb: number;
  out: string;
  write: boolean;
  maxSaved: number;
  replay?: string;
  only?: number;
}

function parseArgs(argv: string[]): Args {
  const args: Args = {
    cases: 10_000,
    seed: (Date.now() ^ (process.pid << 16)) >>> 0,
    jobs: Math.max(1, Math.min(8, os.availableParallelism())),
    images: fixtureNames(),
    timeoutMs: 5000,
    maxRssMb: 1536,
    out: path.join(projectRoot(), 'fuzz-failures'),
    write: true,
    maxSaved: 200,
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    const num = () => {
      const n = Number(value());
      if (!Number.isInteger(n) || n < 0) throw new Error(`${a}: expected a whole number`);
      return n;
    };
    if (a === '--cases') args.cases = num();
    else if (a === '--seed') args.seed = num() >>> 0;
    else if (a === '--jobs') args.jobs = Math.max(1, num());
    else if (a === '--images') args.images = value().split(',').filter(Boolean);
    else if (a === '--timeout-ms') args.timeoutMs = num();
    else if (a === '--max-rss-mb') args.maxRssMb = num();
    else if (a === '--out') args.out = path.resolve(value());
    else if (a === '--no-write') args.write = false;
    else if (a === '--max-saved') args.maxSaved = num();
    else if (a === '--replay') args.replay = value();
    else if (a === '--case') args.only = num();
    else if (a === '--help' || a === '-h') {
      process.stdout.write(fs.readFileSync(fileURLToPath(import.meta.url), 'utf8').split('*/')[0] + '*/\n');
      process.exit(0);
    } else throw new Error(`unknown option ${a}`);
  }
  const known = new Set(fixtureNames());
  for (const name of args.images) if (!known.has(name)) throw new Error(`--images: no fixtures/${name}.img.gz`);
  return args;
}

interface Failure {
  index: number;
  image: string;
  seed: number;
  kind: 'crash' | 'invariant' | 'timeout' | 'memory' | 'worker-died' | 'suspect';
  message: string;
  ms?: number;
}

/** The clean image and where its structures are, to re-make a failing case from its seed. */
const remake = (() => {
  let cached: { name: string; buf: Buffer; targets: Target[] } | undefined;
  return (name: string, seed: number): { bytes: Buffer; ops: string[] } => {
    if (cached?.name !== name) {
      const buf = loadFixture(name);
      cached = { name, buf, targets: structureTargets(new BufferReader(buf)) };
    }
    const m = mutate(cached.buf, cached.targets, seed);
    const result = { bytes: Buffer.from(m.bytes), ops: m.ops };
    m.undo();
    return result;
  };
})();

function saveFailure(args: Args, f: Failure): string {
  const dir = f.kind === 'suspect' ? path.join(args.out, 'suspect') : args.out;
  fs.mkdirSync(dir, { recursive: true });
  const { bytes, ops } = remake(f.image, f.seed);
  const base = path.join(dir, `${f.image}-seed${args.seed}-case${f.index}`);
  fs.writeFileSync(`${base}.img.gz`, zlib.gzipSync(bytes, { level: 6 }));
  const info = { ...f, runSeed: args.seed, caseSeed: f.seed, options: caseOptions(f.seed), ops, size: bytes.length, replay: `npm run fuzz -- --replay ${path.relative(projectRoot(), base)}.img.gz` };
  fs.writeFileSync(`${base}.json`, JSON.stringify(info, null, 2) + '\n');
  return `${base}.img.gz`;
}

function replay(file: string): number {
  const raw = fs.readFileSync(file);
  const bytes = file.endsWith('.gz') ? zlib.gunzipSync(raw) : raw;
  const meta = file.replace(/\.img(\.gz)?$/, '.json');
  const info = fs.existsSync(meta) ? (JSON.parse(fs.readFileSync(meta, 'utf8')) as { image?: string; caseSeed?: number; ops?: string[] }) : {};
  if (info.ops) process.stdout.write(`mutations: ${info.ops.join('; ')}\n`);
  const result = checkCase(bytes, info.image ? knownFiles(info.image) : undefined, { pipeline: info.caseSeed !== undefined ? caseOptions(info.caseSeed) : {} });
  process.stdout.write(`${result.files} file(s) in ${result.ms} ms; ${result.problems.length ? `problems:\n  ${result.problems.join('\n  ')}` : 'no problems'}\n`);
  if (result.suspects.length) process.stdout.write(`suspect:\n  ${result.suspects.join('\n  ')}\n`);
  return result.problems.length ? 1 : 0;
}

/** Resident memory of a process, in MiB (Linux /proc), or 0. */
function rssMb(pid: number | undefined): number {
  if (!pid) return 0;
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : 0;
  } catch {
    return 0;
  }
}

async function run(args: Args): Promise<number> {
  const hashesBefore = fixtureHashes();
  const started = Date.now();
  // Grouped by image so a worker keeps one image in memory; case i's image and seed depend on i only.
  const order = args.images.map((_, k) => k);
  const queue: CaseMessage[] = [];
  for (const k of order) {
    for (let i = k; i < args.cases; i += args.images.length) queue.push({ type: 'case', index: i, image: args.images[k], seed: caseSeed(args.seed, i), write: args.write });
  }
  const failures: Failure[] = [];
  const suspects: Failure[] = [];
  let done = 0;
  let saved = 0;
  let savedSuspects = 0;
  let slowest = { ms: 0, index: -1, image: '' };
  let peakRss = 0;
  const inputsChanged = new Set<string>();
  const retried = new Set<number>();
  const workerFile = fileURLToPath(new URL('./worker.js', import.meta.url));
  // One folder for the run's outputs: a worker killed mid-case (time or memory limit) cannot clean up after itself.
  const scratch = fs.mkdtempSync(path.join(scratchBase(), 'cardrescue-fuzz-run-'));
  const total = queue.length;
  // Ctrl-C (or a SIGTERM to the run): the workers ignore the terminal's SIGINT, and the run
  // kills them, removes the scratch folder and still says what it did. A second signal leaves at once.
  const workers = new Set<ChildProcess>();
  let stoppedBy: NodeJS.Signals | undefined;
  const stop = (signal: NodeJS.Signals) => {
    if (stoppedBy) process.exit(130);
    stoppedBy = signal;
    queue.length = 0;
    for (const w of workers) w.kill('SIGKILL');
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  process.stdout.write(`fuzz: ${total} cases over ${args.images.length} image(s), seed ${args.seed}, ${args.jobs} worker(s), ${args.timeoutMs} ms and ${args.maxRssMb} MiB per case\n`);

  const record = (f: Failure) => {
    failures.push(f);
    let where = '';
    if (saved < args.maxSaved) {
      saved++;
      where = ` -> ${path.relative(process.cwd(), saveFailure(args, f))}`;
    }
    process.stdout.write(`FAIL ${f.kind} ${f.image} case ${f.index}: ${f.message.split('\n')[0]}${where}\n`);
  };

  await new Promise<void>((resolveAll) => {
    let active = 0;
    const startWorker = () => {
      const child: ChildProcess = fork(workerFile, [], {
        execArgv: ['--max-old-space-size=1024'],
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
        env: { ...process.env, [FUZZ_SCRATCH_ENV]: scratch },
      });
      workers.add(child);
      active++;
      let current: CaseMessage | undefined;
      let timer: NodeJS.Timeout | undefined;
      let poll: NodeJS.Timeout | undefined;
      let killedFor: Failure['kind'] | undefined;
      const stopTimers = () => {
        if (timer) clearTimeout(timer);
        if (poll) clearInterval(poll);
        timer = poll = undefined;
      };
      const next = () => {
        current = queue.shift();
        if (current) child.send(current);
        else child.send({ type: 'finish' });
      };
      child.on('message', (msg: WorkerMessage) => {
        if (msg.type === 'start') {
          timer = setTimeout(() => {
            killedFor = 'timeout';
            child.kill('SIGKILL');
          }, args.timeoutMs);
          poll = setInterval(() => {
            const rss = rssMb(child.pid);
            peakRss = Math.max(peakRss, rss);
            if (rss > args.maxRssMb) {
              killedFor = 'memory';
              child.kill('SIGKILL');
            }
          }, 50);
        } else if (msg.type === 'done') {
          stopTimers();
          const c = current!;
          done++;
          peakRss = Math.max(peakRss, msg.peakRssMb);
          if (msg.ms > slowest.ms) slowest = { ms: msg.ms, index: c.index, image: c.image };
          if (msg.error) record({ index: c.index, image: c.image, seed: c.seed, kind: 'crash', message: msg.error, ms: msg.ms });
          else if (msg.problems.length) record({ index: c.index, image: c.image, seed: c.seed, kind: 'invariant', message: msg.problems.join('; '), ms: msg.ms });
          else if (msg.ms > args.timeoutMs && !retried.has(c.index)) {
            retried.add(c.index);
            queue.unshift(c);
            done--;
          } else if (msg.ms > args.timeoutMs) record({ index: c.index, image: c.image, seed: c.seed, kind: 'timeout', message: `took ${msg.ms} ms, twice`, ms: msg.ms });
          else if (msg.peakRssMb > args.maxRssMb) record({ index: c.index, image: c.image, seed: c.seed, kind: 'memory', message: `peak ${msg.peakRssMb} MiB`, ms: msg.ms });
          if (msg.suspects.length) {
            const f: Failure = { index: c.index, image: c.image, seed: c.seed, kind: 'suspect', message: msg.suspects.join('; '), ms: msg.ms };
            suspects.push(f);
            if (savedSuspects++ < 50) saveFailure(args, f);
          }
          if (done % 1000 === 0) process.stdout.write(`  ${done}/${total} cases, ${failures.length} failure(s), ${Math.round((Date.now() - started) / 1000)} s\n`);
          next();
        } else if (msg.type === 'input-changed') {
          inputsChanged.add(msg.image);
        }
      });
      child.on('exit', (code, signal) => {
        stopTimers();
        workers.delete(child);
        active--;
        if (stoppedBy) current = undefined;
        if (current) {
          // A case over its time limit runs once more in a fresh worker: a busy machine is not a hang.
          if (killedFor === 'timeout' && !retried.has(current.index)) {
            retried.add(current.index);
            queue.unshift(current);
            current = undefined;
            return startWorker();
          }
          done++;
          const kind = killedFor ?? 'worker-died';
          const message = killedFor === 'timeout' ? `no result after ${args.timeoutMs} ms, twice` : killedFor === 'memory' ? `worker above ${args.maxRssMb} MiB` : `worker exited (${signal ?? code})`;
          record({ index: current.index, image: current.image, seed: current.seed, kind, message });
          current = undefined;
          if (queue.length) return startWorker();
        }
        if (active === 0) resolveAll();
      });
      next();
    };
    for (let j = 0; j < Math.min(args.jobs, Math.max(1, queue.length)); j++) startWorker();
  });
  process.off('SIGINT', stop);
  process.off('SIGTERM', stop);
  fs.rmSync(scratch, { recursive: true, force: true });
  if (stoppedBy) process.stdout.write(`fuzz: stopped by ${stoppedBy} after ${done} of ${total} cases; the unfinished ones did not run\n`);

  const seconds = (Date.now() - started) / 1000;
  const hashesAfter = fixtureHashes();
  const changedFixtures = Object.keys(hashesBefore).filter((k) => hashesBefore[k] !== hashesAfter[k]);
  const byKind = failures.reduce<Record<string, number>>((m, f) => ((m[f.kind] = (m[f.kind] ?? 0) + 1), m), {});
  process.stdout.write(
    `fuzz: ${done} cases, ${failures.length} failure(s)${failures.length ? ` (${Object.entries(byKind).map(([k, n]) => `${n} ${k}`).join(', ')})` : ''} in ${seconds.toFixed(1)} s; ` +
      `slowest case ${slowest.ms} ms (${slowest.image} case ${slowest.index}), ${retried.size} case(s) re-run after going over the time limit once, peak worker RSS ${Math.round(peakRss)} MiB; seed ${args.seed}\n`,
  );
  if (suspects.length) {
    process.stdout.write(
      `${suspects.length} suspect case(s), not failures: a walker vouched for a file no original matches (a mutated length it followed, a fragment stitched to another's tail); first ones in ${path.relative(process.cwd(), path.join(args.out, 'suspect'))}/\n`,
    );
    for (const f of suspects.slice(0, 5)) process.stdout.write(`  ${f.image} case ${f.index}: ${f.message.split('; ')[0]}\n`);
  }
  if (changedFixtures.length || inputsChanged.size) {
    process.stdout.write(`FAIL inputs changed: fixtures ${changedFixtures.join(', ') || 'none'}; in-memory originals ${[...inputsChanged].join(', ') || 'none'}\n`);
    return 1;
  }
  process.stdout.write(`inputs untouched: ${Object.keys(hashesAfter).length} fixtures/*.img.gz unchanged, in-memory originals intact\n`);
  if (stoppedBy) return 130;
  return failures.length ? 1 : 0;
}

async function main(): Promise<void> {
  let args: Args;
  try {
    args = parseArgs(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`fuzz: ${(err as Error).message}\n`);
    process.exitCode = 2;
    return;
  }
  if (args.replay) {
    process.exitCode = replay(args.replay);
    return;
  }
  if (args.only !== undefined) {
    const image = args.images[args.only % args.images.length];
    const seed = caseSeed(args.seed, args.only);
    const { bytes, ops } = remake(image, seed);
    process.stdout.write(`${image} case ${args.only} (seed ${seed}): ${ops.join('; ')}\n`);
    const result = checkCase(bytes, knownFiles(image), { pipeline: caseOptions(seed), write: args.write });
    process.stdout.write(`${result.files} file(s) in ${result.ms} ms; ${result.problems.length ? result.problems.join('; ') : 'no problems'}\n`);
    process.exitCode = result.problems.length ? 1 : 0;
    return;
  }
  process.exitCode = await run(args);
}

void main();
