import { Router } from 'express';
import { KNOWN_SCOPES, MCP_SCOPE } from '../../domain/scopes.js';
import type { Services } from '../../services/context.js';

/** Where the protected-resource metadata is served; every /mcp challenge points here (RFC 9728 §5.1). */
export function resourceMetadataUrl(s: Services): string {
  return `${s.config.publicUrl}/.well-known/oauth-protected-resource/mcp`;
}

/** RFC 9728 protected-resource metadata; `offline_access` is never listed here (SPEC §2). */
export function protectedResourceMetadata(s: Services) {
  return {
    resource: s.config.mcpUrl,
    authorization_servers: [s.config.publicUrl],
    scopes_supported: [MCP_SCOPE],
    bearer_methods_supported: ['header'],
    resource_name: 'Waxseal',
  };
}

/** RFC 8414 authorization-server metadata; the issuer is PUBLIC_URL exactly. */
export function authorizationServerMetadata(s: Services) {
  const base = s.config.publicUrl;
  return {
    issuer: base,
    authorization_endpoint: `${base}/authorize`,
    token_endpoint: `${base}/token`,
    registration_endpoint: `${base}/register`,
    revocation_endpoint: `${base}/revoke`,
    scopes_supported: [...KNOWN_SCOPES],
    response_types_supported: ['code'],
    response_modes_supported: ['query'],
    grant_types_supported: ['authorization_code', 'refresh_token'],
    code_challenge_methods_supported: ['S256'],
    token_endpoint_auth_methods_supported: ['none', 'client_secret_post', 'client_secret_basic'],
    revocation_endpoint_auth_methods_supported: ['none', 'client_secret_post', 'client_secret_basic'],
    authorization_response_iss_parameter_supported: true, // RFC 9207
    client_id_metadata_document_supported: true,
  };
}

export function metadataRouter(s: Services): Router {
  const router = Router();
  const prm = protectedResourceMetadata(s);
  const asm = authorizationServerMetadata(s);
  const send = (body: object) => (_req: unknown, res: import('express').Response) => {
    res.set('Access-Control-Allow-Origin', '*').set('Cache-Control', 'public, max-age=300').json(body);
  };
  // The SDK serves only the path form; clients fall back to the root form (FIELD-NOTES).
  router.get(
    ['/.well-known/oauth-protected-resource/mcp', '/.well-known/oauth-protected-resource'],
    send(prm),
  );
  router.get('/.well-known/oauth-authorization-server', send(asm));
  return router;
}
