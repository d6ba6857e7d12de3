/**
 * SPEC §12 tools per connection. A connection's allow-list narrows what its
 * role may use: null means every tool the role may use, a list means only the
 * tools named in it, by the name the client sees (after an upstream prefix).
 * The one rule both /mcp paths apply, the built-in and library tools
 * (http/mcp/tools.ts) and the gateway (upstreams/permissions.ts).
 */
export type ToolAllow = readonly string[] | null;

export function toolAllowed(allow: ToolAllow, exposedName: string): boolean {
  return allow === null || allow.includes(exposedName);
}

/** Most tools one allow-list may name, and the longest name (the API refuses more). */
export const MAX_ALLOWED_TOOLS = 500;
export const MAX_TOOL_NAME = 200;

/** The stored form (connections.tool_allow): a JSON array, or null. */
export function encodeToolAllow(allow: ToolAllow): string | null {
  return allow === null ? null : JSON.stringify([...new Set(allow)].sort());
}

export function decodeToolAllow(stored: string | null): ToolAllow {
  if (stored === null) return null;
  const value = JSON.parse(stored) as unknown;
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [];
}
