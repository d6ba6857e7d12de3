import type { Request } from 'express';
import type { Services } from '../services/context.js';

/**
 * Whether a state-changing browser request comes from Waxseal's own pages
 * (SPEC §7): Origin must be ours when sent; failing that, Sec-Fetch-Site must
 * not say cross-site. Requests with neither (non-browser clients) pass.
 *
 * Our pages send `Referrer-Policy: no-referrer`, under which browsers send
 * `Origin: null` even on a same-origin form post or fetch (Fetch §3.2.5
 * "serializing a request origin"); such a request is judged by Sec-Fetch-Site
 * alone, and refused when there is none.
 */
export function fromOwnOrigin(s: Services, req: Request): boolean {
  const origin = req.headers.origin;
  if (origin !== undefined && origin !== 'null') return origin === new URL(s.config.publicUrl).origin;
  const site = req.headers['sec-fetch-site'];
  if (site !== undefined) return site === 'same-origin' || site === 'none';
  return origin === undefined;
}
