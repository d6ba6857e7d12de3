import type { Request } from 'express';
import { InvalidClient, InvalidRequest } from '../../domain/errors.js';
import type { PresentedCredentials } from '../../services/clients.js';
import { formString } from '../support.js';

/**
 * Reads client credentials from HTTP Basic (RFC 6749 §2.3.1, form-urlencoded
 * then base64) or from the body. Using both at once is an error (§2.3).
 */
export function presentedCredentials(req: Request): PresentedCredentials {
  const header = req.headers.authorization;
  const bodyId = formString(req.body, 'client_id');
  const bodySecret = formString(req.body, 'client_secret');
  if (header?.toLowerCase().startsWith('basic ')) {
    if (bodySecret !== undefined) throw new InvalidRequest('Use one client authentication method, not two');
    const decoded = Buffer.from(header.slice(6).trim(), 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 0) throw new InvalidClient('Malformed Basic credentials');
    try {
      const id = decodeURIComponent(decoded.slice(0, colon).replace(/\+/g, ' '));
      const secret = decodeURIComponent(decoded.slice(colon + 1).replace(/\+/g, ' '));
      if (bodyId !== undefined && bodyId !== id)
        throw new InvalidRequest('client_id differs from the Basic credentials');
      return { clientId: id, clientSecret: secret, via: 'basic' };
    } catch (err) {
      if (err instanceof InvalidRequest) throw err;
      throw new InvalidClient('Malformed Basic credentials');
    }
  }
  return { clientId: bodyId, clientSecret: bodySecret, via: bodySecret === undefined ? 'none' : 'post' };
}
