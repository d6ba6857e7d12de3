import type { NextFunction, Request, Response } from 'express';
import {
  InsufficientScope,
  InvalidClient,
  InvalidToken,
  TokenRequired,
  Unavailable,
  WaxsealError,
} from '../domain/errors.js';
import type { Services } from '../services/context.js';
import { isUnavailable } from '../store/db.js';
import { RateLimited } from './limits.js';
import { isBasic } from './oauth/basic-auth.js';
import { resourceMetadataUrl } from './oauth/metadata.js';

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
 * The RFC 6750 §3 challenge of a /mcp refusal (SPEC §3): always the resource
 * metadata URL (RFC 9728 §5.1); `error="invalid_token"` only where a token was
 * given; insufficient_scope names every scope the operation needs.
 */
function bearerChallenge(known: WaxsealError, resourceMetadata: string): string | null {
  const base = `Bearer resource_metadata="${resourceMetadata}"`;
  if (known instanceof TokenRequired) return base;
  if (known instanceof InvalidToken) return `${base}, error="invalid_token"`;
  if (known instanceof InsufficientScope) {
    return `${base}, error="insufficient_scope", scope="${known.scopes.join(' ')}"`;
  }
  return null;
}

/**
 * Renders every error once (STYLE §3), as OAuth-style JSON:
 * `{ error, error_description }` — RFC 6749 §5.2 for OAuth endpoints, RFC 6750
 * for /mcp, the same shape for the admin API. An error's private `reason` is
 * logged, never sent. Unknown errors are logged and become a generic 500.
 */
export function errorRenderer(s: Services) {
  const resourceMetadata = resourceMetadataUrl(s);
  return (err: unknown, req: Request, res: Response, _next: NextFunction) => {
    const known = toWaxsealError(err);
    if (res.headersSent) return;
    if (!known) {
      s.log.error({ err, path: req.path }, 'unhandled error');
      res.status(500).json({ error: 'server_error', error_description: 'Something went wrong on our side' });
      return;
    }
    if (known.reason) {
      s.log.info(
        { path: req.path, status: known.status, error: known.code, reason: known.reason },
        'request refused',
      );
    }
    const challenge = bearerChallenge(known, resourceMetadata);
    if (challenge) res.set('WWW-Authenticate', challenge);
    if (known instanceof InvalidClient && isBasic(req.headers.authorization)) {
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
