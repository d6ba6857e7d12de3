import { WaxsealError } from './errors.js';

/** RFC 7644 §3.12 Table 9: the scimType of a 400 (and 409 uniqueness, 400 mutability). */
export type ScimType =
  | 'invalidFilter'
  | 'tooMany'
  | 'uniqueness'
  | 'mutability'
  | 'invalidSyntax'
  | 'invalidPath'
  | 'noTarget'
  | 'invalidValue'
  | 'invalidVers'
  | 'sensitive';

/**
 * A SCIM protocol error (RFC 7644 §3.12), rendered by http/scim/errors.ts as
 * `{ schemas, status, scimType, detail }`. Other Waxseal errors reaching the
 * SCIM endpoint are rendered in the same shape from their status.
 */
export class ScimError extends WaxsealError {
  constructor(
    status: number,
    readonly scimType: ScimType | undefined,
    detail: string,
  ) {
    super(status, scimType ?? 'scim_error', detail);
  }
}

export const invalidSyntax = (detail: string) => new ScimError(400, 'invalidSyntax', detail);
export const invalidValue = (detail: string) => new ScimError(400, 'invalidValue', detail);
export const invalidPath = (detail: string) => new ScimError(400, 'invalidPath', detail);
export const invalidFilter = (detail: string) => new ScimError(400, 'invalidFilter', detail);
export const uniqueness = (detail: string) => new ScimError(409, 'uniqueness', detail);
export const noSuchResource = (detail: string) => new ScimError(404, undefined, detail);
