import type { Request } from 'express';
import { InvalidRequest } from '../../domain/errors.js';
import type { PresentedCredentials } from '../../services/clients.js';
import { basicCredentials } from './basic-auth.js';
import type { OAuthForm } from './form.js';

/**
 * Reads client credentials from HTTP Basic (RFC 6749 §2.3.1) or from the form
 * body. Which one the client used is kept: services/clients.ts holds it to the
 * method the client registered. Using both at once is an error (§2.3: "MUST
 * NOT use more than one authentication method in each request").
 */
export function presentedCredentials(req: Request, form: OAuthForm): PresentedCredentials {
  const bodyId = form.get('client_id');
  const bodySecret = form.get('client_secret');
  const basic = basicCredentials(req.headers.authorization);
  if (!basic)
    return { clientId: bodyId, clientSecret: bodySecret, via: bodySecret === undefined ? 'none' : 'post' };
  if (bodySecret !== undefined) throw new InvalidRequest('Use one client authentication method, not two');
  if (bodyId !== undefined && bodyId !== basic.id) {
    throw new InvalidRequest('client_id differs from the Basic credentials');
  }
  return { clientId: basic.id, clientSecret: basic.secret, via: 'basic' };
}
