import { startReadAheadEarly } from './source/read-ahead.js';
import { reserveReadAheadSlots } from './scan-memory.js';

/**
 * Run by the command's entry (src/main.ts) before the rest of the tool is loaded: a command
 * that scans gets its reading thread booting now, on the other core, instead of after the
 * command line is parsed and the source opened (~50 ms later here). Once booted, the thread
 * touches the memory it will read into, which it would otherwise do during the scan
 * (src/source/read-ahead.ts). Only a guess from the words on the command line: a wrong one
 * costs a thread that is ended unused (src/cli.ts), a missed one a thread started later.
 */
export function scansByCommandLine(args: readonly string[]): boolean {
  if (args.some((a) => a === '--no-carve' || a === '-h' || a === '--help')) return false;
  const command = args.find((a) => !a.startsWith('-'));
  return command === 'list' || command === 'recover';
}

if (scansByCommandLine(process.argv.slice(2))) startReadAheadEarly(reserveReadAheadSlots());
