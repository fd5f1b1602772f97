#!/usr/bin/env node
// Raw sequential read of a file, the baseline for bench/speed.mjs: open it, readSync it from
// start to end into one reused buffer of the chunk size cardrescue scans with (SCAN_CHUNK in
// src/carve.ts; bench/speed.mjs passes it), print
// one JSON line { bytes, seconds, MBps } (MB = 10^6 bytes).
//
//   node bench/lib/speed-read.mjs IMAGE [CHUNK_BYTES]
import fs from 'node:fs';

const [file, chunkArg] = process.argv.slice(2);
if (!file) {
  console.error('usage: node bench/lib/speed-read.mjs IMAGE [CHUNK_BYTES]');
  process.exit(2);
}
const CHUNK = Number(chunkArg ?? 8 * 1024 * 1024);
const fd = fs.openSync(file, 'r');
const buf = Buffer.allocUnsafe(CHUNK);
const t0 = process.hrtime.bigint();
let pos = 0;
let check = 0;
for (;;) {
  const n = fs.readSync(fd, buf, 0, CHUNK, pos);
  if (n <= 0) break;
  check ^= buf[n - 1]; // touch the data once per chunk
  pos += n;
}
fs.closeSync(fd);
const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
console.log(JSON.stringify({ bytes: pos, seconds, MBps: pos / 1e6 / seconds, chunk: CHUNK, check }));
