/**
 * What an error may carry besides its public message: `reason` says why, in
 * more detail than the client should hear ("issued to another client",
 * "registered client_secret_basic, presented client_secret_post"). It is
 * logged, never sent, and never holds a secret.
 */
export interface Private {
  reason?: string;
}

/**
 * Errors are values with a type (STYLE §3): code throws one of these and
 * http/errors.ts renders it once, as OAuth JSON, API JSON or a page. The
 * message is the public `error_description`: no more than the client needs.
 */
export class WaxsealError extends Error {
  readonly reason: string | undefined;
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    more: Private = {},
  ) {
    super(message);
    this.name = new.target.name;
    this.reason = more.reason;
  }
}

// RFC 6749 §5.2 / RFC 7591 §3.2.2 / RFC 8707 §2 / RFC 7009 §2.2.1 error codes.
export class InvalidRequest extends WaxsealError {
  constructor(message: string, more?: Private) {
    super(400, 'invalid_request', message, more);
  }
}
export class InvalidClient extends WaxsealError {
  constructor(message = 'Client authentication failed', more?: Private) {
    super(401, 'invalid_client', message, more);
  }
}
export class InvalidGrant extends WaxsealError {
  constructor(message: string, more?: Private) {
    super(400, 'invalid_grant', message, more);
  }
}
export class UnauthorizedClient extends WaxsealError {
  constructor(message: string, more?: Private) {
    super(400, 'unauthorized_client', message, more);
  }
}
export class UnsupportedGrantType extends WaxsealError {
  constructor(message: string, more?: Private) {
    super(400, 'unsupported_grant_type', message, more);
  }
}
export class UnsupportedResponseType extends WaxsealError {
  constructor(message: string, more?: Private) {
    super(400, 'unsupported_response_type', message, more);
  }
}
export class InvalidScope extends WaxsealError {
  constructor(message: string, more?: Private) {
    super(400, 'invalid_scope', message, more);
  }
}
export class InvalidTarget extends WaxsealError {
  constructor(message: string, more?: Private) {
    super(400, 'invalid_target', message, more);
  }
}
export class InvalidRedirectUri extends WaxsealError {
  constructor(message: string, more?: Private) {
    super(400, 'invalid_redirect_uri', message, more);
  }
}
export class InvalidClientMetadata extends WaxsealError {
  constructor(message: string, more?: Private) {
    super(400, 'invalid_client_metadata', message, more);
  }
}
export class AccessDenied extends WaxsealError {
  constructor(message: string, more?: Private) {
    super(403, 'access_denied', message, more);
  }
}
export class TooManyRequests extends WaxsealError {
  constructor(message = 'Too many requests; try again later', more?: Private) {
    super(429, 'too_many_requests', message, more);
  }
}

// RFC 6750 §3.1 / RFC 9728 §5.1: /mcp bearer authentication. http/errors.ts adds
// the WWW-Authenticate challenge each of these needs (SPEC §3).
/** No bearer token at all: the challenge carries no error code (RFC 6750 §3.1). */
export class TokenRequired extends WaxsealError {
  constructor(more?: Private) {
    super(401, 'unauthorized', 'A bearer token is required', more);
  }
}
export class InvalidToken extends WaxsealError {
  constructor(message = 'The token is invalid, expired or revoked', more?: Private) {
    super(401, 'invalid_token', message, more);
  }
}
/** The token lacks a scope the operation needs; the challenge names every one (SPEC §2). */
export class InsufficientScope extends WaxsealError {
  constructor(
    readonly scopes: readonly string[],
    more?: Private,
  ) {
    super(403, 'insufficient_scope', `Requires scope ${scopes.join(' ')}`, more);
  }
}

// Admin API and CLI errors (SPEC §7).
export class BadInput extends WaxsealError {
  constructor(message: string, more?: Private) {
    super(400, 'bad_request', message, more);
  }
}
export class Unauthenticated extends WaxsealError {
  constructor(message = 'Sign in first', more?: Private) {
    super(401, 'unauthenticated', message, more);
  }
}
export class Forbidden extends WaxsealError {
  constructor(message = 'You do not have permission to do this', more?: Private) {
    super(403, 'forbidden', message, more);
  }
}
export class NotFound extends WaxsealError {
  constructor(message: string, more?: Private) {
    super(404, 'not_found', message, more);
  }
}
export class Conflict extends WaxsealError {
  constructor(message: string, more?: Private) {
    super(409, 'conflict', message, more);
  }
}
export class Unavailable extends WaxsealError {
  constructor(message = 'The database is unavailable; try again shortly', more?: Private) {
    super(503, 'temporarily_unavailable', message, more);
  }
}
