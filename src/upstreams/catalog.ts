import { UriTemplate } from '@modelcontextprotocol/sdk/shared/uriTemplate.js';
import type { ListKind } from './lists.js';

/** The source name of the built-in and library tools (never prefixed). */
export const LOCAL = '';
/** Between an upstream's name and a tool or prompt name: `github__search`. */
export const SEPARATOR = '__';

export interface SourceItems<T> {
  source: string;
  items: T[];
}

/** Where an exposed name leads: a source and the item's own name there. */
export interface Target {
  source: string;
  name: string;
}

/**
 * The names the client sees for tools and prompts (SPEC §9), settled by the
 * configuration alone, so that they never change with which upstreams answer:
 * with several upstreams configured, every upstream tool and prompt is
 * `upstream__name`; with one, its names are kept, except one that a built-in
 * or library tool already has, which becomes `upstream__name`. Built-in and
 * library names are never prefixed. Upstream names have no `_`, so the first
 * `__` splits a prefixed name unambiguously.
 */
export class Naming {
  private readonly single: string | undefined;

  constructor(private readonly upstreams: readonly string[]) {
    this.single = upstreams.length === 1 ? upstreams[0] : undefined;
  }

  /** The name the client sees for `name` of `source`; `local` holds the built-in and library names. */
  exposed(source: string, name: string, local: ReadonlySet<string>): string {
    if (source === LOCAL) return name;
    return this.single === source && !local.has(name) ? name : `${source}${SEPARATOR}${name}`;
  }

  /**
   * The upstream items a name the client sent may stand for, most likely
   * first; the caller keeps the one its upstream really listed. With one
   * upstream, the prefixed form is accepted as well.
   */
  candidates(exposed: string, local: ReadonlySet<string>): Target[] {
    const out: Target[] = [];
    if (this.single !== undefined && !local.has(exposed)) out.push({ source: this.single, name: exposed });
    const at = exposed.indexOf(SEPARATOR);
    const source = exposed.slice(0, at);
    const name = exposed.slice(at + SEPARATOR.length);
    if (at > 0 && name.length > 0 && this.upstreams.includes(source)) out.push({ source, name });
    return out;
  }

  /** Every source's items under the names the client sees. */
  expose<T extends { name: string }>(lists: SourceItems<T>[]): T[] {
    const local = new Set(lists.filter((l) => l.source === LOCAL).flatMap((l) => l.items.map((i) => i.name)));
    return lists.flatMap((list) =>
      list.items.map((item) => ({ ...item, name: this.exposed(list.source, item.name, local) })),
    );
  }
}

export function templateMatches(template: string, uri: string): boolean {
  try {
    return new UriTemplate(template).match(uri) !== null;
  } catch {
    return false;
  }
}

const INDEX_TTL_MS = 60_000;
const MAX_ENTRIES = 50_000;

/**
 * What each upstream listed lately for a connection, by kind: what a call's
 * name is checked against before it is forwarded, and how a read by URI finds
 * its upstream, without listing everything again. Kept per instance; a miss
 * simply lists.
 */
export class NameIndex {
  private readonly entries = new Map<string, { at: number; names: Set<string> }>();

  remember(connectionId: string, kind: ListKind, source: string, names: Iterable<string>): void {
    if (this.entries.size >= MAX_ENTRIES) this.entries.clear();
    this.entries.set(`${connectionId}\u0000${kind}\u0000${source}`, {
      at: Date.now(),
      names: new Set(names),
    });
  }

  /** The names a source listed within the last minute, or undefined. */
  lookup(connectionId: string, kind: ListKind, source: string): Set<string> | undefined {
    const entry = this.entries.get(`${connectionId}\u0000${kind}\u0000${source}`);
    return entry && Date.now() - entry.at < INDEX_TTL_MS ? entry.names : undefined;
  }

  forget(connectionId: string): void {
    for (const key of this.entries.keys())
      if (key.startsWith(`${connectionId}\u0000`)) this.entries.delete(key);
  }
}
