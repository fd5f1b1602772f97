/**
 * Whether the command line asks for a scan (`list` or `recover`, without `--no-carve`): a
 * guess from its words alone, made before the tool is loaded, so that the scan's reading
 * thread can be started first (src/launch/load.ts). A wrong guess costs a
 * thread that is ended unused (src/cli.ts), a missed one a thread started later.
 */
export function scansByCommandLine(args: readonly string[]): boolean {
  if (args.some((a) => a === '--no-carve' || a === '-h' || a === '--help')) return false;
  const command = args.find((a) => !a.startsWith('-'));
  return command === 'list' || command === 'recover';
}
