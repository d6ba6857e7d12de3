import type { AuthInfo } from '@modelcontextprotocol/sdk/server/auth/types.js';
import type { NextFunction, Request, Response } from 'express';
import { MCP_SCOPE } from '../../domain/scopes.js';
import type { Services } from '../../services/context.js';
import { resolveBearer } from '../../services/tokens.js';

/** Who calls an MCP tool (SPEC §3): user, role, connection and the connection's current API key. */
export interface McpCaller {
  user: { id: string; email: string; role: string };
  connection: { id: string; clientName: string };
  apiKey: string;
  apiKeyPrefix: string;
}

/** The operations of /mcp and the scopes each requires (SPEC §2: a 403 names them all). */
const REQUIRED_SCOPES = [MCP_SCOPE];

/**
 * RFC 6750 bearer authentication for /mcp. A missing token gets a bare challenge
 * pointing at the resource metadata (RFC 9728 §5.1); a bad one adds
 * error="invalid_token"; a token without the needed scope gets 403 insufficient_scope.
 */
export function requireBearer(s: Services) {
  const metadataUrl = `${s.config.publicUrl}/.well-known/oauth-protected-resource/mcp`;
  const ownOrigin = new URL(s.config.publicUrl).origin;
  const challenge = (extra = '') => `Bearer resource_metadata="${metadataUrl}"${extra}`;

  return async (req: Request, res: Response, next: NextFunction) => {
    // MCP transport security: a foreign Origin is refused (DNS rebinding).
    const origin = req.headers.origin;
    if (origin !== undefined && origin !== ownOrigin) {
      return res.status(403).json({ error: 'forbidden', error_description: 'Origin not allowed' });
    }
    const header = req.headers.authorization ?? '';
    const match = /^Bearer +([A-Za-z0-9\-._~+/]+=*) *$/i.exec(header);
    if (!match) {
      const given = header !== '';
      res.set('WWW-Authenticate', challenge(given ? ', error="invalid_token"' : ''));
      return res.status(401).json({
        error: given ? 'invalid_token' : 'unauthorized',
        error_description: given ? 'The Authorization header is malformed' : 'A bearer token is required',
      });
    }
    const token = match[1] as string;
    const caller = await resolveBearer(s, token);
    // Tokens are audience-bound to the canonical MCP URL (RFC 8707). SPEC §9:
    // /mcp accepts OAuth access tokens only, never an API key.
    if (caller?.token.kind !== 'access_token' || caller.token.resource !== s.config.mcpUrl) {
      res.set('WWW-Authenticate', challenge(', error="invalid_token"'));
      return res
        .status(401)
        .json({ error: 'invalid_token', error_description: 'The token is invalid, expired or revoked' });
    }
    if (!REQUIRED_SCOPES.every((sc) => caller.token.scopes.includes(sc))) {
      res.set(
        'WWW-Authenticate',
        challenge(`, error="insufficient_scope", scope="${REQUIRED_SCOPES.join(' ')}"`),
      );
      return res.status(403).json({
        error: 'insufficient_scope',
        error_description: `Requires scope ${REQUIRED_SCOPES.join(' ')}`,
      });
    }
    const c = caller.connection;
    const mcpCaller: McpCaller = {
      user: { id: c.userId, email: c.userEmail, role: c.role },
      connection: { id: c.id, clientName: c.clientName },
      apiKey: c.apiKey,
      apiKeyPrefix: c.apiKeyPrefix,
    };
    const auth: AuthInfo = {
      token,
      clientId: c.id,
      scopes: caller.token.scopes,
      expiresAt: Math.floor((caller.token.expiresAt ?? s.clock.now() + 3_600_000) / 1000),
      resource: new URL(caller.token.resource),
      extra: { caller: mcpCaller },
    };
    (req as Request & { auth?: AuthInfo }).auth = auth;
    next();
  };
}

export function callerOf(authInfo: AuthInfo | undefined): McpCaller {
  const caller = authInfo?.extra?.caller as McpCaller | undefined;
  if (!caller) throw new Error('MCP handler called without an authenticated caller');
  return caller;
}
