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
  /** How many reverse proxies in front of Waxseal to trust for the client's IP (per-IP limits). */
  trustProxyHops: number;
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

const databaseUrl = z
  .string()
  .refine(
    (v) => v.startsWith('sqlite:') || v.startsWith('postgres://') || v.startsWith('postgresql://'),
    'must be sqlite:<path> or postgres://…',
  );

const schema = z.object({
  PORT: port.default(3000),
  HOST: z.string().min(1, 'must not be empty').default('127.0.0.1'),
  PUBLIC_URL: httpUrl.optional(),
  DATABASE_URL: databaseUrl.default('sqlite:./data/waxseal.db'),
  API_KEY_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,32}$/, 'must be 1-32 characters of A-Z a-z 0-9 _ -')
    .default('wax_sk_'),
  TRUST_PROXY_HOPS: z.coerce.number().int('must be a whole number').min(0).max(10, 'must be 0-10').default(0),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  WAXSEAL_ADMIN_EMAIL: z.email('must be an email address').optional(),
  WAXSEAL_ADMIN_PASSWORD: z.string().min(8, 'must be at least 8 characters').optional(),
  WAXSEAL_SECRET: z.string().min(32, 'must be at least 32 characters').optional(),
  WAXSEAL_SECRET_FILE: z.string().min(1).default('./data/waxseal.secret'),
});

/** Parses the environment once; a bad value throws a ConfigError naming the variable. */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const present = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = schema.safeParse(present);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const name = String(issue?.path[0] ?? 'environment');
    throw new ConfigError(`${name}: ${issue?.message ?? 'invalid'} (got ${JSON.stringify(env[name] ?? '')})`);
  }
  const e = parsed.data;
  if (Boolean(e.WAXSEAL_ADMIN_EMAIL) !== Boolean(e.WAXSEAL_ADMIN_PASSWORD)) {
    throw new ConfigError('WAXSEAL_ADMIN_EMAIL and WAXSEAL_ADMIN_PASSWORD must be set together');
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
    adminEmail: e.WAXSEAL_ADMIN_EMAIL?.toLowerCase(),
    adminPassword: e.WAXSEAL_ADMIN_PASSWORD,
    secret: e.WAXSEAL_SECRET,
    secretFile: e.WAXSEAL_SECRET_FILE,
    secureCookies: publicUrl.startsWith('https:'),
  };
}
