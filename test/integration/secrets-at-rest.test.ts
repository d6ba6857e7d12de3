import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import SqliteDatabase from 'better-sqlite3';
import pg from 'pg';
import { sha256 } from '../../src/domain/secrets.js';
import { apiKeyFor } from '../../src/services/api-keys.js';
import { regenerateKey } from '../../src/services/connections.js';
import { createUser, enableTotp } from '../../src/services/users.js';
import { authorizeInBrowser, connectSdkClient, pkce, TestOAuthProvider, whoami } from '../helpers/flow.js';
import {
  createTestDatabase,
  postgresSkip,
  SECRET,
  startTestServer,
  type TestDatabase,
  type TestServer,
} from '../helpers/server.js';

/** Tables whose rows must exist for the scan to mean anything (SPEC §2: hashes only). */
const EXPECTED_TABLES = [
  'users',
  'oauth_clients',
  'browser_sessions',
  'authorization_codes',
  'connections',
  'api_keys',
  'access_tokens',
  'refresh_tokens',
  'audit_events',
];
const CONFIDENTIAL_REDIRECT = 'https://app.example.com/oauth/callback';

const unique = (label: string) => `${label}-${randomBytes(12).toString('base64url')}`;

/** Every row of every table, as text: the whole database as a thief would dump it. */
type Dump = Map<string, string[]>;

function dumpSqlite(path: string): Dump {
  const db = new SqliteDatabase(path, { readonly: true, fileMustExist: true });
  try {
    const tables = db
      .prepare("select name from sqlite_master where type = 'table' order by name")
      .pluck()
      .all() as string[];
    const dump: Dump = new Map();
    for (const t of tables) {
      const rows = db.prepare(`select * from "${t.replace(/"/g, '""')}"`).all() as Record<string, unknown>[];
      dump.set(
        t,
        rows.map((r) => JSON.stringify(r, (_k, v) => (Buffer.isBuffer(v) ? v.toString('latin1') : v))),
      );
    }
    return dump;
  } finally {
    db.close();
  }
}

async function dumpPostgres(url: string): Promise<Dump> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows: tables } = await client.query<{ table_name: string }>(
      "select table_name from information_schema.tables where table_schema = current_schema() and table_type = 'BASE TABLE' order by table_name",
    );
    const dump: Dump = new Map();
    for (const { table_name } of tables) {
      const { rows } = await client.query(`select * from "${table_name.replace(/"/g, '""')}"`);
      dump.set(
        table_name,
        rows.map((r) => JSON.stringify(r, (_k, v) => (Buffer.isBuffer(v) ? v.toString('latin1') : v))),
      );
    }
    return dump;
  } finally {
    await client.end();
  }
}

/** The forms a leaked secret could take in storage: as is, and without its recognisable prefix. */
function needles(secret: string): string[] {
  const out = [secret];
  const m = /^(wax_[a-z]{2}_)(.+)$/.exec(secret);
  if (m) out.push(m[2] as string);
  return out;
}

function assertNotInDump(dump: Dump, secrets: Record<string, string[]>): void {
  for (const [table, rows] of dump) {
    for (const row of rows) {
      for (const [what, values] of Object.entries(secrets)) {
        for (const value of values) {
          for (const needle of needles(value)) {
            assert.ok(
              !row.includes(needle),
              `${what} is stored in clear in table ${table}: ${row.slice(0, 300)}`,
            );
          }
        }
      }
    }
  }
}

function assertNotInFile(path: string, secrets: Record<string, string[]>): void {
  if (!existsSync(path)) return;
  const bytes = readFileSync(path);
  for (const [what, values] of Object.entries(secrets)) {
    for (const value of values) {
      for (const needle of needles(value)) {
        assert.equal(
          bytes.indexOf(Buffer.from(needle, 'utf8')),
          -1,
          `${what} is in the raw bytes of ${path}`,
        );
      }
    }
  }
}

const contains = (dump: Dump, table: string, text: string) =>
  (dump.get(table) ?? []).some((r) => r.includes(text));

for (const kind of ['sqlite', 'postgres'] as const) {
  describe(`SPEC §2 secrets at rest: only hashes are stored (${kind})`, async () => {
    const skip = kind === 'postgres' ? await postgresSkip() : false;
    let db: TestDatabase;
    let server: TestServer;
    let sdkClient: Client | undefined;
    const adminPassword = unique('first-owner-password');
    const userPassword = unique('user-password');
    /** Everything secret the flow handled, by what it is. */
    const secrets: Record<string, string[]> = {
      'an access token': [],
      'a refresh token': [],
      'an API key': [],
      'a client secret': [],
      'a password': [adminPassword, userPassword],
      'an authorization code': [],
      'a browser session id': [],
      'a TOTP seed': [],
      'the server secret': [SECRET],
    };
    /** What must be stored instead: the SHA-256 of each token, by table. */
    const hashes: [string, string][] = [];

    const postToken = async (form: Record<string, string>, basic?: [string, string]) => {
      const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded' };
      if (basic) {
        headers.authorization = `Basic ${Buffer.from(`${encodeURIComponent(basic[0])}:${encodeURIComponent(basic[1])}`).toString('base64')}`;
      }
      const res = await fetch(new URL('/token', server.base), {
        method: 'POST',
        headers,
        body: new URLSearchParams(form).toString(),
      });
      const body = (await res.json()) as Record<string, string>;
      assert.equal(res.status, 200, JSON.stringify(body));
      return body as { access_token: string; refresh_token: string };
    };
    const keepTokens = (t: { access_token: string; refresh_token: string }) => {
      secrets['an access token']?.push(t.access_token);
      secrets['a refresh token']?.push(t.refresh_token);
      hashes.push(['access_tokens', sha256(t.access_token)], ['refresh_tokens', sha256(t.refresh_token)]);
    };

    before(async () => {
      if (skip) return;
      db = await createTestDatabase(kind);
      server = await startTestServer(kind, {
        db,
        env: { WAXSEAL_ADMIN_EMAIL: 'root@example.com', WAXSEAL_ADMIN_PASSWORD: adminPassword },
      });
      const user = { email: 'dana@example.com', password: userPassword };
      await createUser(server.services, { ...user, role: 'admin' }, 'test');
      const totpUri = await enableTotp(server.services, 'root@example.com');
      secrets['a TOTP seed']?.push(new URL(totpUri).searchParams.get('secret') as string);

      // 1. The official SDK client: discovery, registration, sign-in, consent, code exchange.
      const provider = new TestOAuthProvider(server, user, 'Secrets SDK Client');
      sdkClient = await connectSdkClient(server, provider);
      const me = await whoami(sdkClient);
      assert.ok(provider.saved && provider.lastCode && provider.info);
      keepTokens(provider.saved as { access_token: string; refresh_token: string });
      secrets['an authorization code']?.push(provider.lastCode);
      hashes.push(['authorization_codes', sha256(provider.lastCode)]);
      secrets['a browser session id']?.push(provider.browser.jar.get('waxseal_session') as string);

      // 2. A refresh by hand (POST /token grant_type=refresh_token): rotation issues a new pair.
      const refreshed = await postToken({
        grant_type: 'refresh_token',
        refresh_token: provider.saved.refresh_token as string,
        client_id: provider.info.client_id,
      });
      keepTokens(refreshed);

      // 3. A confidential client with a secret, through a whole flow and a refresh.
      const reg = await fetch(new URL('/register', server.base), {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          redirect_uris: [CONFIDENTIAL_REDIRECT],
          client_name: 'Confidential Web App',
          token_endpoint_auth_method: 'client_secret_basic',
        }),
      });
      assert.equal(reg.status, 201);
      const registered = (await reg.json()) as { client_id: string; client_secret: string };
      assert.ok(registered.client_secret, 'a confidential client gets a secret');
      secrets['a client secret']?.push(registered.client_secret);
      hashes.push(['oauth_clients', sha256(registered.client_secret)]);
      const { verifier, challenge } = pkce();
      const url = new URL('/authorize', server.base);
      url.search = new URLSearchParams({
        response_type: 'code',
        client_id: registered.client_id,
        redirect_uri: CONFIDENTIAL_REDIRECT,
        code_challenge: challenge,
        code_challenge_method: 'S256',
        state: 'st',
      }).toString();
      const back = await authorizeInBrowser(provider.browser, url.href, user);
      const code = back.searchParams.get('code') as string;
      secrets['an authorization code']?.push(code);
      const credentials: [string, string] = [registered.client_id, registered.client_secret];
      const confidential = await postToken(
        {
          grant_type: 'authorization_code',
          code,
          code_verifier: verifier,
          redirect_uri: CONFIDENTIAL_REDIRECT,
        },
        credentials,
      );
      keepTokens(confidential);
      keepTokens(
        await postToken(
          { grant_type: 'refresh_token', refresh_token: confidential.refresh_token },
          credentials,
        ),
      );

      // 4. A regenerated key, so a replaced key is in the database too.
      await regenerateKey(server.services, me.connectionId as string, { label: 'test' });
      assert.notEqual((await whoami(sdkClient)).apiKeyPrefix, me.apiKeyPrefix);

      // Every API key that ever existed, re-derived on the running server (never stored).
      const keys = await server.services.store.db
        .selectFrom('api_keys')
        .select(['key_ref', 'key_hash'])
        .execute();
      assert.equal(keys.length, 3, 'two connections, one of them with a regenerated key');
      for (const k of keys) {
        const key = apiKeyFor(server.services, k.key_ref);
        assert.equal(sha256(key), k.key_hash, 'the derived key is the stored key');
        secrets['an API key']?.push(key);
      }
      for (const [what, values] of Object.entries(secrets)) {
        assert.ok(values.length > 0 && values.every((v) => typeof v === 'string' && v.length >= 16), what);
      }
    });
    after(async () => {
      await sdkClient?.close();
      await server?.stop();
      await db?.drop();
    });

    test('no table holds a token, key, client secret, password, code, session id or seed in clear', {
      skip,
    }, async () => {
      const dump =
        kind === 'sqlite' ? dumpSqlite(db.url.slice('sqlite:'.length)) : await dumpPostgres(db.url);
      for (const t of EXPECTED_TABLES) assert.ok((dump.get(t)?.length ?? 0) > 0, `table ${t} has rows`);
      // The scan reads what is really stored: each token's hash is there...
      for (const [table, hash] of hashes)
        assert.ok(contains(dump, table, hash), `${table} stores the hash ${hash}`);
      // ...and passwords are a memory-hard hash.
      for (const row of dump.get('users') ?? []) assert.match(row, /"password_hash":"(scrypt|\$argon2)/);
      assertNotInDump(dump, secrets);
    });

    if (kind === 'sqlite') {
      test('the raw bytes of the SQLite file and its WAL hold none of them either', { skip }, async () => {
        const path = db.url.slice('sqlite:'.length);
        assert.ok(existsSync(path));
        for (const file of [path, `${path}-wal`, `${path}-shm`]) assertNotInFile(file, secrets);
        // Once the server has closed (checkpointing the WAL into the file), still nothing.
        await sdkClient?.close();
        sdkClient = undefined;
        await server.stop();
        for (const file of [path, `${path}-wal`, `${path}-shm`]) assertNotInFile(file, secrets);
        assertNotInDump(dumpSqlite(path), secrets);
      });
    }
  });
}
