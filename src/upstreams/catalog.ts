import { UriTemplate } from '@modelcontextprotocol/sdk/shared/uriTemplate.js';

/** The source name of the built-in and library tools (never prefixed). */
export const LOCAL = '';
/** Between an upstream's name and a tool or prompt name that clashes: `github__search`. */
export const SEPARATOR = '__';

export interface SourceItems<T> {
  source: string;
  items: T[];
}

export interface Exposed<T> {
  source: string;
  item: T;
  /** The name the client sees. */
  exposed: string;
}

/**
 * Names the client sees (issue #7). A tool or prompt keeps its own name when
 * no other source has one like it; when several do, each upstream's copy
 * becomes `upstream__name`. Built-in and library tools always keep theirs.
 */
export function exposeByName<T extends { name: string }>(lists: SourceItems<T>[]): Exposed<T>[] {
  const count = new Map<string, number>();
  for (const list of lists)
    for (const item of list.items) count.set(item.name, (count.get(item.name) ?? 0) + 1);
  return lists.flatMap((list) =>
    list.items.map((item) => ({
      source: list.source,
      item,
      exposed:
        list.source === LOCAL || (count.get(item.name) ?? 0) < 2
          ? item.name
          : `${list.source}${SEPARATOR}${item.name}`,
    })),
  );
}

/** `upstream__name` → its parts, for any configured upstream; the prefixed form is always accepted. */
export function splitPrefixed(
  name: string,
  upstreams: readonly string[],
): { source: string; name: string } | null {
  for (const source of [...upstreams].sort((a, b) => b.length - a.length)) {
    const prefix = `${source}${SEPARATOR}`;
    if (name.startsWith(prefix) && name.length > prefix.length)
      return { source, name: name.slice(prefix.length) };
  }
  return null;
}

export function templateMatches(template: string, uri: string): boolean {
  try {
    return new UriTemplate(template).match(uri) !== null;
  } catch {
    return false;
  }
}

export type IndexKind = 'tools' | 'prompts' | 'resources' | 'templates';

const INDEX_TTL_MS = 60_000;
const MAX_ENTRIES = 50_000;

/**
 * What each upstream listed lately for a connection, by kind: how a call by a
 * plain name, or a read by URI, finds its upstream without listing everything
 * again. Kept per instance; a miss simply lists.
 */
export class NameIndex {
  private readonly entries = new Map<string, { at: number; names: Set<string> }>();

  remember(connectionId: string, kind: IndexKind, source: string, names: Iterable<string>): void {
    if (this.entries.size >= MAX_ENTRIES) this.entries.clear();
    this.entries.set(`${connectionId}\u0000${kind}\u0000${source}`, {
      at: Date.now(),
      names: new Set(names),
    });
  }

  /** The names a source listed within the last minute, or undefined. */
  lookup(connectionId: string, kind: IndexKind, source: string): Set<string> | undefined {
    const entry = this.entries.get(`${connectionId}\u0000${kind}\u0000${source}`);
    return entry && Date.now() - entry.at < INDEX_TTL_MS ? entry.names : undefined;
  }

  forget(connectionId: string): void {
    for (const key of this.entries.keys())
      if (key.startsWith(`${connectionId}\u0000`)) this.entries.delete(key);
  }
}

/** Every page of a paginated list (bounded, so a misbehaving upstream cannot loop forever). */
export async function listAll<T>(
  page: (cursor: string | undefined) => Promise<{ items: T[]; nextCursor?: string }>,
  maxPages = 50,
): Promise<T[]> {
  const out: T[] = [];
  let cursor: string | undefined;
  for (let i = 0; i < maxPages; i++) {
    const { items, nextCursor } = await page(cursor);
    out.push(...items);
    if (!nextCursor) break;
    cursor = nextCursor;
  }
  return out;
}
