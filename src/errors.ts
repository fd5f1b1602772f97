/** Exit codes, documented in docs/usage.md. Scripts rely on them. */
export const ExitCode = {
  ok: 0,
  nothingFound: 1,
  usage: 2,
  source: 3,
  output: 4,
  partial: 5,
  interrupted: 130,
} as const;

/**
 * An error the user can act on: printed as one line, no stack trace.
 * Everything else is a bug and keeps its stack.
 */
export class UserError extends Error {
  constructor(message: string, readonly exitCode: number = ExitCode.usage) {
    super(message);
    this.name = 'UserError';
  }
}
