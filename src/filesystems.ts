import type { Reader } from './reader.js';
import type { FsDriver } from '../parsers/types.js';
import { fatDriver } from '../parsers/fat/index.js';
import { exfatDriver } from '../parsers/exfat/index.js';

/** File-system openers, tried in turn. Two that both claim a volume is an error, not a guess. */
export const fsDrivers: FsDriver[] = [exfatDriver, fatDriver];

export function detectFileSystem(volume: Reader): { driver?: FsDriver; ambiguous?: string[] } {
  const matches = fsDrivers.filter((d) => {
    try {
      return d.probe(volume);
    } catch {
      return false;
    }
  });
  if (matches.length > 1) return { ambiguous: matches.map((d) => d.name) };
  return { driver: matches[0] };
}
