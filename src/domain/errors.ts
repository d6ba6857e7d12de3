/**
 * Errors are values with a type (STYLE §3): code throws one of these and
 * http/errors.ts renders it once, as OAuth JSON, API JSON or a page.
 */
export class WaxsealError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = new.target.name;
  }
}

// RFC 6749 §5.2 / RFC 7591 §3.2.2 / RFC 8707 §2 / RFC 7009 §2.2.1 error codes.
export class InvalidRequest extends WaxsealError {
  constructor(message: string) {
    super(400, 'invalid_request', message);
  }
}
export class InvalidClient extends WaxsealError {
  constructor(message = 'Client authentication failed') {
    super(401, 'invalid_client', message);
  }
}
export class InvalidGrant extends WaxsealError {
  constructor(message: string) {
    super(400, 'invalid_grant', message);
  }
}
export class UnauthorizedClient extends WaxsealError {
  constructor(message: string) {
    super(400, 'unauthorized_client', message);
  }
}
export class UnsupportedGrantType extends WaxsealError {
  constructor(message: string) {
    super(400, 'unsupported_grant_type', message);
  }
}
export class UnsupportedResponseType extends WaxsealError {
  constructor(message: string) {
    super(400, 'unsupported_response_type', message);
  }
}
export class InvalidScope extends WaxsealError {
  constructor(message: string) {
    super(400, 'invalid_scope', message);
  }
}
export class InvalidTarget extends WaxsealError {
  constructor(message: string) {
    super(400, 'invalid_target', message);
  }
}
export class InvalidRedirectUri extends WaxsealError {
  constructor(message: string) {
    super(400, 'invalid_redirect_uri', message);
  }
}
export class InvalidClientMetadata extends WaxsealError {
  constructor(message: string) {
    super(400, 'invalid_client_metadata', message);
  }
}
export class AccessDenied extends WaxsealError {
  constructor(message: string) {
    super(403, 'access_denied', message);
  }
}
export class TooManyRequests extends WaxsealError {
  constructor(message = 'Too many requests; try again later') {
    super(429, 'too_many_requests', message);
  }
}

// Admin API and CLI errors (SPEC §7).
export class BadInput extends WaxsealError {
  constructor(message: string) {
    super(400, 'bad_request', message);
  }
}
export class Unauthenticated extends WaxsealError {
  constructor(message = 'Sign in first') {
    super(401, 'unauthenticated', message);
  }
}
export class Forbidden extends WaxsealError {
  constructor(message = 'You do not have permission to do this') {
    super(403, 'forbidden', message);
  }
}
export class NotFound extends WaxsealError {
  constructor(message: string) {
    super(404, 'not_found', message);
  }
}
export class Conflict extends WaxsealError {
  constructor(message: string) {
    super(409, 'conflict', message);
  }
}
export class Unavailable extends WaxsealError {
  constructor(message = 'The database is unavailable; try again shortly') {
    super(503, 'temporarily_unavailable', message);
  }
}
