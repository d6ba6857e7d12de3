/**
 * The CLI's exit codes (README, CLI): 0 done, 1 the command ran and failed
 * (unknown id, already revoked, a bad value the database refused, an invalid
 * configuration), 2 the command line itself is wrong (unknown command or
 * option, a missing argument). Either way stderr gets one line, `waxseal: …`.
 */
export const EXIT = { ok: 0, failed: 1, usage: 2 } as const;

/** A command line that cannot run as given. */
export class UsageError extends Error {}

/** An option given as `--email ''` is as missing as one not given at all. */
export function required(value: string, name: string): string {
  if (value === '') throw new UsageError(`--${name} is required`);
  return value;
}
