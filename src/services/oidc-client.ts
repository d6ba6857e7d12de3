import * as client from 'openid-client';
import { ConfigError, type OidcSettings } from '../config.js';

/** The discovered IdP (SPEC §10): its metadata, how we authenticate to it, and the scopes we ask for. */
export interface Idp {
  settings: OidcSettings;
  config: client.Configuration;
  scopes: string[];
}

/** Start-up fails with this one line when the issuer can't be discovered (SPEC §10). */
export class IdpUnreachable extends ConfigError {}

const DISCOVERY_TIMEOUT_SECONDS = 10;

/**
 * Discovers the issuer through /.well-known/openid-configuration. The client
 * authenticates with client_secret_basic unless the IdP's metadata offers only
 * client_secret_post; offline_access is asked for when the IdP lists it, so the
 * IdP issues a refresh token for the re-check at refresh.
 */
export async function discoverIdp(settings: OidcSettings): Promise<Idp> {
  const issuer = new URL(settings.issuer);
  // SPEC §10: plain http only for a loopback issuer (config.ts refuses any other).
  const insecure = issuer.protocol === 'http:';
  let config: client.Configuration;
  try {
    config = await client.discovery(issuer, settings.clientId, undefined, undefined, {
      execute: insecure ? [client.allowInsecureRequests] : [],
      timeout: DISCOVERY_TIMEOUT_SECONDS,
    });
  } catch (err) {
    throw new IdpUnreachable(
      `OIDC_ISSUER: could not discover ${settings.issuer} (${describe(err)}); check the URL and that the IdP is reachable`,
    );
  }
  const meta = config.serverMetadata();
  const methods = meta.token_endpoint_auth_methods_supported ?? ['client_secret_basic'];
  const postOnly = methods.includes('client_secret_post') && !methods.includes('client_secret_basic');
  const auth = postOnly
    ? client.ClientSecretPost(settings.clientSecret)
    : client.ClientSecretBasic(settings.clientSecret);
  config = new client.Configuration(meta, settings.clientId, undefined, auth);
  if (insecure) client.allowInsecureRequests(config);
  // SPEC §10: the ID token's signature is checked against the IdP's JWKS. openid-client
  // skips that for a token endpoint response by default (OIDC Core §3.1.3.7 lets TLS
  // stand in for it); this turns it on, so a forged token is refused even then.
  client.enableNonRepudiationChecks(config);
  config.timeout = DISCOVERY_TIMEOUT_SECONDS;
  const scopes = [...settings.scopes];
  if (meta.scopes_supported?.includes('offline_access') && !scopes.includes('offline_access')) {
    scopes.push('offline_access');
  }
  return { settings, config, scopes };
}

/** A short reason for a log line or the start-up error; never a secret (none is in these errors). */
export function describe(err: unknown): string {
  const e = err as { message?: string; code?: string; cause?: { code?: string; message?: string } };
  const cause = e?.cause?.code ?? e?.cause?.message;
  return [e?.code, e?.message, cause].filter(Boolean).join(': ').slice(0, 300) || 'unknown error';
}
