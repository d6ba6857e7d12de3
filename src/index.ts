/**
 * Waxseal as a library (SPEC §9, docs/library.md): the same server as
 * `waxseal serve`, with your own tools registered on the SDK's McpServer.
 *
 *   import { createWaxseal } from 'waxseal';
 *   const waxseal = createWaxseal({ tools: (server, { caller }) => server.registerTool(…) });
 *   console.log(`MCP endpoint: ${await waxseal.start()}`); // PUBLIC_URL/mcp
 */
import type { AuthInfo } from '@modelcontextprotocol/sdk/server/auth/types.js';
import type { Express } from 'express';
import type { Logger } from 'pino';
import { type Config, ConfigError, loadConfig } from './config.js';
import type { RegisterTools, ToolContext } from './http/mcp/endpoint.js';
import { type RunningServer, startServer } from './server.js';
import { callerOf, type McpCaller } from './services/caller.js';
import { loadUpstreams, parseUpstreams, type UpstreamsFile } from './upstreams/config.js';

export type { Config, McpCaller, RegisterTools, ToolContext, UpstreamsFile };
export { ConfigError };

export interface WaxsealOptions {
  /** Configuration as environment variables (README, Configuration); default `process.env`. */
  env?: Record<string, string | undefined>;
  /**
   * Adds your tools to the McpServer made for each /mcp request. `caller` is
   * who calls: user (id, email, role), connection (id, client name) and the
   * connection's current API key.
   */
  tools?: RegisterTools | RegisterTools[];
  /** Upstream MCP servers in the WAXSEAL_CONFIG format; used instead of UPSTREAM_MCP_URL / WAXSEAL_CONFIG. */
  upstreams?: UpstreamsFile;
  /** A pino logger; default: JSON to stdout at LOG_LEVEL. */
  log?: Logger;
}

export interface Waxseal {
  readonly config: Config;
  /**
   * Opens the database (migrating it) and listens on HOST:PORT; resolves with the
   * MCP URL clients connect to, PUBLIC_URL + /mcp (e.g. http://localhost:3000/mcp).
   * That, not the listening address, is the URL to give clients: the SDK client
   * refuses a server whose protected-resource metadata names another URL.
   */
  start(): Promise<string>;
  /** Stops listening, ends upstream processes and closes the database. */
  close(): Promise<void>;
  /** Where the server listens, e.g. http://127.0.0.1:3000 (after start()); not for clients, see start(). */
  readonly url: string;
  /** The express app, e.g. to add routes of your own (after start()). */
  readonly app: Express;
}

/**
 * Creates a Waxseal server. The configuration is validated at once: a bad
 * value throws a ConfigError naming it.
 */
export function createWaxseal(options: WaxsealOptions = {}): Waxseal {
  const config = loadConfig(options.env);
  const upstreams = options.upstreams
    ? parseUpstreams(options.upstreams, 'createWaxseal({ upstreams })')
    : loadUpstreams(config);
  const tools =
    options.tools === undefined ? [] : Array.isArray(options.tools) ? options.tools : [options.tools];
  let starting: Promise<RunningServer> | null = null;
  let running: RunningServer | null = null;
  const started = (): RunningServer => {
    if (!running) throw new Error('Waxseal has not started yet: await waxseal.start() first');
    return running;
  };
  return {
    config,
    async start() {
      starting ??= startServer(config, { tools, upstreams, log: options.log });
      running = await starting;
      return config.mcpUrl;
    },
    async close() {
      if (starting) await (await starting).close();
    },
    get url() {
      return started().url;
    },
    get app() {
      return started().app;
    },
  };
}

/** Who calls a tool handler, from the handler's `extra` argument (the same as `caller` in ToolContext). */
export function getCaller(extra: { authInfo?: AuthInfo }): McpCaller {
  return callerOf(extra.authInfo);
}
