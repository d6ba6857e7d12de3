/** The admin API of SPEC §7, as the dashboard calls it. */

export interface Connection {
  id: string;
  clientName: string;
  status: 'active' | 'revoked';
  userEmail: string;
  apiKeyPrefix: string;
  connectedAt: string;
  lastTokenAt: string | null;
  /** SPEC §12 last used: the last MCP request, written at most once a minute. */
  lastUsedAt: string | null;
  lastUsedIp: string | null;
  revokedAt: string | null;
  revokedBy: string | null;
}

/** SPEC §12 tools per connection: `allow` null means every tool in `available` (what the role may use). */
export interface ConnectionTools {
  allow: string[] | null;
  available: string[];
}

export interface ConnectionPage {
  total: number;
  items: Connection[];
  nextCursor: string | null;
}

export interface Me {
  email: string;
  role: string;
  permissions: string[];
}

export interface ServerConfig {
  publicUrl: string;
  mcpUrl: string;
}

export interface Member {
  id: string;
  email: string;
  role: string;
  status: 'active' | 'disabled';
  source: 'local' | 'oidc' | 'scim';
  activeConnections: number;
  totpEnabled: boolean;
  createdAt: string;
}

export interface RoleInfo {
  name: string;
  permissions: { name: string; value: string }[];
}

export interface MemberList {
  items: Member[];
  roles: RoleInfo[];
}

/** SPEC §5 permissions as the server names them. */
export const PERMISSION = {
  MCP_CONNECTIONS_READ: 'api-keys:read',
  MCP_CONNECTIONS_REVOKE: 'api-keys:revoke',
  MEMBERS_MANAGE: 'members:manage',
} as const;

/** A failed call: `status` 0 when the server could not be reached. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export function signInAgain(): void {
  window.location.assign(
    `/signin?next=${encodeURIComponent(window.location.pathname + window.location.search)}`,
  );
}

async function call<T>(path: string, init: { method?: string; body?: unknown } = {}): Promise<T> {
  let res: Response;
  try {
    res = await fetch(path, {
      method: init.method ?? 'GET',
      credentials: 'same-origin',
      headers: {
        accept: 'application/json',
        ...(init.body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      body: init.body === undefined ? undefined : JSON.stringify(init.body),
    });
  } catch {
    throw new ApiError(0, 'Could not reach Waxseal. Check your connection and try again.');
  }
  if (res.status === 401) {
    signInAgain();
    throw new ApiError(401, 'Your session has ended. Sign in again.');
  }
  if (!res.ok) {
    const body = (await res.json().catch(() => null)) as { error_description?: string } | null;
    throw new ApiError(res.status, body?.error_description ?? `The server answered ${res.status}.`);
  }
  return (await res.json()) as T;
}

export interface AuditEvent {
  id: number;
  at: string;
  actor: string;
  action: string;
  connectionId: string | null;
  detail: Record<string, unknown>;
}

export interface AuditEventPage {
  items: AuditEvent[];
  nextCursor: string | null;
}

export interface Upstream {
  name: string;
  transport: 'http' | 'stdio';
  status: 'up' | 'down' | 'degraded' | 'unknown';
  latencyMs?: number;
  error?: string;
}

export interface ListParams {
  status?: 'active' | 'revoked';
  q?: string;
  cursor?: string;
  limit?: number;
}

export const api = {
  me: () => call<Me>('/api/me'),
  config: () => call<ServerConfig>('/api/config'),
  listConnections(params: ListParams) {
    const query = new URLSearchParams();
    for (const [key, value] of Object.entries(params)) {
      if (value !== undefined && value !== '') query.set(key, String(value));
    }
    const qs = query.toString();
    return call<ConnectionPage>(`/api/mcp-connections${qs ? `?${qs}` : ''}`);
  },
  revoke: (id: string) =>
    call<Connection>(`/api/mcp-connections/${encodeURIComponent(id)}/revoke`, { method: 'POST', body: {} }),
  regenerateKey: (id: string) =>
    call<Connection>(`/api/mcp-connections/${encodeURIComponent(id)}/regenerate-key`, {
      method: 'POST',
      body: {},
    }),
  connectionTools: (id: string) =>
    call<ConnectionTools>(`/api/mcp-connections/${encodeURIComponent(id)}/tools`),
  setConnectionTools: (id: string, allow: string[] | null) =>
    call<{ allow: string[] | null }>(`/api/mcp-connections/${encodeURIComponent(id)}/tools`, {
      method: 'PUT',
      body: { allow },
    }),
  auditEvents: (connectionId: string, limit = 100) =>
    call<AuditEventPage>(`/api/audit-events?connectionId=${encodeURIComponent(connectionId)}&limit=${limit}`),
  upstreams: () => call<{ items: Upstream[] }>('/api/upstreams'),
  members: () => call<MemberList>('/api/members'),
  addMember: (input: { email: string; password: string; role: string }) =>
    call<Member>('/api/members', { method: 'POST', body: input }),
  setRole: (email: string, role: string) =>
    call<Member>('/api/members/role', { method: 'POST', body: { email, role } }),
  disableMember: (email: string) => call<Member>('/api/members/disable', { method: 'POST', body: { email } }),
  enableMember: (email: string) => call<Member>('/api/members/enable', { method: 'POST', body: { email } }),
  revokeAll: (userEmail: string) =>
    call<{ revoked: number }>('/api/mcp-connections/revoke-all', { method: 'POST', body: { userEmail } }),
};
