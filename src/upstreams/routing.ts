import { ErrorCode } from '@modelcontextprotocol/sdk/types.js';
import { LOCAL, type NameIndex, type Naming, type Target, templateMatches } from './catalog.js';
import type { UpstreamDefinition } from './config.js';
import { RpcError } from './errors.js';
import { keyOf, type ListKind, listEvery } from './lists.js';
import type { SourceRunner } from './runner.js';

/** A resource's "not found" (MCP spec, resources: -32002). */
const RESOURCE_NOT_FOUND = -32002;

/**
 * Where a call, a read or a completion goes: the local tools first, then the
 * upstream its name points at (catalog.ts, Naming). A tool or prompt name is
 * forwarded only as the upstream itself listed it (the per-connection index,
 * listed again when older than a minute or when the name is not in it), so a
 * name the upstream never listed cannot slip past a role rule written for
 * another spelling: it gets the error of an unknown tool.
 */
export class Routes {
  /** Sources listed during this request: a name missing from them is not listed again. */
  private readonly listedNow = new Set<string>();
  constructor(
    private readonly runner: SourceRunner,
    private readonly names: NameIndex,
    private readonly naming: Naming,
    private readonly upstreams: readonly UpstreamDefinition[],
    private readonly connectionId: string,
    /** The local names, shared by the requests of one caller's server; failures are not kept. */
    private readonly localCache = new Map<ListKind, Promise<Set<string>>>(),
  ) {}

  /** The source and own name of the tool or prompt the client named. */
  async route(kind: 'tools' | 'prompts', exposed: string): Promise<Target> {
    const local = await this.localNames(kind);
    if (local.has(exposed)) return { source: LOCAL, name: exposed };
    for (const target of this.naming.candidates(exposed, local)) {
      if (await this.lists(kind, target)) return target;
    }
    throw new RpcError(
      ErrorCode.InvalidParams,
      `${kind === 'tools' ? 'Tool' : 'Prompt'} ${exposed} not found`,
    );
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

  /**
   * Whether the target's upstream lists that name. An upstream that cannot be
   * listed fails the call with its own error ("Upstream … is unavailable").
   */
  private async lists(kind: ListKind, target: Target): Promise<boolean> {
    const known = this.names.lookup(this.connectionId, kind, target.source);
    if (known?.has(target.name)) return true;
    const key = `${kind}\u0000${target.source}`;
    if (this.listedNow.has(key)) return false;
    const items = await this.runner.run(target.source, (c, o) => listEvery(c, kind, o));
    this.listedNow.add(key);
    const names = items.map(keyOf);
    this.names.remember(this.connectionId, kind, target.source, names);
    return names.includes(target.name);
  }

  /** Upstreams whose latest listing matches, listing those not seen within the last minute. */
  private async sourcesListing(kind: ListKind, matches: (names: Set<string>) => boolean): Promise<string[]> {
    const { names, connectionId } = this;
    const stale = this.upstreams.filter((u) => !names.lookup(connectionId, kind, u.name));
    await Promise.all(
      stale.map(async (u) => {
        try {
          const items = await this.runner.run(u.name, (c, o) => listEvery(c, kind, o));
          names.remember(connectionId, kind, u.name, items.map(keyOf));
        } catch {
          // Unreachable upstreams simply match nothing; the caller gets "not found".
        }
      }),
    );
    return this.upstreams
      .filter((u) => {
        const seen = names.lookup(connectionId, kind, u.name);
        return seen !== undefined && matches(seen);
      })
      .map((u) => u.name);
  }

  /** Names of the built-in and library tools, prompts, resources or templates. */
  private localNames(kind: ListKind): Promise<Set<string>> {
    let names = this.localCache.get(kind);
    if (!names) {
      const listed = this.runner.run(LOCAL, (c, o) => listEvery(c, kind, o));
      names = listed.then(
        (items) => new Set(items.map(keyOf)),
        () => {
          if (this.localCache.get(kind) === names) this.localCache.delete(kind);
          return new Set<string>();
        },
      );
      this.localCache.set(kind, names);
    }
    return names;
  }
}
