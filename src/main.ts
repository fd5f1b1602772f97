#!/usr/bin/env node
// The command's entry. A scan's reading thread is started first (src/start-early.ts), and
// boots on the other core while the rest of the tool loads: a module's static imports are
// all loaded before any of its code runs, so the rest comes in through a dynamic import.
import './start-early.js';

await import('./cli.js');
