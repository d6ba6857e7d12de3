import type { Generated } from 'kysely';

/** Which database a store runs on; migrations and a few statements differ by it. */
export type Dialect = 'sqlite' | 'postgres';

/** Times are milliseconds since the epoch in both backends (BIGINT in PostgreSQL). */
export interface Database {
  users: {
    id: string;
    email: string;
    password_hash: string;
    role: string;
    totp_sealed: string | null;
    created_at: number;
    /** SPEC §10: `active` or `disabled`. */
    status: Generated<string>;
    /** SPEC §10: `local`, `oidc` or `scim`. */
    source: Generated<string>;
    /** When SCIM deleted the user (kept disabled, never erased). */
    deprovisioned_at: number | null;
  };
  /** Issue #12: a user as the IdP knows them; the IdP's refresh token is sealed (domain/secrets.ts). */
  user_identities: {
    issuer: string;
    subject: string;
    user_id: string;
    refresh_sealed: string | null;
    last_recheck_at: number | null;
    created_at: number;
    last_signin_at: number;
  };
  /** Issue #12: a sign-in waiting for the IdP's callback; single use, short-lived. */
  oidc_logins: {
    id_hash: string;
    state: string;
    nonce: string;
    verifier_sealed: string;
    next: string;
    expires_at: number;
  };
  /** SPEC §10 back-channel logout: hashes of the logout tokens' jti already used. */
  mcp_stream_messages: {
    id: string;
    connection_id: string;
    message: string;
    created_at: number;
  };
  logout_tokens: {
    jti_hash: string;
    expires_at: number;
  };
  /** SPEC §10 SCIM: bearer tokens of `waxseal scim-token create`, hashed (migration 0008). */
  scim_tokens: {
    id: string;
    name: string;
    token_hash: string;
    created_at: number;
    last_used_at: number | null;
    revoked_at: number | null;
  };
  /** SPEC §10 SCIM: what the IdP says of a user beyond the users row. */
  scim_users: {
    user_id: string;
    external_id: string | null;
    /** 1 when the IdP wants the user active (RFC 7643 §4.1.1). */
    active: number;
    /** JSON: name, displayName, emails, … as the IdP last sent them. */
    attributes: string;
    /** 1 while the user is disabled only because no group gives a role (OIDC_DEFAULT_ROLE=none). */
    held_no_role: Generated<number>;
    updated_at: number;
  };
  /** SPEC §10 SCIM: the IdP's groups; displayName maps to a role through OIDC_ROLE_MAP. */
  scim_groups: {
    id: string;
    display_name: string;
    external_id: string | null;
    created_at: number;
    updated_at: number;
  };
  scim_group_members: {
    group_id: string;
    user_id: string;
  };
  oauth_clients: {
    client_id: string;
    secret_hash: string | null;
    client_name: string | null;
    redirect_uris: string;
    token_endpoint_auth_method: string;
    grant_types: string;
    response_types: string;
    scope: string | null;
    metadata: string;
    created_at: number;
  };
  browser_sessions: {
    id_hash: string;
    user_id: string;
    created_at: number;
    expires_at: number;
  };
  signin_challenges: {
    id_hash: string;
    user_id: string;
    next: string;
    attempts: number;
    expires_at: number;
  };
  authorization_requests: {
    id: string;
    session_hash: string;
    csrf_hash: string;
    client_id: string;
    redirect_uri: string;
    state: string | null;
    code_challenge: string;
    scopes: string;
    resource: string;
    expires_at: number;
  };
  authorization_codes: {
    code_hash: string;
    client_id: string;
    user_id: string;
    redirect_uri: string;
    code_challenge: string;
    scopes: string;
    resource: string;
    created_at: number;
    expires_at: number;
    used_at: number | null;
    connection_id: string | null;
  };
  connections: {
    id: string;
    user_id: string;
    client_id: string;
    client_name: string;
    status: string;
    scopes: string;
    resource: string;
    connected_at: number;
    last_token_at: number | null;
    revoked_at: number | null;
    revoked_by: string | null;
    current_api_key_id: string;
    /** SPEC §12 last used (migration 0010), written behind the request. */
    last_used_at: number | null;
    last_used_ip: string | null;
    /** SPEC §12 tools per connection: a JSON array of tool names, or null for all its role may use. */
    tool_allow: string | null;
  };
  api_keys: {
    id: string;
    connection_id: string;
    key_hash: string;
    key_prefix: string;
    key_ref: string;
    created_at: number;
    deactivated_at: number | null;
  };
  access_tokens: {
    token_hash: string;
    connection_id: string;
    refresh_token_id: string;
    api_key_id: string;
    scopes: string;
    resource: string;
    created_at: number;
    expires_at: number;
    revoked_at: number | null;
  };
  refresh_tokens: {
    id: string;
    token_hash: string;
    connection_id: string;
    state: string;
    created_at: number;
    expires_at: number;
  };
  audit_events: {
    id: Generated<number>;
    at: number;
    actor: string;
    action: string;
    connection_id: string | null;
    detail: string;
  };
  /** SPEC §13: audit events not yet delivered to AUDIT_WEBHOOK_URL (migration 0009). */
  audit_outbox: {
    /** The audit row's id. */
    id: number;
    /** `connection:<id>` or `user:<email>`: events of one stream are delivered in id order. */
    stream: string;
    /** The exact JSON POSTed, signed as it is. */
    body: string;
    attempts: Generated<number>;
    next_attempt_at: number;
    claimed_until: number | null;
    created_at: number;
  };
  invalidations: {
    seq: Generated<number>;
    at: number;
    kind: string;
    ref: string;
  };
  setup_tokens: {
    token_hash: string;
    created_at: number;
    expires_at: number;
    used_at: number | null;
  };
  rate_limits: {
    key: string;
    window_start: number;
    count: number;
  };
  /** Issue #7: the connection's MCP client as declared at its last initialize. */
  mcp_clients: {
    connection_id: string;
    capabilities: string;
    client_info: string;
    protocol_version: string;
    updated_at: number;
  };
  /** Issue #7: an upstream's Mcp-Session-Id per connection, resumable by any instance. */
  upstream_sessions: {
    connection_id: string;
    upstream: string;
    session_id: string;
    protocol_version: string;
    created_at: number;
  };
  /** Issue #7: server-to-client requests waiting for the client's answer. */
  mcp_relay: {
    id: string;
    connection_id: string;
    reply: string | null;
    expires_at: number;
  };
  /** SPEC §9: the hash of a connection's API key bound to one upstream (migration 0005). */
  upstream_keys: {
    key_hash: string;
    connection_id: string;
    api_key_id: string;
    upstream: string;
    created_at: number;
  };
  /** SPEC §12 rate limit: how much of a connection's per-minute budget instances have claimed. */
  connection_budgets: {
    connection_id: string;
    window_start: number;
    claimed: number;
    granted: number;
  };
  /** Connections per status, kept exact by triggers (migration 0004): the list's cheap total. */
  connection_counts: {
    status: string;
    n: number;
  };
}
