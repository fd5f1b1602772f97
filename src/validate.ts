import type { Validator } from './plan.js';

/**
 * The content check the planner applies to files from metadata. Until the carvers are
 * wired in, nothing is known about content and every guess stays 'unverified'.
 */
export function contentValidator(): Validator | undefined {
  return undefined;
}
