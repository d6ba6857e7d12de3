/**
 * B5 revocation propagation: revoke a connection through the admin API of
 * instance A, then poll instance B with that connection's token until it is
 * refused. Two real `waxseal serve` processes on one PostgreSQL database.
 *
 *   node --import tsx bench/propagation.ts [--quick] [--samples N]
 */
import { parseArgs } from 'node:util';
import pino from 'pino';
import { loadConfig } from '../src/config.js';
import { openServices } from '../src/server.js';
import { createUser } from '../src/services/users.js';
import { authorizeInBrowser, Browser, mcpStatus, PASSWORD, pkce } from '../test/helpers/flow.js';
import { type Instance, startBalancer, startInstance } from '../test/helpers/processes.js';
import { createTestDatabase, SECRET } from '../test/helpers/server.js';
import { percentile, printTable } from './report.js';
import { BENCH_LIMITS } from './waxseal.js';

const { values } = parseArgs({ options: { quick: { type: 'boolean' }, samples: { type: 'string' } } });
const samples = Number(values.samples ?? (values.quick ? 30 : 200));

const db = await createTestDatabase('postgres');
const balancer = await startBalancer();
// Every sample is a sign-in flow from 127.0.0.1: raise the per-IP limits as the other scenarios do.
const env = { DATABASE_URL: db.url, PUBLIC_URL: balancer.url, WAXSEAL_SECRET: SECRET, ...BENCH_LIMITS };
const a: Instance = await startInstance(env);
const b: Instance = await startInstance(env);
balancer.targets.push(a.port, b.port);
const admin = await openServices(loadConfig({ ...env, LOG_LEVEL: 'silent' }), {
  log: pino({ level: 'silent' }),
});
try {
  await createUser(admin, { email: 'bench@example.com', password: PASSWORD, role: 'admin' }, 'bench');
  const browser = new Browser(balancer.url);
  await browser.signIn('bench@example.com', PASSWORD);
  const redirect = 'http://127.0.0.1:9/cb';
  const reg = (await (
    await fetch(`${a.url}/register`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        redirect_uris: [redirect],
        token_endpoint_auth_method: 'none',
        client_name: 'bench',
      }),
    })
  ).json()) as { client_id: string };

  const delays: number[] = [];
  for (let i = 0; i < samples; i++) {
    const { verifier, challenge } = pkce();
    const url = new URL('/authorize', a.url);
    url.search = new URLSearchParams({
      client_id: reg.client_id,
      redirect_uri: redirect,
      response_type: 'code',
      code_challenge: challenge,
      code_challenge_method: 'S256',
    }).toString();
    const back = await authorizeInBrowser(browser, url.pathname + url.search, {
      email: 'bench@example.com',
      password: PASSWORD,
    });
    const tokenRes = await fetch(`${a.url}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'authorization_code',
        code: back.searchParams.get('code') as string,
        code_verifier: verifier,
        redirect_uri: redirect,
        client_id: reg.client_id,
      }),
    });
    const token = ((await tokenRes.json()) as { access_token: string }).access_token;
    if ((await mcpStatus(b.url, token)) !== 200) throw new Error('token not accepted on B');
    const conn = await admin.store.db
      .selectFrom('connections')
      .select('id')
      .orderBy('connected_at', 'desc')
      .executeTakeFirstOrThrow();
    const revoke = await browser.fetch(`${a.url}/api/mcp-connections/${conn.id}/revoke`, {
      method: 'POST',
      headers: { origin: balancer.url, 'content-type': 'application/json' },
    });
    if (revoke.status !== 200) throw new Error(`revoke answered ${revoke.status}`);
    const committed = performance.now();
    while ((await mcpStatus(b.url, token)) !== 401) {
      if (performance.now() - committed > 5000) throw new Error('revocation never reached B');
    }
    delays.push(performance.now() - committed);
  }
  delays.sort((x, y) => x - y);
  printTable(
    'B5 revocation propagation (PostgreSQL, 2 instances)',
    ['samples', 'p50 ms', 'p99 ms', 'max ms', 'target'],
    [
      [
        String(samples),
        percentile(delays, 50).toFixed(1),
        percentile(delays, 99).toFixed(1),
        (delays.at(-1) ?? 0).toFixed(1),
        'p99 < 100 ms',
      ],
    ],
  );
} finally {
  await Promise.all([a.kill(), b.kill()]);
  await balancer.close();
  await admin.store.close();
  await db.drop();
}
