import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { RequestOptions } from '@modelcontextprotocol/sdk/shared/protocol.js';
import { ErrorCode } from '@modelcontextprotocol/sdk/types.js';
import {
  type IndexKind,
  LOCAL,
  listAll,
  type NameIndex,
  SEPARATOR,
  splitPrefixed,
  templateMatches,
} from './catalog.js';
import type { UpstreamDefinition } from './config.js';
import { RpcError } from './errors.js';
import type { SourceRunner } from './runner.js';

/** A resource's "not found" (MCP spec, resources: -32002). */
const RESOURCE_NOT_FOUND = -32002;

/** What identifies an item in its list: a template, a URI or a name. */
export function keyOf(item: { name?: string; uri?: string; uriTemplate?: string }): string {
  return item.uriTemplate ?? item.uri ?? item.name ?? '';
}

/**
 * Where a call, a read or a completion goes (issue #7): the local tools
 * first, then an explicit `upstream__name`, the only upstream, or the
 * upstream that lists it (from the per-connection index, listing again what
 * is older than a minute).
 */
export class Routes {
  constructor(
    private readonly runner: SourceRunner,
    private readonly names: NameIndex,
    private readonly upstreams: readonly UpstreamDefinition[],
    private readonly connectionId: string,
  ) {}

  /** Where a tool or prompt name leads: a local one, `upstream__name`, the only upstream, or the one that lists it. */
  async route(kind: 'tools' | 'prompts', name: string): Promise<{ source: string; name: string }> {
    if ((await this.localNames(kind)).has(name)) return { source: LOCAL, name };
    const split = splitPrefixed(
      name,
      this.upstreams.map((u) => u.name),
    );
    if (split) return split;
    const only = this.upstreams.length === 1 ? this.upstreams[0] : undefined;
    if (only) return { source: only.name, name };
    const having = await this.sourcesListing(kind, (names) => names.has(name));
    const noun = kind === 'tools' ? 'Tool' : 'Prompt';
    if (having.length === 1) return { source: having[0] as string, name };
    if (having.length > 1) {
      const options = having.map((s) => `${s}${SEPARATOR}${name}`).join(' or ');
      throw new RpcError(
        ErrorCode.InvalidParams,
        `${noun} ${name} exists on several upstreams; call ${options}`,
      );
    }
    throw new RpcError(ErrorCode.InvalidParams, `${noun} ${name} not found`);
  }

  /** The source of a resource URI: exact match first, then a matching template, in configuration order. */
  async routeResource(uri: string): Promise<string> {
    if ((await this.localNames('resources')).has(uri)) return LOCAL;
    if ([...(await this.localNames('templates'))].some((t) => templateMatches(t, uri))) return LOCAL;
    const only = this.upstreams.length === 1 ? this.upstreams[0] : undefined;
    if (only) return only.name;
    const exact = await this.sourcesListing('resources', (uris) => uris.has(uri));
    if (exact[0] !== undefined) return exact[0];
    const templated = await this.sourcesListing('templates', (ts) =>
      [...ts].some((t) => templateMatches(t, uri)),
    );
    if (templated[0] !== undefined) return templated[0];
    throw new RpcError(RESOURCE_NOT_FOUND, `Resource ${uri} not found`);
  }

  async routeTemplate(template: string): Promise<string> {
    if ((await this.localNames('templates')).has(template)) return LOCAL;
    const only = this.upstreams.length === 1 ? this.upstreams[0] : undefined;
    if (only) return only.name;
    const having = await this.sourcesListing('templates', (ts) => ts.has(template));
    if (having[0] !== undefined) return having[0];
    throw new RpcError(ErrorCode.InvalidParams, `Resource template ${template} not found`);
  }

  /** Upstreams whose latest listing matches, listing those not seen within the last minute. */
  private async sourcesListing(kind: IndexKind, matches: (names: Set<string>) => boolean): Promise<string[]> {
    const { names, connectionId } = this;
    const stale = this.upstreams.filter((u) => !names.lookup(connectionId, kind, u.name));
    if (stale.length > 0) {
      await Promise.all(
        stale.map(async (u) => {
          try {
            const items = await this.runner.run(u.name, (c, o) => this.listKind(c, kind, o));
            names.remember(connectionId, kind, u.name, items);
          } catch {
            // Unreachable upstreams simply match nothing; the caller gets "not found".
          }
        }),
      );
    }
    return this.upstreams
      .filter((u) => {
        const seen = names.lookup(connectionId, kind, u.name);
        return seen !== undefined && matches(seen);
      })
      .map((u) => u.name);
  }

  private readonly localCache = new Map<IndexKind, Promise<Set<string>>>();

  /** Names of the built-in and library tools, prompts, resources or templates. */
  private localNames(kind: IndexKind): Promise<Set<string>> {
    let names = this.localCache.get(kind);
    if (!names) {
      names = this.runner
        .run(LOCAL, (c, o) => this.listKind(c, kind, o))
        .then(
          (items) => new Set(items),
          () => new Set<string>(),
        );
      this.localCache.set(kind, names);
    }
    return names;
  }

  private async listKind(client: Client, kind: IndexKind, o: RequestOptions): Promise<string[]> {
    const page = async (cursor: string | undefined) => {
      const params = cursor ? { cursor } : undefined;
      if (kind === 'tools') {
        const r = await client.listTools(params, o);
        return { items: r.tools.map(keyOf), nextCursor: r.nextCursor };
      }
      if (kind === 'prompts') {
        const r = await client.listPrompts(params, o);
        return { items: r.prompts.map(keyOf), nextCursor: r.nextCursor };
      }
      if (kind === 'resources') {
        const r = await client.listResources(params, o);
        return { items: r.resources.map(keyOf), nextCursor: r.nextCursor };
      }
      const r = await client.listResourceTemplates(params, o);
      return { items: r.resourceTemplates.map(keyOf), nextCursor: r.nextCursor };
    };
    return listAll(page);
  }
}
