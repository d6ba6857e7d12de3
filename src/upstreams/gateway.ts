import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { Protocol } from '@modelcontextprotocol/sdk/shared/protocol.js';
import {
  CallToolRequestSchema,
  CallToolResultSchema,
  type ClientCapabilities,
  CompleteRequestSchema,
  EmptyResultSchema,
  ErrorCode,
  GetPromptRequestSchema,
  InitializeRequestSchema,
  type JSONRPCNotification,
  ListPromptsRequestSchema,
  ListResourcesRequestSchema,
  ListResourceTemplatesRequestSchema,
  ListToolsRequestSchema,
  type LoggingLevel,
  ReadResourceRequestSchema,
  SetLevelRequestSchema,
  SubscribeRequestSchema,
  UnsubscribeRequestSchema,
} from '@modelcontextprotocol/sdk/types.js';
import type { GatewayCaller } from './caller.js';
import { LOCAL, NameIndex, Naming } from './catalog.js';
import { mayUse, type UpstreamDefinition } from './config.js';
import { type DirectCall, directCalls } from './direct-call.js';
import { RpcError } from './errors.js';
import { type DownstreamExtra, type Forward, GATEWAY_INFO } from './forwarding.js';
import { Guard } from './guard.js';
import { endLate } from './http-upstream.js';
import { keyOf, type Listed, type ListKind, listEvery } from './lists.js';
import type { ToolPermissions } from './permissions.js';
import { Routes } from './routing.js';
import { type SourceParts, SourceRunner } from './runner.js';
import { sharedValidator } from './schema-validator.js';
import { forwardedCapabilities } from './sessions.js';

export interface GatewayParts extends Omit<SourceParts, 'byName'> {
  upstreams: readonly UpstreamDefinition[];
  permissions: ToolPermissions;
}

/**
 * Gateway mode (SPEC §9, issue #7): the client sees one MCP server whose
 * tools, prompts and resources are merged from the built-in and library tools
 * and every upstream, with each call routed to where it belongs.
 */
export class Gateway {
  readonly names = new NameIndex();
  readonly naming: Naming;
  readonly byName: ReadonlyMap<string, UpstreamDefinition>;

  readonly sources: SourceParts;
  /** What the direct path needs of a caller's server: the local names its requests listed, and whether it streams. */
  private readonly servedOf = new WeakMap<
    Server,
    { localNames: Map<ListKind, Promise<Set<string>>>; streaming: boolean }
  >();

  constructor(readonly parts: GatewayParts) {
    this.byName = new Map(parts.upstreams.map((u) => [u.name, u]));
    this.naming = new Naming(parts.upstreams.map((u) => u.name));
    this.sources = { ...parts, byName: this.byName };
  }

  /**
   * The MCP server of one connection's caller (kept across its POSTs, see
   * http/mcp/servers.ts). `streaming`: tool calls, prompts and reads may carry
   * progress and requests to the client on their answer's stream.
   * `instructions`: the upstreams' merged, announced at initialize (SPEC §11).
   */
  serverFor(
    caller: GatewayCaller,
    local: () => McpServer,
    streaming: boolean,
    instructions?: string,
  ): Server {
    const server = new Server(GATEWAY_INFO, {
      instructions,
      // SPEC §11: changes, subscriptions and log messages pass through (on the connection's stream).
      capabilities: {
        tools: { listChanged: true },
        resources: { subscribe: true, listChanged: true },
        prompts: { listChanged: true },
        completions: {},
        logging: {},
      },
      jsonSchemaValidator: sharedValidator,
    });
    // The built-in and library names are fixed for a caller's server: listed once, not per request.
    const localNames = new Map<ListKind, Promise<Set<string>>>();
    this.servedOf.set(server, { localNames, streaming });
    const exchange = (extra: DownstreamExtra, streams = false) =>
      new Exchange(this, caller, extra, local, streams && streaming, localNames);
    server.setRequestHandler(ListToolsRequestSchema, (r, extra) =>
      exchange(extra).listTools(r.params?.cursor),
    );
    // Protocol's own registration, not Server's: Server's wraps tools/call to parse the request a
    // second time and the result again, which the upstream's (or the built-in tools') client has
    // already parsed with CallToolResultSchema (runner.ts). A few µs per call (benchmarks.md, step 8).
    Protocol.prototype.setRequestHandler.call(server, CallToolRequestSchema, (r, extra) =>
      exchange(extra, true).callTool(r.params),
    );
    server.setRequestHandler(ListPromptsRequestSchema, (r, extra) =>
      exchange(extra).listPrompts(r.params?.cursor),
    );
    server.setRequestHandler(GetPromptRequestSchema, (r, extra) => exchange(extra, true).getPrompt(r.params));
    server.setRequestHandler(ListResourcesRequestSchema, (r, extra) =>
      exchange(extra).listResources(r.params?.cursor),
    );
    server.setRequestHandler(ListResourceTemplatesRequestSchema, (r, extra) =>
      exchange(extra).listTemplates(r.params?.cursor),
    );
    server.setRequestHandler(ReadResourceRequestSchema, (r, extra) =>
      exchange(extra, true).readResource(r.params),
    );
    server.setRequestHandler(CompleteRequestSchema, (r, extra) => exchange(extra).complete(r.params));
    server.setRequestHandler(SubscribeRequestSchema, (r, extra) =>
      exchange(extra).subscription('resources/subscribe', r.params.uri),
    );
    server.setRequestHandler(UnsubscribeRequestSchema, (r, extra) =>
      exchange(extra).subscription('resources/unsubscribe', r.params.uri),
    );
    server.setRequestHandler(SetLevelRequestSchema, (r, extra) => exchange(extra).setLevel(r.params.level));
    return server;
  }

  /**
   * What serves the common call of a caller's server without its Protocol
   * (direct-call.ts), knowing the local names its requests have listed.
   */
  directFor(caller: GatewayCaller, server: Server | McpServer): DirectCall | undefined {
    const served = this.servedOf.get(server as Server);
    if (!served || !this.parts.s.config.directCalls) return undefined;
    const { names, naming } = this;
    return directCalls(
      { ...this.sources, names, naming, permissions: this.parts.permissions },
      caller,
      served.localNames,
      { server: server as Server, streaming: served.streaming },
    );
  }

  /**
   * A client sent initialize: remember what it declared, and start its
   * upstream sessions afresh (the old ones are ended at the upstreams).
   */
  async clientInitialized(caller: GatewayCaller, body: unknown): Promise<string | undefined> {
    const parsed = InitializeRequestSchema.safeParse(body);
    if (!parsed.success) return undefined;
    const connectionId = caller.connection.id;
    const old = await this.parts.sessions.clientInitialized(connectionId, parsed.data.params);
    this.names.forget(connectionId);
    this.parts.http.dropConnection(connectionId);
    this.parts.stdio.closeConnection(connectionId);
    for (const session of old) {
      const upstream = this.byName.get(session.upstream);
      if (upstream?.kind !== 'http') continue;
      void this.parts.http.terminate(upstream, connectionId, session.sessionId).catch(() => undefined);
    }
    return this.openSessions(connectionId, forwardedCapabilities(parsed.data.params.capabilities));
  }

  /**
   * Opens the connection's new upstream sessions at once (rather than at its
   * first list), so that each upstream's instructions can be merged into
   * Waxseal's (SPEC §11, each under its upstream's name) and its stream is
   * listened to from the start. An upstream that fails here is left out; its
   * session opens at the first request as before.
   */
  private async openSessions(
    connectionId: string,
    capabilities: ClientCapabilities,
  ): Promise<string | undefined> {
    // What each upstream said to this connection's new session (another's may be about someone else).
    const instructions = new Map<string, string>();
    const refuse: Forward = async (request) => {
      throw new RpcError(ErrorCode.InvalidRequest, `${request.method} cannot be answered during initialize`);
    };
    await Promise.all(
      this.parts.upstreams.map(async (upstream) => {
        const guard = new Guard(Math.min(upstream.timeoutMs, OPEN_AT_INITIALIZE_MS));
        const open = {
          connectionId,
          capabilities,
          guard,
          forward: refuse,
          notify: (m: JSONRPCNotification) => this.parts.notify(connectionId, m),
        };
        try {
          const lease =
            upstream.kind === 'http'
              ? await guard.race(this.parts.http.open(upstream, open), endLate)
              : await this.parts.stdio.open(upstream, open);
          const text = lease.client.getInstructions();
          if (text) instructions.set(upstream.name, text);
          await lease.end();
        } catch (err) {
          this.parts.s.log.warn(
            { upstream: upstream.name, err: (err as Error).message },
            'upstream session not opened at initialize',
          );
        } finally {
          guard.done();
        }
      }),
    );
    const parts = this.parts.upstreams
      .filter((u) => instructions.has(u.name))
      .map((u) => `## ${u.name}\n\n${instructions.get(u.name)}`);
    return parts.length > 0 ? parts.join('\n\n') : undefined;
  }
}

/** How long initialize waits for an upstream's session (and its instructions) at most. */
const OPEN_AT_INITIALIZE_MS = 10_000;

/** One downstream request: who calls, its stream, and the sources it uses. */
class Exchange {
  private readonly upstreams: readonly UpstreamDefinition[];
  private readonly runner: SourceRunner;
  private readonly routes: Routes;

  constructor(
    private readonly gateway: Gateway,
    private readonly caller: GatewayCaller,
    extra: DownstreamExtra,
    local: () => McpServer,
    streaming: boolean,
    localNames: Map<ListKind, Promise<Set<string>>>,
  ) {
    this.upstreams = gateway.parts.upstreams;
    this.runner = new SourceRunner(gateway.sources, this.caller, extra, local, streaming);
    this.routes = new Routes(
      this.runner,
      gateway.names,
      gateway.naming,
      this.upstreams,
      this.caller.connection.id,
      localNames,
    );
  }

  async listTools(cursor?: string) {
    const lists = await this.collect('tools');
    const allowed = new Map<string, Set<string>>();
    for (const { source, items } of lists) {
      const upstream = this.gateway.byName.get(source);
      if (!upstream) continue;
      const visible = this.gateway.parts.permissions.visible(this.caller, upstream, items);
      allowed.set(source, new Set(visible.map((t) => t.name)));
    }
    const shown = lists.map(({ source, items }) => ({
      source,
      items: items.filter((t) => allowed.get(source)?.has(t.name) ?? true),
    }));
    // SPEC §12: the connection's allow-list, on the names the client sees.
    const visible = this.gateway.parts.permissions.allowedOnly(
      this.caller,
      this.gateway.naming.expose(shown),
    );
    return this.page('tools', visible, cursor);
  }

  async callTool(params: { name: string; _meta?: { progressToken?: string | number } }) {
    const target = await this.routes.route('tools', params.name);
    const upstream = this.gateway.byName.get(target.source);
    if (upstream) await this.gateway.parts.permissions.check(this.caller, upstream, target.name, params.name);
    return this.runner.run(
      target.source,
      (c, o) =>
        c.request(
          { method: 'tools/call', params: { ...params, name: target.name } },
          CallToolResultSchema,
          o,
        ),
      params._meta?.progressToken,
    );
  }

  async listPrompts(cursor?: string) {
    const lists = this.limited('prompts', await this.collect('prompts'), (p) => p.name);
    return this.page('prompts', this.gateway.naming.expose(lists), cursor);
  }

  async getPrompt(params: { name: string; _meta?: { progressToken?: string | number } }) {
    const target = await this.routes.route('prompts', params.name);
    this.mayUse('prompts', target.source, target.name, params.name);
    return this.runner.run(
      target.source,
      (c, o) => c.getPrompt({ ...params, name: target.name }, o),
      params._meta?.progressToken,
    );
  }

  async listResources(cursor?: string) {
    const lists = this.limited('resources', await this.collect('resources'), (r) => r.uri);
    // URIs are never rewritten: when two sources list one, the first (in configuration order) wins.
    const seen = new Set<string>();
    const resources = lists
      .flatMap((l) => l.items)
      .filter((r) => !seen.has(r.uri) && Boolean(seen.add(r.uri)));
    return this.page('resources', resources, cursor);
  }

  async listTemplates(cursor?: string) {
    const lists = this.limited('resources', await this.collect('templates'), (t) => t.uriTemplate);
    return this.page(
      'resourceTemplates',
      lists.flatMap((l) => l.items),
      cursor,
    );
  }

  async readResource(params: { uri: string; _meta?: { progressToken?: string | number } }) {
    const source = await this.routes.routeResource(params.uri);
    this.mayUse('resources', source, params.uri, params.uri);
    return this.runner.run(source, (c, o) => c.readResource(params, o), params._meta?.progressToken);
  }

  async complete(params: {
    ref: { type: 'ref/prompt'; name: string } | { type: 'ref/resource'; uri: string };
    argument: { name: string; value: string };
    context?: { arguments?: Record<string, string> };
  }) {
    const ref = params.ref;
    if (ref.type === 'ref/prompt') {
      const target = await this.routes.route('prompts', ref.name);
      return this.runner.run(target.source, (c, o) =>
        c.complete({ ...params, ref: { ...ref, name: target.name } }, o),
      );
    }
    const source = await this.routes.routeTemplate(ref.uri);
    return this.runner.run(source, (c, o) => c.complete(params, o));
  }

  /** resources/subscribe and unsubscribe go to the source that owns the URI (SPEC §11). */
  async subscription(method: 'resources/subscribe' | 'resources/unsubscribe', uri: string) {
    const source = await this.routes.routeResource(uri);
    this.mayUse('resources', source, uri, uri);
    return this.runner.run(source, (c, o) => c.request({ method, params: { uri } }, EmptyResultSchema, o));
  }

  /** logging/setLevel reaches every upstream that has logging; one without it is left out. */
  async setLevel(level: LoggingLevel) {
    await Promise.all(
      this.upstreams.map((u) =>
        this.runner
          .run(u.name, (c, o) =>
            c.request({ method: 'logging/setLevel', params: { level } }, EmptyResultSchema, o),
          )
          .catch((err) => {
            if ((err as { code?: number }).code !== ErrorCode.MethodNotFound) {
              this.gateway.parts.s.log.warn(
                { upstream: u.name, err: (err as Error).message },
                'upstream left out of logging/setLevel',
              );
            }
          }),
      ),
    );
    return {};
  }

  /** Role limits on prompts and resources (SPEC §11): what the caller's role may not use is left out. */
  private limited<T>(
    kind: 'prompts' | 'resources',
    lists: Array<{ source: string; items: T[] }>,
    key: (item: T) => string,
  ): Array<{ source: string; items: T[] }> {
    const role = this.caller.user.role;
    return lists.map(({ source, items }) => {
      const upstream = this.gateway.byName.get(source);
      return { source, items: upstream ? items.filter((i) => mayUse(upstream, kind, role, key(i))) : items };
    });
  }

  /** Refuses a prompt or resource the caller's role may not use, as tools are refused. */
  private mayUse(kind: 'prompts' | 'resources', source: string, key: string, exposed: string): void {
    const upstream = this.gateway.byName.get(source);
    if (!upstream || mayUse(upstream, kind, this.caller.user.role, key)) return;
    const what = kind === 'prompts' ? 'Prompt' : 'Resource';
    throw new RpcError(
      ErrorCode.InvalidParams,
      `${what} ${exposed} is not available to the ${this.caller.user.role} role`,
    );
  }

  /** One page of a merged list (SPEC §11): `cursor` is where the previous page ended. */
  private page<K extends string, T>(
    key: K,
    items: T[],
    cursor?: string,
  ): { [P in K]: T[] } & { nextCursor?: string } {
    const size = this.gateway.parts.s.config.listPageSize;
    const start = cursor === undefined ? 0 : offsetOf(cursor, key);
    const end = start + size;
    const page = { [key]: items.slice(start, end) } as { [P in K]: T[] } & { nextCursor?: string };
    if (end < items.length) page.nextCursor = cursorOf(end, key);
    return page;
  }

  /** Lists one kind from every source in parallel; a source that fails is left out (and logged). */
  private async collect<K extends ListKind>(kind: K): Promise<Array<{ source: string; items: Listed[K][] }>> {
    const sources = [LOCAL, ...this.upstreams.map((u) => u.name)];
    const results = await Promise.all(
      sources.map(async (source) => {
        try {
          const items = await this.runner.run(source, (c, o) => listEvery(c, kind, o));
          this.gateway.names.remember(this.caller.connection.id, kind, source, items.map(keyOf));
          return { source, items };
        } catch (err) {
          if ((err as { code?: number }).code !== ErrorCode.MethodNotFound) {
            this.gateway.parts.s.log.warn(
              { upstream: source, kind, err: (err as Error).message },
              'upstream left out of a list',
            );
          }
          return null;
        }
      }),
    );
    return results.filter((r) => r !== null);
  }
}

/** A list cursor: the offset where the next page starts, and which list it belongs to. */
function cursorOf(offset: number, list: string): string {
  return Buffer.from(JSON.stringify({ o: offset, l: list })).toString('base64url');
}

function offsetOf(cursor: string, list: string): number {
  try {
    const parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as {
      o?: unknown;
      l?: unknown;
    };
    if (parsed.l === list && Number.isSafeInteger(parsed.o) && (parsed.o as number) >= 0)
      return parsed.o as number;
  } catch {
    // not one of ours
  }
  throw new RpcError(ErrorCode.InvalidParams, 'Invalid cursor');
}
