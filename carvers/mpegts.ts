import type { Reader } from '../src/reader.js';
import type { Carver, WalkLimits, WalkResult } from './types.js';
import { MAX_TS_SIZE, TS_SCAN_PACKETS } from './limits.js';

/**
 * MPEG transport streams: AVCHD .MTS / .M2TS (192-byte packets: a 4-byte arrival
 * timestamp, then the 188-byte TS packet with its 0x47 sync byte) and plain .TS
 * (188-byte packets). A stream has no length field and no end marker: it ends where the
 * sync byte stops recurring. It starts with the PAT (PID 0), which is what detect checks.
 */

const SYNC = 0x47;
/** Fewer whole packets than this is not a recording. */
const MIN_PACKETS = 8;

/** Packet size when `head` starts with a PAT packet: 192 (M2TS) or 188 (TS); 0 otherwise. */
function packetSize(head: Buffer): 0 | 188 | 192 {
  const isPat = (at: number) =>
    head.length >= at + 6 &&
    head[at] === SYNC &&
    (head[at + 1] & 0xdf) === 0x40 && // payload unit start, PID high bits 0 (priority bit ignored)
    head[at + 2] === 0x00 && // PID 0: the PAT
    (head[at + 3] & 0xf0) === 0x10 && // not scrambled, payload only
    head[at + 4] === 0x00 && // pointer field
    head[at + 5] === 0x00; // table_id 0
  if (isPat(4)) return 192;
  if (isPat(0)) return 188;
  return 0;
}

function detect(head: Buffer): boolean {
  return packetSize(head) !== 0;
}

function walk(reader: Reader, start: number, limits: WalkLimits): WalkResult {
  const size = packetSize(reader.read(start, 16));
  if (size === 0) return { ok: false, reason: 'no PAT packet at the start' };
  const syncAt = size === 192 ? 4 : 0;
  const limit = Math.min(limits.maxLength, MAX_TS_SIZE, Math.max(0, reader.size - start), limits.expectedSize ?? Infinity);
  let packets = 0;
  scan: for (let pos = 0; pos + size <= limit; ) {
    const n = Math.min(TS_SCAN_PACKETS, Math.floor((limit - pos) / size));
    const chunk = reader.read(start + pos, n * size);
    for (let i = 0; i + size <= chunk.length; i += size) {
      if (chunk[i + syncAt] !== SYNC) break scan;
      packets++;
    }
    if (chunk.length < n * size) break;
    pos += n * size;
  }
  if (packets < MIN_PACKETS) return { ok: false, reason: `only ${packets} packets in sync`, validUpTo: packets * size };
  let length = packets * size;
  const notes = ['a transport stream has no end marker: it ends where the packet sync stops'];
  if (limits.expectedSize !== undefined && limits.expectedSize > length && length + size > limits.expectedSize) {
    notes.push(`${limits.expectedSize - length} bytes after the last whole packet kept: the directory entry gives the size`);
    length = limits.expectedSize;
  }
  return size === 192
    ? { ok: true, length, format: 'mts', ext: 'mts', notes }
    : { ok: true, length, format: 'ts', ext: 'ts', notes };
}

export const mpegTsCarver: Carver = {
  id: 'mpegts',
  types: ['mts', 'm2ts', 'ts'],
  // M2TS starts with a timestamp whose first byte can be anything; TS with the sync byte.
  firstBytes: [...Array(256).keys()],
  detect,
  walk,
};
