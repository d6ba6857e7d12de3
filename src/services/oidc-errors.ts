import { WaxsealError } from '../domain/errors.js';

/**
 * What can go wrong on the way back from the IdP, each shown as a page
 * (http/pages/oidc.ts) with no more detail than the person needs.
 */
export class OidcCallbackError extends WaxsealError {
  constructor(message = 'This sign-in could not be verified. Start again from the sign-in page.') {
    super(400, 'oidc_callback', message);
  }
}

/** The IdP signed the person in, but Waxseal does not let them in (no role, no email, not linkable). */
export class OidcRefused extends WaxsealError {
  constructor(message: string) {
    super(403, 'oidc_refused', message);
  }
}

/** The IdP is down or refuses Waxseal itself (misconfigured client): the operator must look. */
export class IdpUnavailable extends WaxsealError {
  constructor(message: string) {
    super(502, 'idp_unavailable', message);
  }
}
