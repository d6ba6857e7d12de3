/**
 * Issue #6 fuzzing: generated and mutated requests against every OAuth endpoint,
 * sign-in, setup, metadata, /mcp and every /api call of a real `waxseal serve`
 * process. Properties: never a 5xx, the process never dies, every request is
 * answered, and a rejected request (4xx) changes no state.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { brotliCompressSync, gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { sql } from 'kysely';
import * as OTPAuth from 'otpauth';
import pino from 'pino';
import { loadConfig } from '../../src/config.js';
import { openServices } from '../../src/server.js';
import { createScimGroup } from '../../src/services/scim-groups.js';
import { createScimToken } from '../../src/services/scim-tokens.js';
import { createScimUser } from '../../src/services/scim-users.js';
import { enableTotp } from '../../src/services/users.js';
import { openStore, type Store } from '../../src/store/db.js';
import { addUser, Browser, PASSWORD } from '../helpers/flow.js';
import { type Balancer, type Instance, startBalancer, startInstance } from '../helpers/processes.js';
import { createTestDatabase, SECRET, type TestDatabase, type TestServer } from '../helpers/server.js';
import { describeRequest, type Mutation, mutate, mutation } from './mutations.js';
import { type RawRequest, sendRaw } from './raw-http.js';
import { encode, type Pool, REDIRECT, refill, type Seed, seeds } from './targets.js';

/** Tables whose rows a rejected request must not add or remove (rate limits and audit rows may grow). */
const STATE_TABLES = ['users', 'oauth_clients', 'connections', 'api_keys', 'refresh_tokens'] as const;
/** The whole suite stays within about a minute: the random phase gets what the rest left of 50 s. */
const BUDGET_MS = Number(process.env.FUZZ_BUDGET_SECONDS ?? 50) * 1000;
const started = Date.now();

/** The row count of each state table, in one query. */
async function counts(store: Store): Promise<string> {
  const columns = sql.join(
    STATE_TABLES.map((t) => sql`(select count(*) from ${sql.table(t)}) as ${sql.ref(t)}`),
  );
  const { rows } = await sql<Record<string, number>>`select ${columns}`.execute(store.db);
  return STATE_TABLES.map((t) => `${t}=${rows[0]?.[t]}`).join(' ');
}

/** 5xx responses the server has sent, by its own Prometheus metrics (SPEC §8). */
async function serverErrorsAt(base: string): Promise<number> {
  const text = await (await fetch(`${base}/metrics`)).text();
  let n = 0;
  for (const m of text.matchAll(/^waxseal_http_request_duration_seconds_count\{([^}]*)\} (\d+)/gm)) {
    if (/status="5\d\d"/.test(m[1] ?? '')) n += Number(m[2]);
  }
  return n;
}

describe('issue #6 fuzzing every endpoint of a real server process', () => {
  let db: TestDatabase;
  let balancer: Balancer;
  let instance: Instance;
  let store: Store;
  let pool: Pool;
  let owner: Browser;
  let totpUser: Browser;
  let apiPaths: [string, string][] = [];
  const tally = { sent: 0, byClass: new Map<string, number>(), unanswered: 0 };

  before(async () => {
    db = await createTestDatabase('sqlite');
    balancer = await startBalancer();
    const env = {
      DATABASE_URL: db.url,
      PUBLIC_URL: balancer.url,
      WAXSEAL_SECRET: SECRET,
      WAXSEAL_ADMIN_EMAIL: 'owner@example.com',
      WAXSEAL_ADMIN_PASSWORD: PASSWORD,
      // The fuzzer is one IP sending thousands of requests: lift the per-IP limits
      // so it reaches the endpoints (the limits have their own tests).
      REGISTER_LIMIT_PER_HOUR: '1000000',
      TOKEN_LIMIT_PER_MINUTE: '1000000',
      AUTHORIZE_LIMIT_PER_MINUTE: '1000000',
      SIGNIN_IP_MAX_FAILURES: '100000',
      SIGNIN_ACCOUNT_MAX_FAILURES: '1000',
      LOG_LEVEL: 'error',
    };
    instance = await startInstance(env);
    balancer.targets.push(instance.port);
    const s = await openServices(loadConfig({ ...env, LOG_LEVEL: 'silent' }), {
      log: pino({ level: 'silent' }),
    });
    await addUser({ services: s } as TestServer, 'totp@example.com', 'member');
    await addUser({ services: s } as TestServer, 'target@example.com', 'member');
    const totp = OTPAuth.URI.parse(await enableTotp(s, 'totp@example.com')) as OTPAuth.TOTP;
    // SPEC §10 SCIM: a token, a provisioned user and a group for the SCIM seeds.
    const scimToken = (await createScimToken(s, 'fuzz', 'test')).token;
    const scimUser = (
      await createScimUser(s, {
        userName: 'scim@example.com',
        active: true,
        externalId: null,
        attributes: {},
      })
    ).id;
    const scimGroup = (await createScimGroup(s, { displayName: 'fuzzers', externalId: null, memberIds: [] }))
      .id;
    await s.store.close();
    store = openStore(db.url);

    owner = new Browser(balancer.url);
    totpUser = new Browser(balancer.url);
    assert.equal((await owner.signIn('owner@example.com', PASSWORD)).status, 303);
    const reg = async (body: object) =>
      (await (
        await fetch(`${balancer.url}/register`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ redirect_uris: [REDIRECT], client_name: 'Fuzz seed', ...body }),
        })
      ).json()) as { client_id: string; client_secret: string };
    const pub = await reg({ token_endpoint_auth_method: 'none' });
    const conf = await reg({ token_endpoint_auth_method: 'client_secret_basic' });
    pool = {
      base: balancer.url,
      origin: new URL(balancer.url).origin,
      session: '',
      publicClient: pub.client_id,
      confidential: { id: conf.client_id, secret: conf.client_secret },
      codes: [],
      access: [],
      refresh: [],
      apiKeys: [],
      connections: [],
      consents: [],
      challenges: [],
      totp,
      lastAuditId: 0,
      scim: { token: scimToken, user: scimUser, group: scimGroup },
    };
    await refill(pool, owner, totpUser, { email: 'owner@example.com', password: PASSWORD }, store);
    // Every /api call the server documents, plus any this suite knows of.
    const doc = (await (await owner.fetch('/api/openapi.json')).json()) as {
      paths: Record<string, Record<string, unknown>>;
    };
    const known = new Set<string>();
    for (const [path, ops] of Object.entries(doc.paths)) {
      for (const method of Object.keys(ops)) {
        if (['get', 'post', 'put', 'patch', 'delete'].includes(method))
          known.add(`${method.toUpperCase()} ${path}`);
      }
    }
    for (const extra of [
      'GET /api/me',
      'GET /api/mcp-connections',
      'POST /api/mcp-connections/{id}/revoke',
      'POST /api/mcp-connections/{id}/regenerate-key',
      'GET /api/audit-events',
      'GET /api/lockouts',
      'POST /api/lockouts/unlock',
    ])
      known.add(extra);
    apiPaths = [...known].map((k) => k.split(' ') as [string, string]);
  });

  after(async () => {
    await instance?.kill();
    await balancer?.close();
    await store?.close();
    await db?.drop();
    console.log(
      `fuzz: ${tally.sent} requests sent; by status class ${JSON.stringify(Object.fromEntries(tally.byClass))}`,
    );
  });

  const serverErrors = () => serverErrorsAt(instance.url);

  /** Sends one request and checks every property; throws with the request on a violation. */
  const check = async (name: string, req: RawRequest, mutations: Mutation[] = []) => {
    const before = await counts(store);
    const res = await sendRaw(instance.port, req);
    tally.sent++;
    const cls = res.status === null ? 'reset' : `${String(res.status)[0]}xx`;
    tally.byClass.set(cls, (tally.byClass.get(cls) ?? 0) + 1);
    const what = describeRequest(name, req, mutations);
    assert.equal(
      instance.child.exitCode,
      null,
      `the server process died after ${what}:\n${instance.output()}`,
    );
    if (res.status === null) {
      // The connection was reset under the answer: the server answered before
      // reading everything (a 401 before a 2 MB body) or Node refused the bytes.
      // Its own metrics say whether any answer so far was a 5xx.
      assert.equal(
        await serverErrors(),
        0,
        `a 5xx was sent (and lost) for ${what}\n${instance.output().slice(-2000)}`,
      );
      return null;
    }
    assert.ok(res.status < 500, `${res.status} for ${what}\n${res.head}\n${instance.output().slice(-2000)}`);
    if (res.status >= 400) {
      assert.equal(await counts(store), before, `a rejected request (${res.status}) changed state: ${what}`);
    }
    return res.status;
  };

  test('each endpoint survives huge, deeply nested, compressed and invalid-UTF-8 bodies', async () => {
    const all = seeds(pool, 0, apiPaths);
    const bomb = gzipSync(Buffer.alloc(20 * 1024 * 1024, 0x61));
    for (const seed of all) {
      const base = encode(seed);
      const withBody = (body: Buffer, type: string, extra: [string, string][] = []): RawRequest => ({
        ...base,
        method: base.method === 'GET' ? 'POST' : base.method,
        headers: [...base.headers.filter(([n]) => n !== 'content-type'), ['content-type', type], ...extra],
        body,
      });
      const variants: [string, RawRequest][] = [
        ['as seeded', base],
        [
          '1.1 MB JSON string',
          withBody(Buffer.from(JSON.stringify({ x: 'y'.repeat(1_100_000) })), 'application/json'),
        ],
        [
          'nested 5,000 deep',
          withBody(Buffer.from(`${'['.repeat(5000)}${']'.repeat(5000)}`), 'application/json'),
        ],
        [
          'nested 30,000 deep',
          withBody(Buffer.from(`${'{"a":'.repeat(30000)}1${'}'.repeat(30000)}`), 'application/json'),
        ],
        [
          'invalid UTF-8 JSON',
          withBody(Buffer.from([0x7b, 0x22, 0xc3, 0x28, 0x22, 0x3a, 0xff, 0xfe, 0x7d]), 'application/json'),
        ],
        [
          'invalid UTF-8 form',
          withBody(
            Buffer.from([0x61, 0x3d, 0xc3, 0x28, 0x26, 0xed, 0xa0, 0x80, 0x3d, 0x25, 0xff]),
            'application/x-www-form-urlencoded',
          ),
        ],
        ['gzip bomb (20 MB inflated)', withBody(bomb, 'application/json', [['content-encoding', 'gzip']])],
        [
          'brotli JSON',
          withBody(brotliCompressSync(Buffer.from('{"a":1}')), 'application/json', [
            ['content-encoding', 'br'],
          ]),
        ],
        [
          'unknown encoding',
          withBody(Buffer.from('{}'), 'application/json', [['content-encoding', 'x-zip']]),
        ],
        ['utf-16 charset', withBody(Buffer.from('{}', 'utf16le'), 'application/json; charset=utf-16')],
        ['40 kB URL', { ...base, target: `${seed.path}?q=${'%41'.repeat(13000)}` }],
        [
          'invalid UTF-8 in URL',
          {
            ...base,
            target: Buffer.concat([
              Buffer.from(`${seed.path}?x=`),
              Buffer.from([0xc3, 0x28, 0xff]),
              Buffer.from('&%E0%A4%A'),
            ]),
          },
        ],
        [
          'invalid UTF-8 in headers',
          {
            ...base,
            headers: [
              ...base.headers,
              ['authorization', Buffer.from([0x42, 0x65, 0x61, 0x72, 0x65, 0x72, 0x20, 0xff, 0xfe])],
              ['cookie', Buffer.from([0x77, 0x3d, 0xc3, 0x28])],
            ],
          },
        ],
        ['chunked', { ...base, chunked: true }],
      ];
      for (const [label, req] of variants) await check(`${seed.name} — ${label}`, req);
    }
  });

  test('fast-check: mutated requests until the time budget is spent', async () => {
    const seconds = Math.max(10, (BUDGET_MS - (Date.now() - started)) / 1000);
    let runs = 0;
    await fc.assert(
      fc.asyncProperty(fc.nat(), fc.array(mutation, { minLength: 0, maxLength: 4 }), async (i, mutations) => {
        if (++runs % 150 === 0)
          await refill(pool, owner, totpUser, { email: 'owner@example.com', password: PASSWORD }, store);
        const all: Seed[] = seeds(pool, i, apiPaths);
        const seed = all[i % all.length] as Seed;
        await check(seed.name, mutate(seed, mutations), mutations);
      }),
      {
        numRuns: 1_000_000,
        interruptAfterTimeLimit: seconds * 1000,
        endOnFailure: true,
        includeErrorInReport: true,
      },
    );
    assert.ok(runs > 100, `only ${runs} runs`);
    console.log(`fuzz: fast-check ran ${runs} mutated requests in ${seconds.toFixed(0)} s`);
  });

  test('afterwards the process is alive and healthy, its metrics show no 5xx, and the seeds still work', async () => {
    assert.equal(instance.child.exitCode, null);
    assert.equal(await serverErrors(), 0);
    assert.equal((await fetch(`${instance.url}/healthz`)).status, 200);
    assert.equal((await fetch(`${instance.url}/readyz`)).status, 200);
    await refill(pool, owner, totpUser, { email: 'owner@example.com', password: PASSWORD }, store);
    assert.ok(tally.sent > 500, `${tally.sent} requests`);
  });
});
