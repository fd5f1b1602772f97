/**
 * A fuzz worker process (forked by src/fuzz/main.ts): runs the cases it is sent, one at a
 * time, and reports each. The parent enforces the time and memory limits by killing it.
 */
import fs from 'node:fs';
import { BufferReader } from '../reader.js';
import { checkCase, caseOptions, type Known } from './check.js';
import { mutate, structureTargets, type Target } from './mutate.js';
import { knownFiles, loadFixture, sha256 } from './images.js';

export interface CaseMessage {
  type: 'case';
  index: number;
  image: string;
  seed: number;
  write: boolean;
}

export type WorkerMessage =
  | { type: 'start'; index: number }
  | { type: 'done'; index: number; ms: number; files: number; problems: string[]; suspects: string[]; error?: string; peakRssMb: number }
  | { type: 'input-changed'; image: string }
  | { type: 'finished' };

interface Loaded {
  name: string;
  buf: Buffer;
  sha: string;
  targets: Target[];
  known?: Known;
}

let current: Loaded | undefined;

const send = (m: WorkerMessage) => process.send!(m);

/** The in-memory original must be exactly as loaded after its cases: nothing wrote into it. */
function verifyIntact(): void {
  if (current && sha256(current.buf) !== current.sha) send({ type: 'input-changed', image: current.name });
}

function load(name: string): Loaded {
  if (current?.name === name) return current;
  verifyIntact();
  current = undefined;
  const buf = loadFixture(name);
  const sha = sha256(buf);
  current = { name, buf, sha, targets: structureTargets(new BufferReader(buf)), known: knownFiles(name) };
  return current;
}

/** Peak resident memory since the last reset, in MiB (Linux); resets the peak. */
function peakRssMb(): number {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync('/proc/self/status', 'utf8'));
    fs.writeFileSync('/proc/self/clear_refs', '5');
    return m ? Math.round(Number(m[1]) / 1024) : 0;
  } catch {
    return Math.round(process.memoryUsage().rss / 1024 / 1024);
  }
}

// A terminal's Ctrl-C reaches the whole process group: the run itself stops its workers (main.ts).
process.on('SIGINT', () => {});

process.on('message', (msg: CaseMessage | { type: 'finish' }) => {
  if (msg.type === 'finish') {
    verifyIntact();
    send({ type: 'finished' });
    process.disconnect();
    return;
  }
  const img = load(msg.image);
  peakRssMb();
  send({ type: 'start', index: msg.index });
  const m = mutate(img.buf, img.targets, msg.seed);
  let result: { ms: number; files: number; problems: string[]; suspects: string[] } = { ms: 0, files: 0, problems: [], suspects: [] };
  let error: string | undefined;
  const started = Date.now();
  try {
    result = checkCase(m.bytes, img.known, { pipeline: caseOptions(msg.seed), write: msg.write });
  } catch (err) {
    error = err instanceof Error ? (err.stack ?? err.message) : String(err);
    result.ms = Date.now() - started;
  } finally {
    m.undo();
  }
  send({ type: 'done', index: msg.index, ms: result.ms, files: result.files, problems: result.problems, suspects: result.suspects, error, peakRssMb: peakRssMb() });
});
