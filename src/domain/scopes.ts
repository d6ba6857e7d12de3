import { InvalidScope } from './errors.js';

/** SPEC §2 scopes. `offline_access` is advertised by the authorization server only. */
export const MCP_SCOPE = 'mcp';
export const OFFLINE_ACCESS = 'offline_access';
export const KNOWN_SCOPES = [MCP_SCOPE, OFFLINE_ACCESS] as const;

/** Parses a scope parameter (RFC 6749 §3.3); none requested means `mcp`. */
export function parseScopes(scope: string | undefined): string[] {
  const requested = (scope ?? '').split(' ').filter(Boolean);
  if (requested.length === 0) return [MCP_SCOPE];
  const unknown = requested.filter((s) => !(KNOWN_SCOPES as readonly string[]).includes(s));
  if (unknown.length) throw new InvalidScope(`Unknown scope: ${unknown.join(' ')}`);
  return [...new Set(requested)];
}
