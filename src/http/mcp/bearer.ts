import type { AuthInfo } from '@modelcontextprotocol/sdk/server/auth/types.js';
import type { NextFunction, Request, Response } from 'express';
import type { ConnectionEntry } from '../../cache/token-cache.js';
import { Forbidden, InsufficientScope, InvalidToken, TokenRequired } from '../../domain/errors.js';
import { MCP_SCOPE } from '../../domain/scopes.js';
import { resolveBearer } from '../../services/bearer.js';
import type { McpCaller } from '../../services/caller.js';
import type { Services } from '../../services/context.js';

/** What Waxseal adds to the SDK's AuthInfo: the caller, and the connection id beside the OAuth client id. */
export interface CallerExtra {
  caller: McpCaller;
  connectionId: string;
}

/**
 * The caller of a connection's requests, made once per cached connection
 * entry (issue 13: one per request, and the key servers.ts derives from it,
 * cost some 2 µs a call). A changed connection is a new entry, hence a new
 * caller. Frozen: every request of the connection shares it.
 */
const callers = new WeakMap<ConnectionEntry, McpCaller>();
function mcpCallerOf(c: ConnectionEntry): McpCaller {
  let caller = callers.get(c);
  if (!caller) {
    caller = Object.freeze({
      user: Object.freeze({ id: c.userId, email: c.userEmail, role: c.role }),
      connection: Object.freeze({ id: c.id, clientName: c.clientName, allowedTools: c.allowedTools }),
      apiKey: c.apiKey,
      apiKeyPrefix: c.apiKeyPrefix,
    });
    callers.set(c, caller);
  }
  return caller;
}

/**
 * The SDK's AuthInfo of one request. A class, for its `resource` getter: an
 * object literal with a getter of its own cost a runtime call and a closure
 * per request, some 1 µs of CPU (issue 13).
 */
class McpAuth implements AuthInfo {
  constructor(
    readonly token: string,
    readonly clientId: string,
    readonly scopes: string[],
    readonly expiresAt: number,
    private readonly audience: string,
    readonly extra: CallerExtra & Record<string, unknown>,
  ) {}

  /** Made when read (rarely: a library tool may): one URL per request cost 1 % of a whoami's CPU. */
  get resource(): URL {
    return new URL(this.audience);
  }
}

/** The operations of /mcp and the scopes each requires (SPEC §2: a 403 names them all). */
const REQUIRED_SCOPES = [MCP_SCOPE];

/**
 * RFC 6750 bearer authentication for /mcp. Each refusal is a typed error that
 * http/errors.ts renders with its challenge: a missing token gets a bare one
 * pointing at the resource metadata (RFC 9728 §5.1), a bad one adds
 * error="invalid_token", a token without the needed scope gets 403 insufficient_scope.
 */
export function requireBearer(s: Services) {
  const ownOrigin = new URL(s.config.publicUrl).origin;

  return async (req: Request, _res: Response, next: NextFunction) => {
    // MCP transport security: a foreign Origin is refused (DNS rebinding).
    const origin = req.headers.origin;
    if (origin !== undefined && origin !== ownOrigin) {
      throw new Forbidden('Origin not allowed', { reason: `foreign Origin ${origin.slice(0, 200)}` });
    }
    const header = req.headers.authorization;
    if (header === undefined || header === '') throw new TokenRequired();
    const match = /^Bearer +([A-Za-z0-9\-._~+/]+=*) *$/i.exec(header);
    if (!match) {
      throw new InvalidToken('The Authorization header is malformed', { reason: 'not a Bearer credential' });
    }
    const token = match[1] as string;
    const caller = await resolveBearer(s, token);
    // Tokens are audience-bound to the canonical MCP URL (RFC 8707). SPEC §9:
    // /mcp accepts OAuth access tokens only, never an API key.
    if (!caller) throw new InvalidToken();
    if (caller.token.kind !== 'access_token') {
      throw new InvalidToken(undefined, { reason: 'an API key is not a bearer at /mcp' });
    }
    if (caller.token.resource !== s.config.mcpUrl) {
      throw new InvalidToken(undefined, { reason: 'token issued for another resource' });
    }
    if (!REQUIRED_SCOPES.every((sc) => caller.token.scopes.includes(sc))) {
      throw new InsufficientScope(REQUIRED_SCOPES, {
        reason: `token has scope "${caller.token.scopes.join(' ')}"`,
      });
    }
    const c = caller.connection;
    const auth = new McpAuth(
      token,
      // The SDK's AuthInfo.clientId is the OAuth client's id (RFC 6749 §2.2).
      c.clientId,
      caller.token.scopes,
      Math.floor((caller.token.expiresAt ?? s.clock.now() + 3_600_000) / 1000),
      caller.token.resource,
      { caller: mcpCallerOf(c), connectionId: c.id },
    );
    (req as Request & { auth?: AuthInfo }).auth = auth;
    next();
  };
}
