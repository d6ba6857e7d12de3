/**
 * SPEC §6 "the list stays fast with 100,000 connections": seeds 100,000
 * connections into SQLite and into a scratch PostgreSQL database, then times
 * GET /api/mcp-connections over HTTP as the dashboard calls it (session cookie),
 * for the first page, a later page, a status filter and two searches.
 *
 *   npm run bench:list [-- --connections N --requests N --quick]
 */
import { parseArgs } from 'node:util';
import { sql } from 'kysely';
import { SESSION_COOKIE } from '../src/http/support.js';
import { createSession } from '../src/services/sessions.js';
import { createUser } from '../src/services/users.js';
import { PASSWORD } from '../test/helpers/flow.js';
import { postgresSkip, startTestServer, type TestServer } from '../test/helpers/server.js';
import { percentile, printTable } from './report.js';
import { seedConnections } from './seed.js';

const { values } = parseArgs({
  options: {
    connections: { type: 'string' },
    requests: { type: 'string' },
    quick: { type: 'boolean' },
  },
});
const CONNECTIONS = Number(values.connections ?? (values.quick ? 10_000 : 100_000));
const REQUESTS = Number(values.requests ?? (values.quick ? 20 : 100));
const USERS = 1000;
const WARMUP = 10;

interface Result {
  database: string;
  scenario: string;
  matching: number;
  p50: number;
  p99: number;
}

async function time(
  server: TestServer,
  cookie: string,
  path: string,
): Promise<{ ms: number[]; body: { total: number; nextCursor: string | null } }> {
  const get = async () => {
    const started = performance.now();
    const res = await fetch(`${server.base}${path}`, { headers: { cookie } });
    const body = (await res.json()) as { total: number; nextCursor: string | null };
    if (res.status !== 200) throw new Error(`${path} answered ${res.status}: ${JSON.stringify(body)}`);
    return { ms: performance.now() - started, body };
  };
  for (let i = 0; i < WARMUP; i++) await get();
  const ms: number[] = [];
  let last = await get();
  for (let i = 0; i < REQUESTS; i++) {
    last = await get();
    ms.push(last.ms);
  }
  return { ms: ms.sort((a, b) => a - b), body: last.body };
}

async function run(kind: 'sqlite' | 'postgres'): Promise<Result[]> {
  const server = await startTestServer(kind);
  try {
    const s = server.services;
    const started = performance.now();
    await seedConnections(s.store, {
      connections: CONNECTIONS,
      users: USERS,
      now: Date.now(),
      revokedEvery: 10,
    });
    const seeded = performance.now() - started;
    // The steady state autovacuum reaches on its own: planner statistics and the visibility map.
    if (kind === 'postgres') await sql`vacuum analyze`.execute(s.store.db);
    const admin = await createUser(
      s,
      { email: 'bench-admin@example.com', password: PASSWORD, role: 'admin' },
      'bench',
    );
    const cookie = `${SESSION_COOKIE}=${await createSession(s, admin.id)}`;
    console.error(
      `${kind}: seeded ${CONNECTIONS.toLocaleString('en-US')} connections in ${(seeded / 1000).toFixed(1)} s`,
    );

    const first = await time(server, cookie, '/api/mcp-connections?limit=25');
    const cursor = first.body.nextCursor ?? '';
    const scenarios: [string, string][] = [
      ['first page', '/api/mcp-connections?limit=25'],
      ['second page (cursor)', `/api/mcp-connections?limit=25&cursor=${cursor}`],
      ['status=revoked', '/api/mcp-connections?limit=25&status=revoked'],
      ['search user email (q=user0420)', '/api/mcp-connections?limit=25&q=user0420'],
      ['search client name (q=cursor)', '/api/mcp-connections?limit=25&q=cursor'],
      ['search, no match (q=nobody)', '/api/mcp-connections?limit=25&q=nobody'],
    ];
    const results: Result[] = [];
    for (const [scenario, path] of scenarios) {
      const { ms, body } = await time(server, cookie, path);
      results.push({
        database: kind,
        scenario,
        matching: body.total,
        p50: percentile(ms, 50),
        p99: percentile(ms, 99),
      });
    }
    return results;
  } finally {
    await server.stop();
  }
}

const results: Result[] = [];
results.push(...(await run('sqlite')));
const skip = await postgresSkip();
if (skip) console.error(`PostgreSQL skipped: ${skip}`);
else results.push(...(await run('postgres')));

printTable(
  `GET /api/mcp-connections with ${CONNECTIONS.toLocaleString('en-US')} connections (${REQUESTS} requests each, after ${WARMUP} warm-up)`,
  ['database', 'request', 'total matching', 'p50 ms', 'p99 ms'],
  results.map((r) => [
    r.database,
    r.scenario,
    r.matching.toLocaleString('en-US'),
    r.p50.toFixed(1),
    r.p99.toFixed(1),
  ]),
);
