import type { Carver } from './types.js';
import { jpegCarver } from './jpeg.js';
import { tiffCarver } from './tiff.js';
import { bmffCarver } from './bmff.js';
import { riffCarver } from './riff.js';
import { crwCarver } from './crw.js';
import { rafCarver } from './raf.js';
import { mpegTsCarver } from './mpegts.js';
import { mpegPsCarver } from './mpegps.js';

/**
 * Every carver, in the order they are tried when several accept the same header.
 * Adding a format: one module exporting a Carver, plus one line here.
 */
export const carvers: Carver[] = [
  jpegCarver,
  tiffCarver,
  bmffCarver,
  riffCarver,
  crwCarver,
  rafCarver,
  mpegTsCarver,
  mpegPsCarver,
];

/** 256 buckets: the carvers whose files can start with each byte value. */
export function buildSignatureTable(list: readonly Carver[]): Carver[][] {
  const table: Carver[][] = Array.from({ length: 256 }, () => []);
  for (const c of list) for (const b of new Set(c.firstBytes)) if (b >= 0 && b <= 255) table[b].push(c);
  return table;
}

/** The carver a --types name selects (jpg, cr3, mov, nef, ...), or undefined. */
export function carverForType(name: string, list: readonly Carver[] = carvers): Carver | undefined {
  const n = name.trim().toLowerCase();
  return list.find((c) => c.types.includes(n));
}

/**
 * True when buf[at..at+8) is all zeros: no carver's file starts so (a box or pack header
 * has a type or start code there; test/carvers/registry.test.ts holds every carver to it).
 * Zero-filled space is most of a sparse or fresh card, and the ISO BMFF and MPEG-TS
 * carvers take every first byte: this one test spares them a detect() per cluster there.
 */
export function zeroHead(buf: Buffer, at: number): boolean {
  return buf[at] === 0 && at + 8 <= buf.length && buf.readUInt32LE(at) === 0 && buf.readUInt32LE(at + 4) === 0;
}

/**
 * The carvers of `table` that may start a file at buf[at] (its first byte's bucket), or
 * undefined when none can: an empty bucket, or zeros. Every file-start search asks this first.
 */
export function candidatesAt(table: readonly (readonly Carver[])[], buf: Buffer, at: number): readonly Carver[] | undefined {
  const bucket = table[buf[at]];
  return bucket?.length && !zeroHead(buf, at) ? bucket : undefined;
}

/** The carvers in `table` whose detect() accepts the bytes at a candidate start. */
export function detectAt(head: Buffer, table: readonly (readonly Carver[])[]): Carver[] {
  if (head.length === 0) return [];
  return (candidatesAt(table, head, 0) ?? []).filter((c) => c.detect(head));
}
