/**
 * `npm run demo`: unpack the bundled demo card and recover it into ./demo-recovered,
 * exactly as a user would run `cardrescue recover card.img --out demo-recovered`.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const out = path.join(root, 'demo-recovered');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cardrescue-demo-'));
const image = path.join(tmp, 'demo-card.img');
fs.writeFileSync(image, zlib.gunzipSync(fs.readFileSync(path.join(root, 'fixtures/demo-card.img.gz'))));
fs.rmSync(out, { recursive: true, force: true });
console.log(`$ cardrescue recover ${image} --out ${path.relative(process.cwd(), out) || out}\n`);
const r = spawnSync(process.execPath, [path.join(root, 'dist/cardrescue.js'), 'recover', image, '--out', out], { stdio: 'inherit' });
fs.rmSync(tmp, { recursive: true, force: true });
process.exitCode = r.status ?? 1;
