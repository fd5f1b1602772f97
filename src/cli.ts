#!/usr/bin/env node
import { Command, InvalidArgumentError, CommanderError } from 'commander';
import chalk from 'chalk';
import { ByteSource } from './source/source.js';
import { ExitCode, UserError } from './errors.js';
import { toolVersion } from './version.js';
import { readBadMap } from './badmap.js';
import { endUnusedReadAhead, startReadAheadEarly } from './source/read-ahead.js';
import { mark } from './timing.js';
import { READ_AHEAD_MIN, reserveReadAheadSlots } from './scan-memory.js';

function volumeNumber(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError('expected a volume number (0 for a card without partition table, else 1, 2, ...)');
  return n;
}

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('expected a whole number of at least 1');
  return n;
}

function typeList(value: string): string[] {
  return value.split(',').map((t) => t.trim()).filter(Boolean);
}

/** Options shared by list and recover: what to look for and how. */
function withScanOptions(cmd: Command): Command {
  return cmd
    .option('--volume <n>', 'only this volume (0 = card without partition table)', volumeNumber)
    .option('--types <list>', 'carve only these types, e.g. jpg,cr3,nef,mov,mp4', typeList)
    .option('--no-carve', 'only what the file system metadata describes')
    .option('--carve-only', 'ignore file system metadata; find files by their content alone')
    .option('--keep-partial', 'also write files that fail their format check, marked damaged')
    .option('--bad-map <file>', 'GNU ddrescue mapfile of the source: its unread areas count as unreadable')
    .option('--lastchunk <box>', 'ISO BMFF (CR3/MOV/MP4): the box that ends a file (default mdat)')
    .option('--maxchunks <n>', 'ISO BMFF: at most this many top-level boxes per file', positiveInt)
    .option('--verify-jpeg', 'decode every carved JPEG\'s scan data, and check every carved video\'s samples (slower); by default only suspect ones')
    .option('--no-reassemble', 'do not rebuild fragmented files')
    .option('-v, --verbose', 'list each carved ISO BMFF file\'s boxes (name, size, offset)');
}

/**
 * Open the source (with --bad-map's unreadable ranges), run the command, always close;
 * user errors become one line and an exit code.
 */
async function withSource(sourcePath: string, opts: { badMap?: string; carve?: boolean }, scans: boolean, run: (source: ByteSource) => number | Promise<number>): Promise<void> {
  const map = opts.badMap ? readBadMap(opts.badMap) : undefined;
  const source = ByteSource.open(sourcePath, { knownBad: map?.ranges });
  try {
    if (map && map.extent !== source.size) {
      process.stderr.write(`cardrescue: warning: --bad-map ${opts.badMap} describes ${map.extent} bytes but ${sourcePath} has ${source.size}; is it this card's map?\n`);
    }
    // The thread that reads ahead for the scan boots while the command's modules load: the
    // launcher (src/launch/load.ts) has usually started it, and it is taken over here (with the
    // memory to touch while it waits), or started now. A card too small for one has it ended.
    const direct = scans && opts.carve !== false && source.size >= READ_AHEAD_MIN ? source.directFile() : undefined;
    if (direct) startReadAheadEarly(reserveReadAheadSlots());
    else endUnusedReadAhead();
    process.exitCode = await run(source);
  } finally {
    endUnusedReadAhead();
    source.close();
  }
}

export function buildProgram(): Command {
  const program = new Command();
  program
    .name('cardrescue')
    .description('Recover photos and videos from memory cards and card images. Never writes to the source.')
    .version(toolVersion())
    // chalk reads --no-color from argv itself; declared here so commander accepts it anywhere.
    .option('--no-color', 'no colours in the output (also: NO_COLOR=1)')
    .showHelpAfterError()
    // Before the subcommands are added, so they inherit it: usage errors get our exit code.
    .exitOverride();

  program
    .command('info')
    .description('show the partition table and each volume\'s file system, geometry and damage')
    .argument('<source>', 'card image file or block device (/dev/sdX, /dev/sdX1, /dev/loopN)')
    .option('--volume <n>', 'only this volume', volumeNumber)
    .option('--json', 'machine-readable output on stdout')
    .option('--bad-map <file>', 'GNU ddrescue mapfile of the source: its unread areas count as unreadable')
    .addHelpText('after', '\nExamples:\n  cardrescue info card.img\n  sudo cardrescue info /dev/sdb\n  cardrescue info card.img --bad-map card.map')
    .action((src: string, opts) => withSource(src, opts, false, async (s) => (await import('./commands/info.js')).infoCommand(s, opts)));

  withScanOptions(
    program
      .command('list')
      .description('list every recoverable file (metadata and carved candidates) without writing anything')
      .argument('<source>', 'card image file or block device'),
  )
    .option('-q, --quiet', 'no progress on stderr')
    .option('--json', 'machine-readable output on stdout')
    .addHelpText('after', '\nExamples:\n  cardrescue list card.img\n  cardrescue list --json /dev/sdb1 > files.json')
    .action((src: string, opts) => withSource(src, opts, true, async (s) => (await import('./commands/list.js')).listCommand(s, opts)));

  withScanOptions(
    program
      .command('recover')
      .description('write every recoverable file under --out, with report.json')
      .argument('<source>', 'card image file or block device')
      .requiredOption('-o, --out <dir>', 'output folder (must not be on the card itself)'),
  )
    .option('--extract-previews', 'also write each file\'s embedded preview (raw previews, EXIF thumbnails) under previews/')
    .option('--json', 'print report.json on stdout instead of the summary')
    .option('-q, --quiet', 'print nothing on success')
    .addHelpText('after', '\nExamples:\n  cardrescue recover card.img --out ~/rescued\n  sudo cardrescue recover /dev/sdb --out /media/backup/rescued\n  cardrescue recover card.img --bad-map card.map --out ~/rescued')
    .action((src: string, opts) => withSource(src, opts, true, async (s) => (await import('./commands/recover.js')).recoverCommand(s, opts)));
  return program;
}

/**
 * `cardrescue list card.img | head`: once the reader of our output has gone, what is left to
 * print has nowhere to go. That is no error of ours: stop printing, without a stack trace,
 * and let the command finish what it was doing (recover's files are written whatever happens).
 */
function quietWhenReaderLeaves(stream: NodeJS.WriteStream): void {
  let gone = false;
  stream.on('error', (err: NodeJS.ErrnoException) => {
    if (gone || err.code === 'EPIPE') {
      gone = true;
      return;
    }
    throw err;
  });
}

export async function main(argv: string[]): Promise<void> {
  mark('modules loaded');
  quietWhenReaderLeaves(process.stdout);
  quietWhenReaderLeaves(process.stderr);
  // https://no-color.org: any non-empty NO_COLOR, or --no-color, turns colour off whatever else says.
  if (argv.includes('--no-color') || (process.env.NO_COLOR ?? '') !== '') chalk.level = 0;
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      process.exitCode = err.exitCode === 0 ? 0 : ExitCode.usage;
      return;
    }
    if (err instanceof UserError) {
      process.stderr.write(`cardrescue: ${err.message}\n`);
      process.exitCode = err.exitCode;
      return;
    }
    throw err;
  }
}

// Done: leave without Node's tidy teardown of a heap we are throwing away (tens of ms after
// a big scan), unless output is still on its way out (stdout is asynchronous on some pipes).
void main(process.argv).then(() => {
  if (process.stdout.writableLength === 0 && process.stderr.writableLength === 0) process.exit();
});
