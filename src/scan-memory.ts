import { reserveSearchMemory } from '../carvers/entropy-search.js';
import type { WarmUp } from './source/read-ahead.js';

/**
 * How far one read of the scan reaches: large reads keep a card's reader busy. On the speed
 * bench's JPEG card 4 MiB chunks listed it ~10% faster than 8 MiB ones, and 2 MiB ones were
 * slower too. bench/speed.mjs reads its baseline in chunks of this size.
 */
export const SCAN_CHUNK = 4 * 1024 * 1024;

/** Bytes a chunk carries past its end, so that a file start's head test never straddles two. */
export const HEAD = 64;

/**
 * Chunks the read-ahead thread holds: the one being worked on and three it reads next. On the
 * speed bench's cards (warm) four slots listed 3-5% faster than two; five were faster still
 * on the JPEG card but cost 4 MiB more of `recover`'s 200 MB.
 */
export const READ_AHEAD_SLOTS = 4;

/** Regions this small are read in less time than a thread takes to start. */
export const READ_AHEAD_MIN = 64 * 1024 * 1024;

/** The scan's own reads, where no reading thread serves it (src/carve.ts). */
export const OWN_READ_CHUNK = 256 * 1024;

/**
 * The scan's buffers, in the JPEG end search's memory: [0] for the chunks the scan reads
 * itself, then the reading thread's slots.
 */
export const SCAN_BUFFER_SIZES: readonly number[] = Array.from({ length: 1 + READ_AHEAD_SLOTS }, () => SCAN_CHUNK + HEAD);

/** Where the reading thread's slots will lie, made ready now: what it may touch before the scan (src/cli.ts). */
export function reserveReadAheadSlots(): WarmUp | undefined {
  const reserved = reserveSearchMemory(SCAN_BUFFER_SIZES);
  return reserved && { memory: reserved.memory, ranges: reserved.ranges.slice(1) };
}
