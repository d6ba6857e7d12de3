/**
 * SPEC §13 audit stream: every audit event is POSTed to AUDIT_WEBHOOK_URL from a
 * durable outbox, signed, at least once with a stable id, in order per
 * connection. Real `waxseal serve` processes and a real receiver process; the
 * audit log in the database is the reference every delivery is checked against.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import type { AuditEventBody } from '../../src/services/audit-outbox.js';
import { openStore, type Store } from '../../src/store/db.js';
import { Browser, hiddenField, PASSWORD, pkce } from '../helpers/flow.js';
import { type Balancer, type Instance, startBalancer, startInstance } from '../helpers/processes.js';
import { createTestDatabase, freePort, postgresSkip, SECRET, type TestDatabase } from '../helpers/server.js';
import { type Received, signatureValid, WebhookReceiver } from '../helpers/webhook.js';

const HOOK_SECRET = 'audit-webhook-secret-0123456789abcdef';
const REDIRECT = 'http://127.0.0.1:8976/callback';
const sha256 = (v: string) => createHash('sha256').update(v).digest('hex');
const ROOT = new URL('../..', import.meta.url).pathname;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Rig {
  db: TestDatabase;
  store: Store;
  balancer: Balancer;
  receiver: WebhookReceiver;
  env: Record<string, string>;
  close(instances: Instance[]): Promise<void>;
}

async function rig(kind: 'sqlite' | 'postgres'): Promise<Rig> {
  const db = await createTestDatabase(kind);
  const balancer = await startBalancer();
  const receiver = new WebhookReceiver(await freePort(), join(db.dir, 'received.jsonl'));
  const store = openStore(db.url);
  const env = {
    DATABASE_URL: db.url,
    PUBLIC_URL: balancer.url,
    WAXSEAL_SECRET: SECRET,
    WAXSEAL_ADMIN_EMAIL: 'ops@example.com',
    WAXSEAL_ADMIN_PASSWORD: PASSWORD,
    TOKEN_LIMIT_PER_MINUTE: '1000000',
    AUTHORIZE_LIMIT_PER_MINUTE: '1000000',
    SIGNIN_IP_MAX_FAILURES: '100000',
    AUDIT_WEBHOOK_URL: receiver.url,
    AUDIT_WEBHOOK_SECRET: HOOK_SECRET,
    LOG_LEVEL: 'warn',
  };
  return {
    db,
    store,
    balancer,
    receiver,
    env,
    close: async (instances) => {
      for (const i of instances) await i.kill('SIGKILL');
      await receiver.stop();
      await balancer.close();
      await store.close();
      await db.drop();
    },
  };
}

/** The admin's side: a signed-in dashboard session, a registered client, connections made and changed. */
class Admin {
  readonly browser: Browser;
  clientId = '';
  constructor(readonly base: string) {
    this.browser = new Browser(base);
  }

  async start(): Promise<void> {
    assert.equal((await this.browser.signIn('ops@example.com', PASSWORD)).status, 303);
    const res = await fetch(`${this.base}/register`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        redirect_uris: [REDIRECT],
        token_endpoint_auth_method: 'none',
        client_name: 'Stream',
      }),
    });
    this.clientId = ((await res.json()) as { client_id: string }).client_id;
  }

  /** One whole OAuth flow: a new connection; its id as the database knows it. */
  async connect(store: Store): Promise<string> {
    const { verifier, challenge } = pkce();
    const url = new URL('/authorize', this.base);
    for (const [k, v] of Object.entries({
      response_type: 'code',
      client_id: this.clientId,
      redirect_uri: REDIRECT,
      code_challenge: challenge,
      code_challenge_method: 'S256',
    }))
      url.searchParams.set(k, v);
    const page = await this.browser.fetch(url.href);
    assert.equal(page.status, 200);
    const html = await page.text();
    const decided = await this.browser.postForm('/authorize/decision', {
      request: hiddenField(html, 'request'),
      csrf: hiddenField(html, 'csrf'),
      decision: 'allow',
    });
    const code = new URL(decided.headers.get('location') as string).searchParams.get('code') as string;
    const res = await fetch(`${this.base}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'authorization_code',
        code,
        code_verifier: verifier,
        client_id: this.clientId,
        redirect_uri: REDIRECT,
      }),
    });
    assert.equal(res.status, 200);
    const tokens = (await res.json()) as { access_token: string };
    const row = await store.db
      .selectFrom('access_tokens')
      .select('connection_id')
      .where('token_hash', '=', sha256(tokens.access_token))
      .executeTakeFirstOrThrow();
    return row.connection_id;
  }

  async act(id: string, action: 'regenerate-key' | 'revoke'): Promise<number> {
    const res = await this.browser.fetch(`/api/mcp-connections/${id}/${action}`, {
      method: 'POST',
      headers: { origin: this.base },
    });
    await res.arrayBuffer();
    return res.status;
  }
}

/** A failed sign-in for an address nobody has: one `user.signin_failed` event in that address's stream. */
async function failedSignin(base: string, email: string): Promise<void> {
  const res = await new Browser(base).signIn(email, 'wrong password');
  await res.arrayBuffer();
}

async function metric(base: string, name: string): Promise<number> {
  const text = await (await fetch(`${base}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  assert.ok(line, `/metrics shows ${name}`);
  return Number(line.split(' ')[1]);
}

async function auditRows(store: Store) {
  return store.db.selectFrom('audit_events').selectAll().orderBy('id').execute();
}

/** Waits until the receiver holds an event for every audit row; returns how long that took. */
async function allDelivered(r: Rig, timeoutMs: number): Promise<number> {
  const started = Date.now();
  for (;;) {
    const rows = await auditRows(r.store);
    const got = new Set(r.receiver.received().map((x) => (JSON.parse(x.body) as AuditEventBody).auditId));
    const missing = rows.filter((row) => !got.has(Number(row.id)));
    if (missing.length === 0) return Date.now() - started;
    if (Date.now() - started > timeoutMs) {
      assert.fail(
        `${missing.length} of ${rows.length} audit events never arrived, e.g. ${missing[0]?.action}`,
      );
    }
    await sleep(100);
  }
}

/**
 * What every receiver may rely on, checked against the audit log: each row
 * arrived; every request is signed; a repeated id is the same event, byte for
 * byte; within a stream (a connection, or a user) events first arrive in the
 * audit log's order. Returns the number of duplicates.
 */
async function checkDeliveries(r: Rig): Promise<{ events: number; duplicates: number }> {
  const rows = await auditRows(r.store);
  for (const x of r.receiver.requests()) {
    assert.ok(signatureValid(HOOK_SECRET, x), 'X-Waxseal-Signature is the HMAC-SHA256 of the exact body');
  }
  const received: Received[] = r.receiver.received();
  const byId = new Map<string, string>();
  const byAuditId = new Map<number, AuditEventBody>();
  const firstArrival: AuditEventBody[] = [];
  let duplicates = 0;
  for (const x of received) {
    assert.equal(x.method, 'POST');
    assert.match(x.headers['content-type'] ?? '', /^application\/json/);
    assert.ok(signatureValid(HOOK_SECRET, x), 'X-Waxseal-Signature is the HMAC-SHA256 of the exact body');
    const event = JSON.parse(x.body) as AuditEventBody;
    assert.equal(x.headers['x-waxseal-event-id'], event.id);
    const seen = byId.get(event.id);
    if (seen !== undefined) {
      assert.equal(x.body, seen, 'a repeated id is the very same event');
      duplicates++;
      continue;
    }
    byId.set(event.id, x.body);
    assert.equal(byAuditId.has(event.auditId), false, 'one audit row has one id, whatever the retries');
    byAuditId.set(event.auditId, event);
    firstArrival.push(event);
  }
  for (const row of rows) {
    const e = byAuditId.get(Number(row.id));
    assert.ok(e, `audit row ${row.id} (${row.action}) arrived`);
    assert.equal(e.type, row.action);
    assert.equal(e.actor, row.actor);
    assert.equal(e.connectionId, row.connection_id);
    assert.equal(e.at, new Date(Number(row.at)).toISOString());
    assert.deepEqual(e.detail, JSON.parse(row.detail));
    if (row.connection_id) {
      assert.equal(e.user, 'ops@example.com');
      assert.equal(e.client?.name, 'Stream');
    }
  }
  const last = new Map<string, number>();
  for (const e of firstArrival) {
    const stream = e.connectionId ? `connection:${e.connectionId}` : `user:${e.user}`;
    const before = last.get(stream) ?? 0;
    assert.ok(e.auditId > before, `${stream}: event ${e.auditId} (${e.type}) arrived after ${before}`);
    last.set(stream, e.auditId);
  }
  return { events: rows.length, duplicates };
}

async function untilMetric(base: string, name: string, ok: (v: number) => boolean): Promise<number> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const v = await metric(base, name);
    if (ok(v) || Date.now() > deadline) return v;
    await sleep(100);
  }
}

for (const kind of ['sqlite', 'postgres'] as const) {
  describe(`SPEC §13 audit stream (${kind})`, async () => {
    const skip = kind === 'postgres' ? await postgresSkip() : false;

    test('a receiver down for a while, then a SIGKILL mid-burst: every event arrives, signed, in order per connection', {
      skip,
    }, async (t) => {
      const r = await rig(kind);
      let instance = await startInstance(r.env);
      r.balancer.targets.push(instance.port);
      try {
        const admin = new Admin(r.balancer.url);
        await admin.start();
        const ids: string[] = [];
        for (let i = 0; i < 3; i++) ids.push(await admin.connect(r.store));
        for (const id of ids)
          for (let i = 0; i < 3; i++) assert.equal(await admin.act(id, 'regenerate-key'), 200);
        for (let i = 0; i < 5; i++) await failedSignin(r.balancer.url, `nobody${i}@example.com`);

        // The receiver is down: everything waits in the outbox, and /metrics says so.
        assert.ok(
          (await metric(instance.url, 'waxseal_audit_outbox_depth')) > 0,
          'depth > 0 while the receiver is down',
        );
        await sleep(1100);
        assert.ok((await metric(instance.url, 'waxseal_audit_outbox_oldest_age_seconds')) >= 1);

        // A burst of regenerations on every connection at once; SIGKILL after 30 answers.
        let acked = 0;
        let killed = false;
        const refusedBeforeKill: number[] = [];
        await Promise.all(
          ids.map(async (id) => {
            while (!killed) {
              const status = await admin.act(id, 'regenerate-key').catch(() => 0);
              if (status !== 200) {
                if (!killed) refusedBeforeKill.push(status);
                return;
              }
              if (++acked === 30) {
                killed = true;
                await instance.kill('SIGKILL');
              }
            }
          }),
        );
        assert.deepEqual(refusedBeforeKill, [], 'every regeneration before the kill succeeded');
        assert.ok(killed);
        // Each failed attempt is a warning naming the event, never the secret or where it was going.
        const log = instance.output();
        assert.match(log, /audit webhook delivery failed, will retry/);
        assert.match(log, /"error":"ECONNREFUSED"/);
        assert.ok(!log.includes(HOOK_SECRET) && !log.includes(r.receiver.url), 'no secret or URL in the log');
        instance = await startInstance(r.env);
        r.balancer.targets[0] = instance.port;
        assert.equal(await admin.act(ids[0] as string, 'revoke'), 200);
        assert.ok((await metric(instance.url, 'waxseal_audit_outbox_depth')) > 0);

        // Back, but answering 503 to its first requests: those are retried like a refused connection.
        await r.receiver.start(3);
        const up = Date.now();
        const delay = await allDelivered(r, 60_000);
        const { events, duplicates } = await checkDeliveries(r);
        assert.equal(r.receiver.requests().filter((x) => x.status === 503).length, 3);
        assert.match(instance.output(), /"status":503/, 'a non-2xx answer is a logged, retried failure');
        const times = r.receiver.received().map((x) => x.at);
        const drain = Math.max(1, Math.max(...times) - Math.min(...times));
        assert.equal(await untilMetric(instance.url, 'waxseal_audit_outbox_depth', (v) => v === 0), 0);
        assert.equal(await metric(instance.url, 'waxseal_audit_outbox_oldest_age_seconds'), 0);
        // SIGTERM: the worker stops with the server, which exits cleanly.
        await instance.kill('SIGTERM');
        assert.equal(instance.child.exitCode, 0, instance.output().slice(-2000));
        t.diagnostic(
          `${events} events; first delivered ${Math.min(...times) - up} ms and all ${delay} ms after the receiver came back (back-off), then ${Math.round((times.length * 1000) / drain)} events/s; ${duplicates} duplicates (same id)`,
        );
      } finally {
        await r.close([instance]);
      }
    });

    test('two instances share the outbox: each event once, order per connection across instances', {
      skip: kind === 'sqlite' ? 'several instances need PostgreSQL' : skip,
    }, async (t) => {
      const r = await rig(kind);
      await r.receiver.start();
      const instances = [await startInstance(r.env), await startInstance(r.env)];
      r.balancer.targets.push(...instances.map((i) => i.port));
      try {
        const admin = new Admin(r.balancer.url);
        await admin.start();
        const ids: string[] = [];
        for (let i = 0; i < 4; i++) ids.push(await admin.connect(r.store));
        await allDelivered(r, 20_000);
        const before = r.receiver.received().length;
        const started = Date.now();
        // Round-robin: one connection's regenerations alternate between the two instances.
        await Promise.all([
          ...ids.map(async (id) => {
            for (let i = 0; i < 10; i++) assert.equal(await admin.act(id, 'regenerate-key'), 200);
          }),
          (async () => {
            for (let i = 0; i < 10; i++) await failedSignin(r.balancer.url, `stranger${i}@example.com`);
          })(),
        ]);
        const burst = Date.now() - started;
        // The CLI has no worker of its own: its audit rows reach the outbox, and a server sends them.
        const cli = spawnSync(
          process.execPath,
          ['--import', 'tsx', 'src/cli/main.ts', 'connections', 'revoke', ids[0] as string],
          {
            cwd: ROOT,
            env: { PATH: process.env.PATH ?? '', ...r.env, LOG_LEVEL: 'silent' },
            encoding: 'utf8',
          },
        );
        assert.equal(cli.status, 0, cli.stderr);
        const tail = await allDelivered(r, 20_000);
        const { events, duplicates } = await checkDeliveries(r);
        assert.equal(duplicates, 0, 'no event delivered twice while both instances run');
        const fromCli = r.receiver
          .received()
          .map((x) => JSON.parse(x.body) as AuditEventBody)
          .filter((e) => e.type === 'connection.revoked' && e.connectionId === ids[0]);
        assert.deepEqual(
          fromCli.map((e) => e.actor),
          ['CLI'],
        );
        for (const i of instances) {
          assert.equal(await untilMetric(i.url, 'waxseal_audit_outbox_depth', (v) => v === 0), 0);
        }
        const sent = r.receiver.received().length - before;
        t.diagnostic(
          `${events} events in all; ${sent} written through both instances in ${burst} ms and the CLI; the last (the CLI's, found by a poll) delivered ${tail} ms after the CLI exited`,
        );
      } finally {
        await r.close(instances);
      }
    });
  });
}
