import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import {
  CallToolRequestSchema,
  CallToolResultSchema,
  CompleteRequestSchema,
  ErrorCode,
  GetPromptRequestSchema,
  InitializeRequestSchema,
  ListPromptsRequestSchema,
  ListResourcesRequestSchema,
  ListResourceTemplatesRequestSchema,
  ListToolsRequestSchema,
  ReadResourceRequestSchema,
} from '@modelcontextprotocol/sdk/types.js';
import type { GatewayCaller } from './caller.js';
import { LOCAL, NameIndex, Naming } from './catalog.js';
import type { UpstreamDefinition } from './config.js';
import { type DownstreamExtra, GATEWAY_INFO } from './forwarding.js';
import { keyOf, type Listed, type ListKind, listEvery } from './lists.js';
import type { ToolPermissions } from './permissions.js';
import { Routes } from './routing.js';
import { type SourceParts, SourceRunner } from './runner.js';

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

  constructor(readonly parts: GatewayParts) {
    this.byName = new Map(parts.upstreams.map((u) => [u.name, u]));
    this.naming = new Naming(parts.upstreams.map((u) => u.name));
    this.sources = { ...parts, byName: this.byName };
  }

  /** The MCP server one /mcp POST talks to. `streaming`: its answer is an SSE stream that can carry requests. */
  serverFor(caller: GatewayCaller, local: () => McpServer, streaming: boolean): Server {
    const server = new Server(GATEWAY_INFO, {
      capabilities: { tools: {}, resources: {}, prompts: {}, completions: {} },
    });
    const exchange = (extra: DownstreamExtra) => new Exchange(this, caller, extra, local, streaming);
    server.setRequestHandler(ListToolsRequestSchema, (_r, extra) => exchange(extra).listTools());
    server.setRequestHandler(CallToolRequestSchema, (r, extra) => exchange(extra).callTool(r.params));
    server.setRequestHandler(ListPromptsRequestSchema, (_r, extra) => exchange(extra).listPrompts());
    server.setRequestHandler(GetPromptRequestSchema, (r, extra) => exchange(extra).getPrompt(r.params));
    server.setRequestHandler(ListResourcesRequestSchema, (_r, extra) => exchange(extra).listResources());
    server.setRequestHandler(ListResourceTemplatesRequestSchema, (_r, extra) =>
      exchange(extra).listTemplates(),
    );
    server.setRequestHandler(ReadResourceRequestSchema, (r, extra) => exchange(extra).readResource(r.params));
    server.setRequestHandler(CompleteRequestSchema, (r, extra) => exchange(extra).complete(r.params));
    return server;
  }

  /**
   * A client sent initialize: remember what it declared, and start its
   * upstream sessions afresh (the old ones are ended at the upstreams).
   */
  async clientInitialized(caller: GatewayCaller, body: unknown): Promise<void> {
    const parsed = InitializeRequestSchema.safeParse(body);
    if (!parsed.success) return;
    const connectionId = caller.connection.id;
    const old = await this.parts.sessions.clientInitialized(connectionId, parsed.data.params);
    this.names.forget(connectionId);
    this.parts.stdio.closeConnection(connectionId);
    for (const session of old) {
      const upstream = this.byName.get(session.upstream);
      if (upstream?.kind !== 'http') continue;
      void this.parts.http.terminate(upstream, connectionId, session.sessionId).catch(() => undefined);
    }
  }
}

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
  ) {
    this.upstreams = gateway.parts.upstreams;
    this.runner = new SourceRunner(gateway.sources, this.caller, extra, local, streaming);
    this.routes = new Routes(
      this.runner,
      gateway.names,
      gateway.naming,
      this.upstreams,
      this.caller.connection.id,
    );
  }

  async listTools() {
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
    return {
      tools: this.gateway.parts.permissions.allowedOnly(this.caller, this.gateway.naming.expose(shown)),
    };
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

  async listPrompts() {
    return { prompts: this.gateway.naming.expose(await this.collect('prompts')) };
  }

  async getPrompt(params: { name: string; _meta?: { progressToken?: string | number } }) {
    const target = await this.routes.route('prompts', params.name);
    return this.runner.run(
      target.source,
      (c, o) => c.getPrompt({ ...params, name: target.name }, o),
      params._meta?.progressToken,
    );
  }

  async listResources() {
    const lists = await this.collect('resources');
    // URIs are never rewritten: when two sources list one, the first (in configuration order) wins.
    const seen = new Set<string>();
    const resources = lists
      .flatMap((l) => l.items)
      .filter((r) => !seen.has(r.uri) && Boolean(seen.add(r.uri)));
    return { resources };
  }

  async listTemplates() {
    const lists = await this.collect('templates');
    return { resourceTemplates: lists.flatMap((l) => l.items) };
  }

  async readResource(params: { uri: string; _meta?: { progressToken?: string | number } }) {
    const source = await this.routes.routeResource(params.uri);
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
