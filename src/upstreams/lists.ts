import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { RequestOptions } from '@modelcontextprotocol/sdk/shared/protocol.js';
import type { Prompt, Resource, ResourceTemplate, Tool } from '@modelcontextprotocol/sdk/types.js';

/** What each MCP list holds. */
export interface Listed {
  tools: Tool;
  prompts: Prompt;
  resources: Resource;
  templates: ResourceTemplate;
}
export type ListKind = keyof Listed;

interface Page<T> {
  items: T[];
  nextCursor?: string;
}
type PageOf<K extends ListKind> = (
  client: Client,
  params: { cursor: string } | undefined,
  options: RequestOptions,
) => Promise<Page<Listed[K]>>;

const PAGES: { [K in ListKind]: PageOf<K> } = {
  tools: async (c, p, o) => {
    const r = await c.listTools(p, o);
    return { items: r.tools, nextCursor: r.nextCursor };
  },
  prompts: async (c, p, o) => {
    const r = await c.listPrompts(p, o);
    return { items: r.prompts, nextCursor: r.nextCursor };
  },
  resources: async (c, p, o) => {
    const r = await c.listResources(p, o);
    return { items: r.resources, nextCursor: r.nextCursor };
  },
  templates: async (c, p, o) => {
    const r = await c.listResourceTemplates(p, o);
    return { items: r.resourceTemplates, nextCursor: r.nextCursor };
  },
};

/** A misbehaving source cannot make a list loop forever. */
const MAX_PAGES = 50;

/** Every page of one of a source's lists, followed by `nextCursor`. */
export async function listEvery<K extends ListKind>(
  client: Client,
  kind: K,
  options: RequestOptions,
): Promise<Listed[K][]> {
  const page = PAGES[kind] as PageOf<K>;
  const out: Listed[K][] = [];
  let cursor: string | undefined;
  for (let i = 0; i < MAX_PAGES; i++) {
    const { items, nextCursor } = await page(client, cursor ? { cursor } : undefined, options);
    out.push(...items);
    if (!nextCursor) break;
    cursor = nextCursor;
  }
  return out;
}

/** What identifies an item in its list: a template, a URI or a name. */
export function keyOf(item: { name?: string; uri?: string; uriTemplate?: string }): string {
  return item.uriTemplate ?? item.uri ?? item.name ?? '';
}
