/**
 * Issue #6 crash safety: a real `waxseal serve` process under a load of OAuth
 * flows, refreshes, revocations and key regenerations is killed with SIGKILL at
 * random moments and restarted on the same database; after each restart the
 * invariants of SPEC §4 must hold, and nothing the server acknowledged is lost.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, test } from 'node:test';
import { deriveApiKey } from '../../src/domain/secrets.js';
import { openStore, type Store } from '../../src/store/db.js';
import {
  Browser,
  hiddenField,
  introspectsActive,
  mcpStatus,
  PASSWORD,
  pkce,
  TEST_INTROSPECTION_SECRET,
} from '../helpers/flow.js';
import { type Balancer, type Instance, startBalancer, startInstance } from '../helpers/processes.js';
import { createTestDatabase, postgresSkip, SECRET } from '../helpers/server.js';

const ITERATIONS = Number(process.env.CRASH_ITERATIONS ?? 5);
const WORKERS = 4;
const REDIRECT = 'http://127.0.0.1:8976/callback';
const sha256 = (v: string) => createHash('sha256').update(v).digest('hex');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** What the test, as the client and the admin, was told by the server. */
interface Conn {
  id: string;
  access: string;
  refresh: string;
  /** Every access and refresh token ever handed out for it, for the "revoked means dead" check. */
  allAccess: string[];
  allRefresh: string[];
  revokedAck: boolean;
  busy: boolean;
}

interface Acks {
  created: string[];
  revoked: string[];
  regenerated: [string, string][];
  refreshed: [string, string][];
}

class Checks {
  n = 0;
  ok(value: unknown, message: string): void {
    this.n++;
    assert.ok(value, message);
  }
  equal<T>(actual: T, expected: T, message: string): void {
    this.n++;
    assert.equal(actual, expected, message);
  }
}

async function refreshGrant(base: string, clientId: string, refreshToken: string) {
  const res = await fetch(`${base}/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'refresh_token',
      refresh_token: refreshToken,
      client_id: clientId,
    }),
  });
  return { status: res.status, body: (await res.json().catch(() => ({}))) as Record<string, string> };
}

for (const kind of ['sqlite', 'postgres'] as const) {
  describe(`issue #6 crash safety: SIGKILL under load, restart, invariants hold (${kind})`, async () => {
    const skip = kind === 'postgres' ? await postgresSkip() : false;

    test(`${ITERATIONS} kills at random moments lose nothing acknowledged and leave no half-revoked connection`, {
      skip,
    }, async () => {
      const db = await createTestDatabase(kind);
      const balancer: Balancer = await startBalancer();
      const store: Store = openStore(db.url);
      const env = {
        DATABASE_URL: db.url,
        PUBLIC_URL: balancer.url,
        WAXSEAL_SECRET: SECRET,
        INTROSPECTION_SECRET: TEST_INTROSPECTION_SECRET,
        WAXSEAL_ADMIN_EMAIL: 'ops@example.com',
        WAXSEAL_ADMIN_PASSWORD: PASSWORD,
        TOKEN_LIMIT_PER_MINUTE: '1000000',
        AUTHORIZE_LIMIT_PER_MINUTE: '1000000',
        LOG_LEVEL: 'warn',
      };
      let instance: Instance = await startInstance(env);
      balancer.targets.push(instance.port);
      const base = balancer.url;
      const checks = new Checks();
      const conns = new Map<string, Conn>();
      const acks: Acks = { created: [], revoked: [], regenerated: [], refreshed: [] };
      let ops = 0;
      try {
        const admin = new Browser(base);
        assert.equal((await admin.signIn('ops@example.com', PASSWORD)).status, 303);
        const reg = (await (
          await fetch(`${base}/register`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({
              redirect_uris: [REDIRECT],
              token_endpoint_auth_method: 'none',
              client_name: 'Crash',
            }),
          })
        ).json()) as { client_id: string };
        const clientId = reg.client_id;

        const flow = async () => {
          const { verifier, challenge } = pkce();
          const url = new URL('/authorize', base);
          for (const [k, v] of Object.entries({
            response_type: 'code',
            client_id: clientId,
            redirect_uri: REDIRECT,
            code_challenge: challenge,
            code_challenge_method: 'S256',
          }))
            url.searchParams.set(k, v);
          const page = await admin.fetch(url.href);
          if (page.status !== 200) return;
          const html = await page.text();
          const decided = await admin.postForm('/authorize/decision', {
            request: hiddenField(html, 'request'),
            csrf: hiddenField(html, 'csrf'),
            decision: 'allow',
          });
          if (decided.status !== 303) return;
          const code = new URL(decided.headers.get('location') as string).searchParams.get('code') as string;
          const res = await fetch(`${base}/token`, {
            method: 'POST',
            headers: { 'content-type': 'application/x-www-form-urlencoded' },
            body: new URLSearchParams({
              grant_type: 'authorization_code',
              code,
              code_verifier: verifier,
              client_id: clientId,
              redirect_uri: REDIRECT,
            }),
          });
          if (res.status !== 200) return;
          const tokens = (await res.json()) as { access_token: string; refresh_token: string };
          // Acknowledged: the connection must exist from now on, whatever happens.
          const row = await store.db
            .selectFrom('access_tokens')
            .select('connection_id')
            .where('token_hash', '=', sha256(tokens.access_token))
            .executeTakeFirst();
          checks.ok(row, 'an acknowledged code exchange left its connection in the database');
          const id = row?.connection_id as string;
          acks.created.push(id);
          conns.set(id, {
            id,
            access: tokens.access_token,
            refresh: tokens.refresh_token,
            allAccess: [tokens.access_token],
            allRefresh: [tokens.refresh_token],
            revokedAck: false,
            busy: false,
          });
        };

        const withIdle = async (fn: (c: Conn) => Promise<void>) => {
          const idle = [...conns.values()].filter((c) => !c.revokedAck && !c.busy);
          const c = idle[Math.floor(Math.random() * idle.length)];
          if (!c) return flow();
          c.busy = true;
          try {
            await fn(c);
          } finally {
            c.busy = false;
          }
        };

        const refresh = (c: Conn) => async () => {
          const r = await refreshGrant(base, clientId, c.refresh);
          if (r.status !== 200) return;
          c.access = r.body.access_token as string;
          c.refresh = r.body.refresh_token as string;
          c.allAccess.push(c.access);
          c.allRefresh.push(c.refresh);
          acks.refreshed.push([c.id, c.refresh]);
        };
        const apiAction = (c: Conn, action: 'revoke' | 'regenerate-key') => async () => {
          const res = await admin.fetch(`/api/mcp-connections/${c.id}/${action}`, {
            method: 'POST',
            headers: { origin: base },
          });
          if (res.status !== 200) return;
          const body = (await res.json()) as { status: string; apiKeyPrefix: string };
          if (action === 'revoke') {
            c.revokedAck = true;
            acks.revoked.push(c.id);
          } else {
            acks.regenerated.push([c.id, body.apiKeyPrefix]);
          }
        };
        const clientRevoke = (c: Conn) => async () => {
          const res = await fetch(`${base}/revoke`, {
            method: 'POST',
            headers: { 'content-type': 'application/x-www-form-urlencoded' },
            body: new URLSearchParams({ token: c.refresh, client_id: clientId }),
          });
          if (res.status !== 200) return;
          c.revokedAck = true;
          acks.revoked.push(c.id);
        };

        const load = async (stop: { now: boolean }) => {
          while (!stop.now) {
            const roll = Math.random();
            ops++;
            try {
              if (roll < 0.25) await flow();
              else if (roll < 0.6) await withIdle((c) => refresh(c)());
              else if (roll < 0.7) await withIdle((c) => apiAction(c, 'revoke')());
              else if (roll < 0.78) await withIdle((c) => clientRevoke(c)());
              else if (roll < 0.93) await withIdle((c) => apiAction(c, 'regenerate-key')());
              else await withIdle(async (c) => void (await mcpStatus(base, c.access)));
            } catch {
              // The server died under this request: it is simply not acknowledged.
            }
          }
        };

        for (let iteration = 1; iteration <= ITERATIONS; iteration++) {
          const stop = { now: false };
          const workers = Array.from({ length: WORKERS }, () => load(stop));
          await sleep(600 + Math.random() * 1800);
          await instance.kill('SIGKILL');
          stop.now = true;
          await Promise.all(workers);
          instance = await startInstance(env);
          balancer.targets[0] = instance.port;
          await verify(store, base, clientId, conns, acks, checks);
        }
        console.log(
          `crash (${kind}): ${ITERATIONS} SIGKILLs, ${ops} operations, ${conns.size} connections ` +
            `(${acks.created.length} created, ${acks.refreshed.length} refreshes, ${acks.regenerated.length} regenerations, ` +
            `${acks.revoked.length} revocations acknowledged), ${checks.n} invariant checks passed`,
        );
      } finally {
        await instance.kill();
        await balancer.close();
        await store.close();
        await db.drop();
      }
    });
  });
}

/** The invariants, checked in the database and over HTTP after a restart. */
async function verify(
  store: Store,
  base: string,
  clientId: string,
  conns: Map<string, Conn>,
  acks: Acks,
  checks: Checks,
): Promise<void> {
  const db = store.db;
  const rows = await db.selectFrom('connections').selectAll().execute();
  const keys = await db.selectFrom('api_keys').selectAll().execute();
  const access = await db.selectFrom('access_tokens').selectAll().execute();
  const refresh = await db.selectFrom('refresh_tokens').selectAll().execute();
  const audit = await db.selectFrom('audit_events').selectAll().execute();
  const auditOf = (action: string, id: string) =>
    audit.filter((a) => a.action === action && a.connection_id === id);

  // SPEC §4: every connection is fully active or fully revoked, with an audit row for each change.
  for (const c of rows) {
    const ks = keys.filter((k) => k.connection_id === c.id);
    const ats = access.filter((t) => t.connection_id === c.id);
    const rts = refresh.filter((t) => t.connection_id === c.id);
    checks.ok(c.status === 'active' || c.status === 'revoked', `${c.id}: status ${c.status}`);
    checks.ok(
      ks.some((k) => k.id === c.current_api_key_id),
      `${c.id}: its current key exists`,
    );
    checks.equal(auditOf('connection.created', c.id).length, 1, `${c.id}: one connection.created row`);
    checks.equal(
      auditOf('connection.key_regenerated', c.id).length,
      ks.length - 1,
      `${c.id}: a key_regenerated row for each key after the first`,
    );
    if (c.status === 'active') {
      checks.ok(c.revoked_at === null && c.revoked_by === null, `${c.id}: active, so not marked revoked`);
      const live = ks.filter((k) => k.deactivated_at === null);
      checks.equal(live.length, 1, `${c.id}: active with exactly one live key`);
      checks.equal(live[0]?.id, c.current_api_key_id, `${c.id}: the live key is the current one`);
      checks.equal(rts.filter((t) => t.state === 'current').length, 1, `${c.id}: one current refresh token`);
      checks.ok(rts.filter((t) => t.state === 'grace').length <= 1, `${c.id}: at most one grace token`);
      checks.ok(!rts.some((t) => t.state === 'revoked'), `${c.id}: active, no revoked refresh token`);
      checks.equal(auditOf('connection.revoked', c.id).length, 0, `${c.id}: active, no revoked row`);
    } else {
      checks.ok(c.revoked_at !== null && c.revoked_by !== null, `${c.id}: revoked with a time and an actor`);
      checks.ok(
        ks.every((k) => k.deactivated_at !== null),
        `${c.id}: revoked, every key deactivated`,
      );
      checks.ok(
        ats.every((t) => t.revoked_at !== null),
        `${c.id}: revoked, every access token revoked`,
      );
      checks.ok(
        rts.every((t) => t.state === 'revoked'),
        `${c.id}: revoked, every refresh token revoked`,
      );
      checks.equal(auditOf('connection.revoked', c.id).length, 1, `${c.id}: one connection.revoked row`);
    }
  }

  // Nothing acknowledged is lost.
  const byId = new Map(rows.map((r) => [r.id, r]));
  for (const id of acks.created) checks.ok(byId.has(id), `acknowledged connection ${id} exists`);
  for (const id of acks.revoked)
    checks.equal(byId.get(id)?.status, 'revoked', `acknowledged revoke of ${id} holds`);
  for (const [id, prefix] of acks.regenerated) {
    checks.ok(
      keys.some((k) => k.connection_id === id && k.key_prefix === prefix),
      `acknowledged regeneration ${id} → ${prefix} exists`,
    );
    checks.ok(
      auditOf('connection.key_regenerated', id).some((a) => JSON.parse(a.detail).apiKeyPrefix === prefix),
      `acknowledged regeneration ${id} → ${prefix} is audited`,
    );
  }
  for (const [id, token] of acks.refreshed) {
    checks.ok(
      refresh.some((t) => t.connection_id === id && t.token_hash === sha256(token)),
      `acknowledged refresh of ${id} is stored`,
    );
  }

  // Over HTTP: no token or key of a revoked connection works; every active one does.
  for (const c of rows) {
    const model = conns.get(c.id);
    const derived = keys
      .filter((k) => k.connection_id === c.id)
      .map((k) => deriveApiKey(Buffer.from(SECRET, 'utf8'), 'wax_sk_', k.key_ref));
    if (c.status === 'revoked') {
      if (model) model.revokedAck = true;
      for (const t of model?.allAccess ?? [])
        checks.equal(await mcpStatus(base, t), 401, `${c.id}: revoked access token refused`);
      for (const k of derived) {
        checks.equal(await mcpStatus(base, k), 401, `${c.id}: revoked API key refused`);
        checks.equal(await introspectsActive(base, k), false, `${c.id}: revoked API key inactive`);
      }
      const last = model?.allRefresh.at(-1);
      if (last) {
        const r = await refreshGrant(base, clientId, last);
        checks.equal(r.body.error, 'invalid_grant', `${c.id}: revoked refresh token refused`);
      }
    } else if (model) {
      checks.equal(await mcpStatus(base, model.access), 200, `${c.id}: active, its access token works`);
      const current = keys.find((k) => k.id === c.current_api_key_id);
      const currentKey = deriveApiKey(Buffer.from(SECRET, 'utf8'), 'wax_sk_', current?.key_ref ?? '');
      checks.equal(
        await introspectsActive(base, currentKey),
        true,
        `${c.id}: active, its current API key too`,
      );
      // SPEC §9: an API key is never a bearer at /mcp.
      checks.equal(await mcpStatus(base, currentKey), 401, `${c.id}: its current API key is no bearer`);
      for (const k of derived.filter((d) => d !== currentKey))
        checks.equal(await introspectsActive(base, k), false, `${c.id}: a replaced API key is inactive`);
      const r = await refreshGrant(base, clientId, model.refresh);
      checks.equal(
        r.status,
        200,
        `${c.id}: active, the client's refresh token works (${JSON.stringify(r.body)})`,
      );
      model.access = r.body.access_token as string;
      model.refresh = r.body.refresh_token as string;
      model.allAccess.push(model.access);
      model.allRefresh.push(model.refresh);
    }
  }
}
