/**
 * Malformed media is data, not an exception: parsers collect diagnostics and go on.
 * Exceptions are for I/O failures and bugs.
 */
export type Severity = 'info' | 'warning' | 'error';

export interface Diagnostic {
  /** Stable machine-readable code, e.g. `fat.chain-loop`. */
  code: string;
  severity: Severity;
  message: string;
  /** Byte offset on the reader the parser was given, where it helps. */
  offset?: number;
}

export class Diagnostics {
  readonly items: Diagnostic[] = [];
  add(code: string, severity: Severity, message: string, offset?: number): void {
    this.items.push(offset === undefined ? { code, severity, message } : { code, severity, message, offset });
  }
  warn(code: string, message: string, offset?: number): void {
    this.add(code, 'warning', message, offset);
  }
  error(code: string, message: string, offset?: number): void {
    this.add(code, 'error', message, offset);
  }
  info(code: string, message: string, offset?: number): void {
    this.add(code, 'info', message, offset);
  }
}

/** What the partition table's reading found wrong, on stderr: a cut-short image explains an empty result. */
export function warnAboutLayout(items: readonly Diagnostic[]): void {
  for (const d of items) if (d.severity !== 'info') process.stderr.write(`cardrescue: ${d.severity}: ${d.message}\n`);
}
