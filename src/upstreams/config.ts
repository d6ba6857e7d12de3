import { readFileSync } from 'node:fs';
import { extname } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { type Config, ConfigError } from '../config.js';
import { ROLES, type Role } from '../domain/permissions.js';
import { templateMatches } from './catalog.js';

/** Which roles may see and call an upstream's tools: tool name (or "*") → roles. */
export type ToolRoles = Readonly<Record<string, readonly Role[]>>;

/** What a role limit is about (SPEC §9, §11): tools and prompts by name, resources by URI or URI template. */
export type Limited = 'tools' | 'prompts' | 'resources';

interface Common {
  /** Unique, [A-Za-z0-9-]; the prefix of this upstream's tool and prompt names (catalog.ts, Naming). */
  name: string;
  /** Time an upstream request may take before its caller gets an MCP error (reset by progress). */
  timeoutMs: number;
  tools: ToolRoles;
  /** The same for prompts (by name) and resources (by URI or URI template), SPEC §11. */
  prompts: ToolRoles;
  resources: ToolRoles;
  /**
   * What this upstream presents to POST /introspect instead of INTROSPECTION_SECRET;
   * with it, only keys bound to this upstream are active (SPEC §9).
   */
  introspectionSecret?: string;
}

export interface HttpUpstream extends Common {
  kind: 'http';
  url: string;
  /** Extra headers sent with every request. */
  headers: Readonly<Record<string, string>>;
  /** Where the connection's API key goes: `Authorization` gets `Bearer <key>`, any other header the bare key. */
  credentialHeader: string;
}

export interface StdioUpstream extends Common {
  kind: 'stdio';
  command: string;
  args: readonly string[];
  env: Readonly<Record<string, string>>;
  cwd?: string;
  /** The environment variable that carries the connection's API key to the process. */
  credentialEnv: string;
  /** A connection's process is stopped after this long without a request. */
  idleTimeoutMs: number;
}

export type UpstreamDefinition = HttpUpstream | StdioUpstream;

export const DEFAULT_TIMEOUT_MS = 30_000;
/** The upstream UPSTREAM_MCP_URL defines. */
export const SINGLE_UPSTREAM_NAME = 'upstream';

const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/** Headers Waxseal sets itself (the MCP transport and the credential). */
const RESERVED_HEADERS = [
  'content-type',
  'accept',
  'mcp-session-id',
  'mcp-protocol-version',
  'last-event-id',
];
/** Headers of the HTTP connection itself, which the HTTP client sets or refuses: never the configuration's. */
const CONNECTION_HEADERS = [
  'connection',
  'keep-alive',
  'transfer-encoding',
  'upgrade',
  'expect',
  'content-length',
];

const role = z.enum(ROLES, `must be one of ${ROLES.join(', ')}`);

const upstreamSchema = z
  .strictObject({
    url: z.url({ protocol: /^https?$/, error: 'must be an http:// or https:// URL' }).optional(),
    command: z.string().min(1, 'must not be empty').optional(),
    args: z.array(z.string()).optional(),
    env: z
      .record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be a variable name'), z.string())
      .optional(),
    cwd: z.string().min(1).optional(),
    headers: z.record(z.string().regex(HEADER_NAME, 'must be an HTTP header name'), z.string()).optional(),
    credentialHeader: z.string().regex(HEADER_NAME, 'must be an HTTP header name').optional(),
    credentialEnv: z
      .string()
      .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be an environment variable name')
      .optional(),
    timeoutMs: z.number().int('must be a whole number').min(100).max(3_600_000).optional(),
    idleTimeoutMs: z.number().int('must be a whole number').min(1000).optional(),
    tools: z.record(z.string().min(1), z.array(role)).optional(),
    prompts: z.record(z.string().min(1), z.array(role)).optional(),
    resources: z.record(z.string().min(1), z.array(role)).optional(),
    introspectionSecret: z.string().min(32, 'must be at least 32 characters').optional(),
  })
  .superRefine((u, ctx) => {
    if (Boolean(u.url) === Boolean(u.command)) {
      ctx.addIssue({ code: 'custom', message: 'needs either url or command (not both)' });
      return;
    }
    const wrong = u.url
      ? (['command', 'args', 'env', 'cwd', 'credentialEnv', 'idleTimeoutMs'] as const)
      : (['headers', 'credentialHeader'] as const);
    for (const key of wrong) {
      if (u[key] !== undefined) {
        ctx.addIssue({
          code: 'custom',
          path: [key],
          message: `only applies to ${u.url ? 'stdio' : 'url'} upstreams`,
        });
      }
    }
    const credential = (u.credentialHeader ?? 'authorization').toLowerCase();
    if (CONNECTION_HEADERS.includes(credential) || RESERVED_HEADERS.includes(credential)) {
      ctx.addIssue({
        code: 'custom',
        path: ['credentialHeader'],
        message: 'cannot carry the credential (the HTTP connection or MCP uses it)',
      });
    }
    for (const header of Object.keys(u.headers ?? {})) {
      const lower = header.toLowerCase();
      if (lower === credential || RESERVED_HEADERS.includes(lower)) {
        ctx.addIssue({
          code: 'custom',
          path: ['headers', header],
          message: 'is set by Waxseal and cannot be configured',
        });
      } else if (CONNECTION_HEADERS.includes(lower)) {
        ctx.addIssue({
          code: 'custom',
          path: ['headers', header],
          message: 'belongs to the HTTP connection and cannot be configured',
        });
      }
    }
  });

const fileSchema = z.strictObject({
  upstreams: z
    .record(z.string(), upstreamSchema, {
      error: 'must map upstream names to their settings ({ url } or { command })',
    })
    .superRefine((upstreams, ctx) => {
      for (const name of Object.keys(upstreams)) {
        if (!/^[A-Za-z0-9][A-Za-z0-9-]{0,31}$/.test(name)) {
          ctx.addIssue({
            code: 'custom',
            path: [name],
            message: 'upstream names are 1-32 characters of A-Z a-z 0-9 and -',
          });
        }
      }
      // The secret tells /introspect which upstream asks: two upstreams cannot share one.
      const owner = new Map<string, string>();
      for (const [name, u] of Object.entries(upstreams)) {
        if (u.introspectionSecret === undefined) continue;
        const other = owner.get(u.introspectionSecret);
        if (other !== undefined) {
          ctx.addIssue({
            code: 'custom',
            path: [name, 'introspectionSecret'],
            message: `must differ from the introspectionSecret of ${other}`,
          });
        }
        owner.set(u.introspectionSecret, name);
      }
    }),
});

/** The upstreams file (WAXSEAL_CONFIG) as written, before defaults: also what library users pass. */
export type UpstreamsFile = z.input<typeof fileSchema>;

function toDefinition(name: string, u: z.output<typeof upstreamSchema>): UpstreamDefinition {
  const common = {
    name,
    timeoutMs: u.timeoutMs ?? DEFAULT_TIMEOUT_MS,
    tools: u.tools ?? {},
    prompts: u.prompts ?? {},
    resources: u.resources ?? {},
    ...(u.introspectionSecret === undefined ? {} : { introspectionSecret: u.introspectionSecret }),
  };
  if (u.url) {
    return {
      ...common,
      kind: 'http',
      url: u.url,
      headers: u.headers ?? {},
      credentialHeader: u.credentialHeader ?? 'Authorization',
    };
  }
  return {
    ...common,
    kind: 'stdio',
    command: u.command as string,
    args: u.args ?? [],
    env: u.env ?? {},
    cwd: u.cwd,
    credentialEnv: u.credentialEnv ?? 'WAXSEAL_API_KEY',
    idleTimeoutMs: u.idleTimeoutMs ?? 5 * 60_000,
  };
}

/** Validates an upstreams document; a problem throws one ConfigError line naming where it is. */
export function parseUpstreams(raw: unknown, source: string): UpstreamDefinition[] {
  const parsed = fileSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue?.path.length ? issue.path.map(String).join('.') : 'upstreams';
    throw new ConfigError(`${source}: ${where}: ${issue?.message ?? 'invalid'}`);
  }
  return Object.entries(parsed.data.upstreams).map(([name, u]) => toDefinition(name, u));
}

function readUpstreamsFile(path: string): unknown {
  const source = `WAXSEAL_CONFIG (${path})`;
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(`${source}: cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  try {
    return extname(path).toLowerCase() === '.json' ? JSON.parse(text) : parseYaml(text);
  } catch (err) {
    const first = ((err as Error).message ?? '').split('\n')[0];
    throw new ConfigError(
      `${source}: is not valid ${extname(path) === '.json' ? 'JSON' : 'YAML'} (${first})`,
    );
  }
}

/** SPEC §9: UPSTREAM_MCP_URL for one upstream, WAXSEAL_CONFIG for several; none means no gateway. */
export function loadUpstreams(config: Config): UpstreamDefinition[] {
  if (config.upstreamMcpUrl) {
    return parseUpstreams(
      { upstreams: { [SINGLE_UPSTREAM_NAME]: { url: config.upstreamMcpUrl } } },
      'UPSTREAM_MCP_URL',
    );
  }
  if (!config.upstreamsFile) return [];
  const path = config.upstreamsFile;
  return parseUpstreams(readUpstreamsFile(path), `WAXSEAL_CONFIG (${path})`);
}

/** Per-tool role restrictions (issue #7): a tool's own entry, else "*", else every role. */
export function mayUseTool(upstream: UpstreamDefinition, role: string, tool: string): boolean {
  return mayUse(upstream, 'tools', role, tool);
}

/**
 * Role limits on tools, prompts and resources (SPEC §9, §11): the item's own
 * entry, else (a resource) the entry of a URI template that matches it, else
 * "*", else every role.
 */
export function mayUse(upstream: UpstreamDefinition, kind: Limited, role: string, key: string): boolean {
  const rules = upstream[kind];
  let allowed = rules[key];
  if (allowed === undefined && kind === 'resources') {
    const template = Object.keys(rules).find((t) => t.includes('{') && templateMatches(t, key));
    if (template !== undefined) allowed = rules[template];
  }
  allowed ??= rules['*'];
  return allowed === undefined || (allowed as readonly string[]).includes(role);
}
