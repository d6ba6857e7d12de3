import type { NextFunction, Request, Response } from 'express';
import type { Logger } from 'pino';
import { InvalidClient, Unavailable, WaxsealError } from '../domain/errors.js';
import { isUnavailable } from '../store/db.js';
import { RateLimited } from './limits.js';

/** Body-parser failures carry a status and a type; turn them into typed errors. */
function fromBodyParser(err: unknown): WaxsealError | null {
  const e = err as { type?: string; status?: number; expose?: boolean };
  // A body that fails to decompress (Content-Encoding gzip/deflate/br) comes as
  // the zlib error wrapped by http-errors: a 4xx to expose, with no type.
  if (!e?.type && e?.expose === true && typeof e.status === 'number' && e.status >= 400 && e.status < 500) {
    return new WaxsealError(400, 'invalid_request', 'The request body could not be decoded');
  }
  if (!e?.type || typeof e.status !== 'number') return null;
  if (e.type === 'entity.too.large')
    return new WaxsealError(413, 'invalid_request', 'The request body is too large');
  if (e.type === 'entity.parse.failed')
    return new WaxsealError(400, 'invalid_request', 'The request body is malformed');
  if (e.type === 'encoding.unsupported' || e.type === 'charset.unsupported') {
    return new WaxsealError(415, 'invalid_request', 'The request body encoding is not supported');
  }
  return new WaxsealError(
    e.status >= 400 && e.status < 500 ? e.status : 400,
    'invalid_request',
    'The request body is invalid',
  );
}

export function toWaxsealError(err: unknown): WaxsealError | null {
  if (err instanceof WaxsealError) return err;
  if (isUnavailable(err)) return new Unavailable();
  return fromBodyParser(err);
}

/**
 * Renders every error once (STYLE §3), as OAuth-style JSON:
 * `{ error, error_description }` — RFC 6749 §5.2 for OAuth endpoints, the same
 * shape for the admin API. Unknown errors are logged and become a generic 500.
 */
export function errorRenderer(log: Logger) {
  return (err: unknown, req: Request, res: Response, _next: NextFunction) => {
    const known = toWaxsealError(err);
    if (res.headersSent) return;
    if (!known) {
      log.error({ err, path: req.path }, 'unhandled error');
      res.status(500).json({ error: 'server_error', error_description: 'Something went wrong on our side' });
      return;
    }
    if (known instanceof InvalidClient && req.headers.authorization?.toLowerCase().startsWith('basic ')) {
      res.set('WWW-Authenticate', 'Basic realm="waxseal"'); // RFC 6749 §5.2
    }
    if (known.status === 503) res.set('Retry-After', '2');
    if (known instanceof RateLimited) res.set('Retry-After', String(known.retryAfterSeconds));
    res
      .status(known.status)
      .set('Cache-Control', 'no-store')
      .json({ error: known.code, error_description: known.message });
  };
}
