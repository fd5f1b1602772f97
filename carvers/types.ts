import type { Reader } from '../src/reader.js';

export interface WalkLimits {
  /** The walk must not claim more than this many bytes (end of pool, end of source, a known file size). */
  maxLength: number;
  /** When a directory entry gave the size, the file is expected to be exactly this long. */
  expectedSize?: number;
}

export interface WalkMeta {
  camera?: string;
  /** ISO-like date string from the file's own metadata. */
  date?: string;
  width?: number;
  height?: number;
}

export type WalkResult =
  | {
      ok: true;
      /** Exact byte length of the file. */
      length: number;
      /** Format name, from the content: 'jpeg', 'cr3', 'mov', 'mp4', 'heic', 'nef', 'cr2', 'avi', ... */
      format: string;
      /** File name extension without the dot, lower case. */
      ext: string;
      meta?: WalkMeta;
      /**
       * JPEG: the longest run inside the entropy-coded data of bytes it cannot hold (256 or
       * more bytes below 0x80: zeros or text the walk crossed, a gap in a fragmented file).
       * 0 or absent when there is none; any other value makes the carve suspect.
       */
      entropyGap?: number;
      /**
       * Bytes after the structural end counted in `length` only because `expectedSize` said so:
       * a camera's trailer, or (on a wrong guess of a deleted file's clusters) another file's tail.
       */
      tailKept?: number;
      /** What those bytes look like: 'zero padding', '0xFF padding', 'Samsung SEF trailer', 'unrecognised trailer'. */
      tailKind?: string;
      /** Bytes after the structural end that may belong to the file (camera padding, trailers). */
      trailer?: { length: number; kind: string };
      notes?: string[];
    }
  | {
      ok: false;
      reason: string;
      /** How many bytes from the start are structurally valid, when known. */
      validUpTo?: number;
    };

/**
 * One module per container family. `detect` is a cheap test of the first bytes
 * at a cluster start; `walk` follows the format's own structure to the exact end.
 */
export interface Carver {
  id: string;
  /** Names accepted by --types that select this carver: ['jpg', 'jpeg']. */
  types: string[];
  /** Possible values of the first byte of a file start, for the signature bucket table. */
  firstBytes: number[];
  /** `head` holds at least the first 64 bytes at the candidate start (fewer only at the end of the source). */
  detect(head: Buffer): boolean;
  /** Walk from `start` on `reader`; never throws on malformed data. */
  walk(reader: Reader, start: number, limits: WalkLimits): WalkResult;
  /** Formats this one may carry inside it (previews), so they are not carved separately. */
  embeds?: string[];
}
