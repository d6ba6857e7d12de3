/**
 * Who calls, as far as the gateway needs to know: the connection (sessions,
 * keys, audit) and the user's email and role (per-tool permissions). The MCP
 * endpoint's caller (SPEC §3) is one; the gateway takes it as an argument and
 * depends on nothing of the HTTP layer.
 */
export interface GatewayCaller {
  user: { email: string; role: string };
  /** `allowedTools`: SPEC §12 tools per connection (domain/tool-allow.ts); absent or null: no narrowing. */
  connection: { id: string; allowedTools?: readonly string[] | null };
}
