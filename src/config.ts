import { z } from 'zod';

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
  /** Issue #7: what an upstream presents to POST /introspect (RFC 7662). */
  introspectionSecret?: string;
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
  WAXSEAL_CONFIG: z.string().min(1).optional(),
  INTROSPECTION_SECRET: z.string().min(32, 'must be at least 32 characters').optional(),
});

/** Values never echoed in an error message. */
const SECRET_VARIABLES = new Set(['INTROSPECTION_SECRET', 'WAXSEAL_SECRET', 'WAXSEAL_ADMIN_PASSWORD']);

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
  const publicUrl = (e.PUBLIC_URL ?? `http://localhost:${e.PORT}`).replace(/\/+$/, '');
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
    introspectionSecret: e.INTROSPECTION_SECRET,
  };
}
