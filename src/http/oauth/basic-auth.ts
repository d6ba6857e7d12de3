import { InvalidClient } from '../../domain/errors.js';

export interface BasicCredentials {
  id: string;
  secret: string;
}

/** The Authorization header names the Basic scheme (RFC 7617 §2; scheme names are case-insensitive). */
export function isBasic(header: string | undefined): boolean {
  return header !== undefined && /^basic(?:\s|$)/i.test(header);
}

/** RFC 6749 §2.3.1 / Appendix B: each half is application/x-www-form-urlencoded before base64. */
function formDecode(value: string): string {
  return decodeURIComponent(value.replace(/\+/g, ' '));
}

/**
 * The one decoder of HTTP Basic credentials (RFC 7617, RFC 6749 §2.3.1), for
 * every endpoint that accepts them. No Basic header → null. A Basic header that
 * is not base64 of `id:secret` with valid form-encoding → InvalidClient, which
 * http/errors.ts answers with 401 and a `WWW-Authenticate: Basic` challenge.
 */
export function basicCredentials(header: string | undefined): BasicCredentials | null {
  if (!isBasic(header)) return null;
  const malformed = (reason: string) => new InvalidClient('Malformed Basic credentials', { reason });
  const encoded = /^basic +([A-Za-z0-9+/]+={0,2}) *$/i.exec(header as string)?.[1];
  // Buffer.from(…, 'base64') skips what is not base64; check the alphabet first.
  if (!encoded || encoded.replace(/=+$/, '').length % 4 === 1) throw malformed('not base64');
  const decoded = Buffer.from(encoded, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) throw malformed('no colon between client id and secret');
  try {
    return { id: formDecode(decoded.slice(0, colon)), secret: formDecode(decoded.slice(colon + 1)) };
  } catch {
    throw malformed('bad percent-encoding');
  }
}
