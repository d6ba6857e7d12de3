/**
 * SPEC §2 / RFC 8252 / RFC 9700 §4.1 redirect URI rules: https, loopback http,
 * or a private-use scheme; never a fragment; loopback matches on any port.
 */
const LOOPBACK_HOSTS = new Set(['127.0.0.1', '[::1]', 'localhost']);
const FORBIDDEN_SCHEMES = new Set([
  'javascript:',
  'data:',
  'vbscript:',
  'file:',
  'blob:',
  'about:',
  'ftp:',
  'ws:',
  'wss:',
  'mailto:',
  'tel:',
]);

/** Why a redirect URI may not be registered, or null when it may. */
export function redirectUriProblem(uri: string): string | null {
  if (uri.length > 2000) return 'is longer than 2000 characters';
  if (!URL.canParse(uri)) return 'is not an absolute URI';
  const url = new URL(uri);
  if (uri.includes('#')) return 'must not contain a fragment';
  if (url.username || url.password) return 'must not contain credentials';
  if (url.protocol === 'https:') return url.hostname ? null : 'must name a host';
  if (url.protocol === 'http:') {
    return isLoopback(url) ? null : 'may use http only for a loopback host (127.0.0.1, [::1], localhost)';
  }
  if (FORBIDDEN_SCHEMES.has(url.protocol)) return `may not use the ${url.protocol} scheme`;
  return null;
}

function isLoopback(url: URL): boolean {
  return url.protocol === 'http:' && LOOPBACK_HOSTS.has(url.hostname);
}

/** A loopback http URI with its port removed, compared as a string; null for anything else. */
const LOOPBACK_AUTHORITY = /^http:\/\/(127\.0\.0\.1|\[::1\]|localhost)(?::\d{1,5})?(?=[/?]|$)/;
function withoutPort(uri: string): string | null {
  const m = LOOPBACK_AUTHORITY.exec(uri);
  return m ? `http://${m[1]}${uri.slice(m[0].length)}` : null;
}

/**
 * Whether the URI sent to /authorize matches a registered one: exactly, or for a
 * loopback http URI, exactly except for the port (RFC 8252 §7.3, RFC 9700 §4.1.3).
 * The comparison is on the strings, not on parsed URLs, so userinfo, dot segments
 * or another spelling of the host never match.
 */
export function matchesRegistered(requested: string, registered: readonly string[]): boolean {
  if (registered.includes(requested)) return true;
  if (!URL.canParse(requested) || requested.includes('#')) return false;
  const req = withoutPort(requested);
  return req !== null && registered.some((r) => withoutPort(r) === req);
}
