import { startReadAheadEarly } from './source/read-ahead.js';
import { reserveReadAheadSlots } from './scan-memory.js';
import { scansByCommandLine } from './launch/scans.js';

/**
 * Run by the command's entry (src/main.ts) before the rest of the tool is loaded: a command
 * that scans takes over the reading thread the launcher started (src/launch/load.ts), or
 * starts one now when run without it, and gives it the memory it will read into, whose pages
 * it touches once booted instead of during the scan (src/source/read-ahead.ts).
 */
if (scansByCommandLine(process.argv.slice(2))) startReadAheadEarly(reserveReadAheadSlots());
