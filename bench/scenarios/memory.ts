/**
 * B6: the resident memory of the one SQLite instance that served B1–B3, once it
 * holds 100,000 connections (bench/seed.ts) and the dashboard has listed and
 * searched them (the B4 requests, on this instance); then, as the worst case,
 * once every one of them has called /mcp (the token cache as full as it gets).
 */
import type { Request } from 'autocannon';
import { LIFETIMES } from '../../src/domain/clock.js';
import { newToken, sha256, TOKEN_PREFIX } from '../../src/domain/secrets.js';
import type { Bench, Row } from '../context.js';
import { fire } from '../load.js';
import { seedConnections } from '../seed.js';
import type { Deployment } from '../waxseal.js';
import { sizeOf } from './external.js';
import { MCP_HEADERS, WHOAMI_CALL } from './mcp.js';

const ROWS_PER_INSERT = 1000;
const TARGET = '< 200 MB';

/** One access token per seeded connection, as a code exchange would have left it. */
async function issueTokens(waxseal: Deployment, emailPrefix: string): Promise<string[]> {
  const db = waxseal.admin.store.db;
  const connections = await db
    .selectFrom('connections as c')
    .innerJoin('users as u', 'u.id', 'c.user_id')
    .select(['c.id', 'c.current_api_key_id'])
    .where('u.email', 'like', `${emailPrefix}%`)
    .execute();
  const at = Date.now();
  const tokens: string[] = [];
  await waxseal.admin.store.transact(async (tx) => {
    for (let i = 0; i < connections.length; i += ROWS_PER_INSERT) {
      const rows = connections.slice(i, i + ROWS_PER_INSERT).map((c) => {
        const token = newToken(TOKEN_PREFIX.access);
        tokens.push(token);
        return {
          token_hash: sha256(token),
          connection_id: c.id,
          refresh_token_id: 'seeded',
          api_key_id: c.current_api_key_id,
          scopes: 'mcp',
          resource: `${waxseal.instance.url}/mcp`,
          created_at: at,
          expires_at: at + LIFETIMES.accessToken,
          revoked_at: null,
        };
      });
      await tx.insertInto('access_tokens').values(rows).execute();
    }
  });
  return tokens;
}

/** Each token calls whoami once: a closed loop where every request takes the next token. */
async function callWithEach(b: Bench, url: string, tokens: string[]): Promise<void> {
  let next = 0;
  const requests: Request[] = [
    {
      method: 'POST',
      path: '/mcp',
      setupRequest: (req) => ({
        ...req,
        body: WHOAMI_CALL,
        headers: { ...MCP_HEADERS, authorization: `Bearer ${tokens[next++ % tokens.length]}` },
      }),
    },
  ];
  await fire({
    url,
    connections: b.settings.connections,
    amount: tokens.length,
    requests,
    expectStatus: 200,
  });
}

async function listAndSearch(waxseal: Deployment, emailPrefix: string): Promise<void> {
  for (const query of [
    'limit=25',
    `limit=25&q=${emailPrefix}0420`,
    'limit=25&q=nobody',
    'limit=25&status=active',
  ]) {
    for (let i = 0; i < 5; i++) {
      const res = await waxseal.browser.fetch(`/api/mcp-connections?${query}`);
      await res.arrayBuffer();
      if (res.status !== 200) throw new Error(`list ${query} answered ${res.status}`);
    }
  }
}

/** Where the memory is, from the instance's own Prometheus metrics (prom-client's defaults). */
async function heapOf(url: string): Promise<string> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const mb = (name: string) => Number(new RegExp(`^${name} (\\S+)`, 'm').exec(text)?.[1]) / 2 ** 20;
  return `heap ${mb('nodejs_heap_size_used_bytes').toFixed(0)} used of ${mb('nodejs_heap_size_total_bytes').toFixed(0)} MB; external ${mb('nodejs_external_memory_bytes').toFixed(0)} MB`;
}

export async function b6(b: Bench): Promise<Row[]> {
  const waxseal = await b.waxseal('sqlite');
  const before = ['B1', 'B2', 'B3'].filter((id) => b.ran.has(id) || b.memo.has(id));
  const loadedBy = before.length ? `after ${before.join(', ')}` : 'B1–B3 not run';
  const rssLoaded = waxseal.instance.rssMb();
  const target = b.settings.scale;
  const size = sizeOf(target);
  const smaller = target < 100_000 ? `${size}, not 100k` : undefined;
  const existing = Number(
    (
      await waxseal.admin.store.db
        .selectFrom('connections')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .executeTakeFirstOrThrow()
    ).n,
  );
  const emailPrefix = 'b6-user';
  await seedConnections(waxseal.admin.store, {
    connections: Math.max(0, target - existing),
    users: 1000,
    now: Date.now(),
    emailPrefix,
  });
  await listAndSearch(waxseal, emailPrefix);
  const rssListed = waxseal.instance.rssMb();
  const heapListed = await heapOf(waxseal.instance.url);
  // The worst case: every connection active at once, so the token cache holds them all.
  const tokens = await issueTokens(waxseal, emailPrefix);
  await callWithEach(b, waxseal.instance.url, tokens);
  const rssFull = waxseal.instance.rssMb();
  const heapFull = await heapOf(waxseal.instance.url);
  return [
    {
      id: 'B6',
      what: `RSS of the SQLite instance ${loadedBy}, before seeding`,
      value: `${rssLoaded.toFixed(0)} MB`,
      target: 'context for B6',
      met: null,
    },
    {
      id: 'B6',
      what: `RSS of that instance with ${size} connections, after the list and searches (B4's requests)`,
      value: `${rssListed.toFixed(0)} MB`,
      target: TARGET,
      ratio: heapListed,
      met: rssListed < 200,
      note: smaller,
    },
    {
      id: 'B6',
      what: `then every one of the ${size} connections calls /mcp once (token cache full: the worst case)`,
      value: `${rssFull.toFixed(0)} MB`,
      target: 'context for B6',
      ratio: heapFull,
      met: null,
      note: smaller,
    },
  ];
}
