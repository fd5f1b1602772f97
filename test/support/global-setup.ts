import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import crypto from 'node:crypto';
import { fileURLToPath } from 'node:url';

/**
 * The source is never written, and neither are the fixtures: sha256 of every
 * fixtures/*.img.gz before the suite, compared after it. A change fails the run.
 */
const FIXTURES = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../fixtures');

function hashes(): Map<string, string> {
  const out = new Map<string, string>();
  for (const f of fs.readdirSync(FIXTURES).filter((x) => x.endsWith('.img.gz')).sort()) {
    out.set(f, crypto.createHash('sha256').update(fs.readFileSync(path.join(FIXTURES, f))).digest('hex'));
  }
  return out;
}

export default function setup(): () => void {
  const before = hashes();
  // Workers inherit this environment; their scratch folders go inside and are removed below.
  const runTmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cardrescue-test-run-'));
  process.env.CARDRESCUE_TEST_TMP = runTmp;
  return () => {
    fs.rmSync(runTmp, { recursive: true, force: true });
    const after = hashes();
    const changed = [...before].filter(([f, h]) => after.get(f) !== h).map(([f]) => f);
    if (changed.length) {
      // vitest reports an error thrown here but still exits 0: set the exit code ourselves.
      process.stderr.write(`FAIL fixtures changed during the test run (the source must never be written): ${changed.join(', ')}\n`);
      process.exitCode = 1;
      return;
    }
    process.stdout.write(`fixtures untouched: ${before.size} fixtures/*.img.gz have the sha256 they had before the run\n`);
  };
}
