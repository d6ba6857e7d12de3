import type { Request } from 'express';
import type { Services } from '../services/context.js';

/**
 * Whether a state-changing browser request comes from Waxseal's own pages
 * (SPEC §7): Origin must be ours when sent; failing that, Sec-Fetch-Site must
 * not say cross-site. Requests with neither (non-browser clients) pass.
 */
export function fromOwnOrigin(s: Services, req: Request): boolean {
  const origin = req.headers.origin;
  if (origin !== undefined) return origin === new URL(s.config.publicUrl).origin;
  const site = req.headers['sec-fetch-site'];
  if (site !== undefined) return site === 'same-origin' || site === 'none';
  return true;
}
