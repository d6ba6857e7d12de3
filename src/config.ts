import { z } from 'zod';
import { isRole, ROLES, type Role } from './domain/permissions.js';

/** The typed configuration; nothing else in Waxseal reads process.env (SPEC §1). */
export interface Config {
  port: number;
  host: string;
  /** PUBLIC_URL without a trailing slash: the issuer. */
  publicUrl: string;
  /** The canonical MCP URL: the resource every token is bound to (RFC 8707). */
  mcpUrl: string;
  databaseUrl: string;
  apiKeyPrefix: string;
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  adminEmail?: string;
  adminPassword?: string;
  /** Server secret from which API keys are derived and TOTP secrets are sealed. */
  secret?: string;
  secretFile: string;
  secureCookies: boolean;
  /** Development and tests only: let metadata-document client ids point at private hosts over http. */
  cimdAllowPrivateHosts: boolean;
  /** How many reverse proxies in front of Waxseal to trust for the client's IP (per-IP limits). */
  trustProxyHops: number;
  /** Abuse limits (docs/security.md), all counted in the shared database. */
  limits: Limits;
  /** Issue #7: one upstream MCP server served through /mcp (the one-entry form of WAXSEAL_CONFIG). */
  upstreamMcpUrl?: string;
  /** Issue #7: path of the upstreams file (JSON or YAML), read by src/upstreams/config.ts. */
  upstreamsFile?: string;
  /** SPEC §11: how many items one page of a merged tools/prompts/resources list holds. */
  listPageSize: number;
  /**
   * Issue 13: gateway mode serves a plain tools/call to an HTTP upstream without
   * the SDK's Protocols (upstreams/direct-call.ts); `GATEWAY_DIRECT_CALLS=off`
   * sends every call through them, should a client or upstream need it.
   */
  directCalls: boolean;
  /** Issue #7: what an upstream presents to POST /introspect (RFC 7662). */
  introspectionSecret?: string;
  /** Issue #12 (SPEC §10): sign-in through the team's OpenID provider; absent when OIDC_ISSUER is unset. */
  oidc?: OidcSettings;
  /** SPEC §10 LOCAL_SIGNIN: false means only the IdP signs people in (the CLI still works). */
  localSignin: boolean;
  /** SPEC §12: requests per minute one connection may make to /mcp, across every instance; null = off. */
  mcpRequestsPerMinutePerConnection: number | null;
  /** SPEC §13 audit stream: where every audit event is POSTed, and the HMAC key that signs it. */
  auditWebhook?: { url: string; secret: string };
  /** SPEC §12 maximum age: connections older than this are revoked by the sweep; absent = off. */
  connectionMaxAgeMs?: number;
  /** SPEC §13 traces: where spans go; absent (tracing off) unless an OTLP endpoint is set. */
  traces?: TraceSettings;
  /** OIDC_ROLE_MAP and OIDC_DEFAULT_ROLE, also read by SCIM groups (which need no OIDC_ISSUER). */
  groupRoles: GroupRoles;
}

/** How the IdP's groups give a role (SPEC §10 roles): IdP sign-in and SCIM groups alike. */
export interface GroupRoles {
  roleMap: Array<{ group: string; role: Role }>;
  defaultRole: RoleOrNone;
}

/**
 * The OTEL_* variables Waxseal itself decides on. The others the OpenTelemetry
 * SDK reads from the process environment as its specification says
 * (OTEL_EXPORTER_OTLP_HEADERS, OTEL_TRACES_SAMPLER, OTEL_BSP_*, OTEL_RESOURCE_ATTRIBUTES, …).
 */
export interface TraceSettings {
  /** OTEL_EXPORTER_OTLP_TRACES_ENDPOINT as given, or OTEL_EXPORTER_OTLP_ENDPOINT + /v1/traces. */
  url: string;
  serviceName: string;
}

export type RoleOrNone = Role | 'none';

export interface OidcSettings {
  issuer: string;
  clientId: string;
  clientSecret: string;
  /** The label of the button: "Sign in with <name>". */
  name: string;
  /** Scopes asked for; offline_access is added when the IdP's discovery lists it. */
  scopes: string[];
  roleClaim: string;
  /** OIDC_ROLE_MAP in order: an IdP group and the Waxseal role it gives. */
  roleMap: Array<{ group: string; role: Role }>;
  defaultRole: RoleOrNone;
  linkByEmail: boolean;
  /** Used by the re-check at refresh (SPEC §10); parsed here so a bad value stops start-up. */
  recheckMinutes: number;
  /** PUBLIC_URL/signin/oidc/callback, the redirect URI registered at the IdP. */
  redirectUri: string;
}

export interface Limits {
  /** Failed sign-ins per account before it is locked for signinLockoutMs (an owner can lift it). */
  signinAccountFailures: number;
  /** Failed sign-ins per client IP before that IP is locked for signinLockoutMs. */
  signinIpFailures: number;
  signinLockoutMs: number;
  /** POST /register per client IP per hour. */
  registerPerHour: number;
  /** POST /token per client IP per minute. */
  tokenPerMinute: number;
  /** GET /authorize per client IP per minute. */
  authorizePerMinute: number;
  /** A dynamically registered client with no connection is deleted this long after registering. */
  unusedClientTtlMs: number;
  /** Node's limit on the total size of a request's headers; more gets 431. */
  maxHeaderBytes: number;
}

export class ConfigError extends Error {}

const port = z.coerce
  .number()
  .int('must be a whole number')
  .min(1, 'must be 1-65535')
  .max(65535, 'must be 1-65535');

function publicUrlProblem(value: string): string | null {
  if (!URL.canParse(value)) return 'must be an absolute URL such as https://waxseal.example.com';
  const u = new URL(value);
  if (u.protocol !== 'http:' && u.protocol !== 'https:') return 'must start with http:// or https://';
  if (u.search || u.hash || u.username || u.password || u.pathname !== '/') {
    return 'must be an origin with no path, query, fragment or credentials (e.g. https://waxseal.example.com)';
  }
  return null;
}

const httpUrl = z.string().superRefine((value, ctx) => {
  const problem = publicUrlProblem(value);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
});

const upstreamUrl = z.string().superRefine((value, ctx) => {
  const u = URL.canParse(value) ? new URL(value) : null;
  if (!u || (u.protocol !== 'http:' && u.protocol !== 'https:')) {
    ctx.addIssue({
      code: 'custom',
      message: 'must be an http:// or https:// URL such as https://internal/mcp',
    });
  } else if (u.username || u.password || u.hash) {
    ctx.addIssue({ code: 'custom', message: 'must not contain credentials or a fragment' });
  }
});

/** SPEC §13: the audit stream leaves the network only over TLS; plain http only to this host. */
function webhookProblem(value: string): string | null {
  if (!URL.canParse(value)) return 'must be an absolute URL such as https://siem.example.com/waxseal';
  const u = new URL(value);
  if (u.protocol !== 'http:' && u.protocol !== 'https:') return 'must start with http:// or https://';
  if (u.username || u.password || u.hash) return 'must not contain credentials or a fragment';
  const loopback = ['127.0.0.1', '[::1]', 'localhost'].includes(u.hostname);
  if (u.protocol === 'http:' && !loopback) {
    return 'must be an https:// URL (http:// only for 127.0.0.1, [::1] or localhost)';
  }
  return null;
}

const onOff = z.enum(['on', 'off'], 'must be on or off');

/** An OTLP/HTTP collector: any http(s) URL without credentials (OTEL_EXPORTER_OTLP_HEADERS carries those). */
const otlpUrl = z.string().superRefine((value, ctx) => {
  const u = URL.canParse(value) ? new URL(value) : null;
  if (!u || (u.protocol !== 'http:' && u.protocol !== 'https:')) {
    ctx.addIssue({
      code: 'custom',
      message: 'must be an http:// or https:// URL such as http://collector:4318',
    });
  } else if (u.username || u.password || u.hash) {
    ctx.addIssue({ code: 'custom', message: 'must not contain credentials or a fragment' });
  }
});

/** SPEC §10: https, or loopback http for development and tests. */
function issuerProblem(value: string): string | null {
  if (!URL.canParse(value)) return 'must be an absolute URL such as https://idp.example.com';
  const u = new URL(value);
  if (u.search || u.hash || u.username || u.password) {
    return 'must not contain a query, fragment or credentials';
  }
  if (u.protocol === 'https:') return null;
  const loopback = ['127.0.0.1', '[::1]', 'localhost'].includes(u.hostname);
  if (u.protocol === 'http:' && loopback) return null;
  return 'must be an https:// URL (http:// only for 127.0.0.1, [::1] or localhost)';
}

/** OIDC_ROLE_MAP: `idp-group=role,…` (e.g. waxseal-admins=admin,eng=member). */
function parseRoleMap(value: string): Array<{ group: string; role: string }> {
  return value
    .split(',')
    .map((entry) => entry.trim())
    .filter(Boolean)
    .map((entry) => {
      const eq = entry.lastIndexOf('=');
      return { group: entry.slice(0, eq).trim(), role: entry.slice(eq + 1).trim() };
    });
}

function roleMapProblem(value: string): string | null {
  for (const { group, role } of parseRoleMap(value)) {
    if (!group) return 'each entry must be idp-group=role (e.g. waxseal-admins=admin,eng=member)';
    if (!isRole(role)) return `role of "${group}" must be one of ${ROLES.join(', ')}`;
  }
  return null;
}

const databaseUrl = z
  .string()
  .refine(
    (v) => v.startsWith('sqlite:') || v.startsWith('postgres://') || v.startsWith('postgresql://'),
    'must be sqlite:<path> or postgres://…',
  );

const count = (max: number) =>
  z.coerce.number().int('must be a whole number').min(1, `must be 1-${max}`).max(max, `must be 1-${max}`);

const schema = z.object({
  PORT: port.default(3000),
  HOST: z.string().min(1, 'must not be empty').default('127.0.0.1'),
  PUBLIC_URL: httpUrl.optional(),
  DATABASE_URL: databaseUrl.default('sqlite:./data/waxseal.db'),
  API_KEY_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,32}$/, 'must be 1-32 characters of A-Z a-z 0-9 _ -')
    .default('wax_sk_'),
  WAXSEAL_CIMD_ALLOW_PRIVATE_HOSTS: z.enum(['0', '1', 'true', 'false'], 'must be 0 or 1').default('0'),
  TRUST_PROXY_HOPS: z.coerce.number().int('must be a whole number').min(0).max(10, 'must be 0-10').default(0),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  WAXSEAL_ADMIN_EMAIL: z.email('must be an email address').optional(),
  WAXSEAL_ADMIN_PASSWORD: z.string().min(8, 'must be at least 8 characters').optional(),
  WAXSEAL_SECRET: z.string().min(32, 'must be at least 32 characters').optional(),
  WAXSEAL_SECRET_FILE: z.string().min(1).default('./data/waxseal.secret'),
  SIGNIN_ACCOUNT_MAX_FAILURES: count(1000).default(5),
  SIGNIN_IP_MAX_FAILURES: count(100_000).default(30),
  SIGNIN_LOCKOUT_MINUTES: count(10_080).default(15),
  REGISTER_LIMIT_PER_HOUR: count(1_000_000).default(100),
  TOKEN_LIMIT_PER_MINUTE: count(1_000_000).default(300),
  AUTHORIZE_LIMIT_PER_MINUTE: count(1_000_000).default(120),
  UNUSED_CLIENT_TTL_DAYS: count(3650).default(30),
  MAX_HEADER_BYTES: z.coerce
    .number()
    .int('must be a whole number')
    .min(4096, 'must be 4096-65536')
    .max(65536, 'must be 4096-65536')
    .default(16384),
  UPSTREAM_MCP_URL: upstreamUrl.optional(),
  MCP_LIST_PAGE_SIZE: count(10_000).default(500),
  GATEWAY_DIRECT_CALLS: onOff.default('on'),
  WAXSEAL_CONFIG: z.string().min(1).optional(),
  INTROSPECTION_SECRET: z.string().min(32, 'must be at least 32 characters').optional(),
  OIDC_ISSUER: z
    .string()
    .superRefine((value, ctx) => {
      const problem = issuerProblem(value);
      if (problem) ctx.addIssue({ code: 'custom', message: problem });
    })
    .optional(),
  OIDC_CLIENT_ID: z.string().min(1).max(500, 'must be at most 500 characters').optional(),
  OIDC_CLIENT_SECRET: z.string().min(1).max(2000, 'must be at most 2000 characters').optional(),
  OIDC_NAME: z.string().trim().min(1).max(60, 'must be at most 60 characters').default('SSO'),
  OIDC_SCOPES: z
    .string()
    .refine((v) => v.split(/\s+/).includes('openid'), 'must include openid')
    .refine((v) => /^[\x21\x23-\x5B\x5D-\x7E ]+$/.test(v), 'must be scope names separated by spaces')
    .default('openid email profile'),
  OIDC_ROLE_CLAIM: z
    .string()
    .regex(/^[^\s]{1,200}$/, 'must be a claim name')
    .default('groups'),
  OIDC_ROLE_MAP: z
    .string()
    .superRefine((value, ctx) => {
      const problem = roleMapProblem(value);
      if (problem) ctx.addIssue({ code: 'custom', message: problem });
    })
    .optional(),
  OIDC_DEFAULT_ROLE: z
    .enum([...ROLES, 'none'], `must be one of ${[...ROLES, 'none'].join(', ')}`)
    .default('member'),
  OIDC_LINK_BY_EMAIL: onOff.default('on'),
  OIDC_RECHECK_MINUTES: z.coerce
    .number()
    .int('must be a whole number')
    .min(0, 'must be 0-10080')
    .max(10_080, 'must be 0-10080')
    .default(60),
  LOCAL_SIGNIN: onOff.default('on'),
  OTEL_EXPORTER_OTLP_ENDPOINT: otlpUrl.optional(),
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: otlpUrl.optional(),
  // Only the JSON encoding ships with Waxseal (@opentelemetry/exporter-trace-otlp-http).
  OTEL_EXPORTER_OTLP_PROTOCOL: z
    .enum(['http/json'], 'must be http/json, the encoding Waxseal sends')
    .optional(),
  OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: z
    .enum(['http/json'], 'must be http/json, the encoding Waxseal sends')
    .optional(),
  OTEL_SERVICE_NAME: z.string().trim().min(1).max(200, 'must be at most 200 characters').default('waxseal'),
  OTEL_SDK_DISABLED: z.enum(['true', 'false'], 'must be true or false').default('false'),
  OTEL_TRACES_EXPORTER: z.enum(['otlp', 'none'], 'must be otlp or none').default('otlp'),
  AUDIT_WEBHOOK_URL: z
    .string()
    .superRefine((value, ctx) => {
      const problem = webhookProblem(value);
      if (problem) ctx.addIssue({ code: 'custom', message: problem });
    })
    .optional(),
  AUDIT_WEBHOOK_SECRET: z.string().min(32, 'must be at least 32 characters').optional(),
  CONNECTION_MAX_AGE_DAYS: count(36_500).optional(),
  MCP_REQUESTS_PER_MINUTE_PER_CONNECTION: count(1_000_000).optional(),
});

/** Values never echoed in an error message. */
const SECRET_VARIABLES = new Set([
  'INTROSPECTION_SECRET',
  'WAXSEAL_SECRET',
  'WAXSEAL_ADMIN_PASSWORD',
  'OIDC_CLIENT_SECRET',
  'AUDIT_WEBHOOK_SECRET',
]);

/** Parses the environment once; a bad value throws a ConfigError naming the variable. */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const present = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = schema.safeParse(present);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const name = String(issue?.path[0] ?? 'environment');
    const got = SECRET_VARIABLES.has(name) ? 'value hidden' : `got ${JSON.stringify(env[name] ?? '')}`;
    throw new ConfigError(`${name}: ${issue?.message ?? 'invalid'} (${got})`);
  }
  const e = parsed.data;
  if (Boolean(e.WAXSEAL_ADMIN_EMAIL) !== Boolean(e.WAXSEAL_ADMIN_PASSWORD)) {
    throw new ConfigError('WAXSEAL_ADMIN_EMAIL and WAXSEAL_ADMIN_PASSWORD must be set together');
  }
  if (e.UPSTREAM_MCP_URL && e.WAXSEAL_CONFIG) {
    throw new ConfigError(
      'UPSTREAM_MCP_URL and WAXSEAL_CONFIG: set one of them (list the URL in the file instead)',
    );
  }
  if (!e.OIDC_ISSUER && (e.OIDC_CLIENT_ID || e.OIDC_CLIENT_SECRET)) {
    throw new ConfigError('OIDC_ISSUER: must be set when OIDC_CLIENT_ID or OIDC_CLIENT_SECRET is');
  }
  if (e.OIDC_ISSUER && !e.OIDC_CLIENT_ID)
    throw new ConfigError('OIDC_CLIENT_ID: must be set with OIDC_ISSUER');
  if (e.OIDC_ISSUER && !e.OIDC_CLIENT_SECRET) {
    throw new ConfigError('OIDC_CLIENT_SECRET: must be set with OIDC_ISSUER');
  }
  if (e.LOCAL_SIGNIN === 'off' && !e.OIDC_ISSUER) {
    throw new ConfigError('LOCAL_SIGNIN: off needs OIDC_ISSUER, or nobody could sign in to the dashboard');
  }
  if (Boolean(e.AUDIT_WEBHOOK_URL) !== Boolean(e.AUDIT_WEBHOOK_SECRET)) {
    throw new ConfigError('AUDIT_WEBHOOK_URL and AUDIT_WEBHOOK_SECRET must be set together');
  }
  const publicUrl = (e.PUBLIC_URL ?? `http://localhost:${e.PORT}`).replace(/\/+$/, '');
  const tracesUrl =
    e.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ??
    (e.OTEL_EXPORTER_OTLP_ENDPOINT && `${e.OTEL_EXPORTER_OTLP_ENDPOINT.replace(/\/+$/, '')}/v1/traces`);
  const tracing = tracesUrl && e.OTEL_SDK_DISABLED === 'false' && e.OTEL_TRACES_EXPORTER === 'otlp';
  return {
    port: e.PORT,
    host: e.HOST,
    publicUrl,
    mcpUrl: `${publicUrl}/mcp`,
    databaseUrl: e.DATABASE_URL,
    apiKeyPrefix: e.API_KEY_PREFIX,
    logLevel: e.LOG_LEVEL,
    trustProxyHops: e.TRUST_PROXY_HOPS,
    cimdAllowPrivateHosts:
      e.WAXSEAL_CIMD_ALLOW_PRIVATE_HOSTS === '1' || e.WAXSEAL_CIMD_ALLOW_PRIVATE_HOSTS === 'true',
    adminEmail: e.WAXSEAL_ADMIN_EMAIL?.toLowerCase(),
    adminPassword: e.WAXSEAL_ADMIN_PASSWORD,
    secret: e.WAXSEAL_SECRET,
    secretFile: e.WAXSEAL_SECRET_FILE,
    secureCookies: publicUrl.startsWith('https:'),
    limits: {
      signinAccountFailures: e.SIGNIN_ACCOUNT_MAX_FAILURES,
      signinIpFailures: e.SIGNIN_IP_MAX_FAILURES,
      signinLockoutMs: e.SIGNIN_LOCKOUT_MINUTES * 60_000,
      registerPerHour: e.REGISTER_LIMIT_PER_HOUR,
      tokenPerMinute: e.TOKEN_LIMIT_PER_MINUTE,
      authorizePerMinute: e.AUTHORIZE_LIMIT_PER_MINUTE,
      unusedClientTtlMs: e.UNUSED_CLIENT_TTL_DAYS * 86_400_000,
      maxHeaderBytes: e.MAX_HEADER_BYTES,
    },
    upstreamMcpUrl: e.UPSTREAM_MCP_URL,
    upstreamsFile: e.WAXSEAL_CONFIG,
    listPageSize: e.MCP_LIST_PAGE_SIZE,
    directCalls: e.GATEWAY_DIRECT_CALLS === 'on',
    introspectionSecret: e.INTROSPECTION_SECRET,
    localSignin: e.LOCAL_SIGNIN === 'on',
    groupRoles: {
      roleMap: parseRoleMap(e.OIDC_ROLE_MAP ?? '') as Array<{ group: string; role: Role }>,
      defaultRole: e.OIDC_DEFAULT_ROLE,
    },
    auditWebhook:
      e.AUDIT_WEBHOOK_URL && e.AUDIT_WEBHOOK_SECRET
        ? { url: e.AUDIT_WEBHOOK_URL, secret: e.AUDIT_WEBHOOK_SECRET }
        : undefined,
    connectionMaxAgeMs:
      e.CONNECTION_MAX_AGE_DAYS === undefined ? undefined : e.CONNECTION_MAX_AGE_DAYS * 86_400_000,
    mcpRequestsPerMinutePerConnection: e.MCP_REQUESTS_PER_MINUTE_PER_CONNECTION ?? null,
    oidc:
      e.OIDC_ISSUER && e.OIDC_CLIENT_ID && e.OIDC_CLIENT_SECRET
        ? {
            issuer: e.OIDC_ISSUER,
            clientId: e.OIDC_CLIENT_ID,
            clientSecret: e.OIDC_CLIENT_SECRET,
            name: e.OIDC_NAME,
            scopes: [...new Set(e.OIDC_SCOPES.split(/\s+/).filter(Boolean))],
            roleClaim: e.OIDC_ROLE_CLAIM,
            roleMap: parseRoleMap(e.OIDC_ROLE_MAP ?? '') as Array<{ group: string; role: Role }>,
            defaultRole: e.OIDC_DEFAULT_ROLE,
            linkByEmail: e.OIDC_LINK_BY_EMAIL === 'on',
            recheckMinutes: e.OIDC_RECHECK_MINUTES,
            redirectUri: `${publicUrl}/signin/oidc/callback`,
          }
        : undefined,
    traces: tracing ? { url: tracesUrl, serviceName: e.OTEL_SERVICE_NAME } : undefined,
  };
}
