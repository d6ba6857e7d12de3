import assert from 'node:assert/strict';
import { execFile, execFileSync, spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { apiKeyFor } from '../../src/services/api-keys.js';
import {
  Browser,
  connectSdkClient,
  introspectsActive,
  mcpStatus,
  TEST_INTROSPECTION_SECRET,
  TestOAuthProvider,
  whoami,
} from '../helpers/flow.js';
import {
  createTestDatabase,
  freePort,
  postgresSkip,
  startTestServer,
  type TestDatabase,
  type TestServer,
  testEnv,
} from '../helpers/server.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const MAIN = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
const CONNECTION_FIELDS = [
  'apiKeyPrefix',
  'clientName',
  'connectedAt',
  'id',
  'lastTokenAt',
  'lastUsedAt',
  'lastUsedIp',
  'revokedAt',
  'revokedBy',
  'status',
  'userEmail',
];

/**
 * Connection rows without the last-use fields (SPEC §12): written behind the
 * requests, they may land between two reads of rows nothing else changed.
 */
function settled(rows: Record<string, unknown>[]): Record<string, unknown>[] {
  return rows.map(({ lastUsedAt: _at, lastUsedIp: _ip, ...rest }) => rest);
}

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the real CLI as a child process: `node --import tsx src/cli/main.ts <args>`. */
function cli(env: Record<string, string>, ...args: string[]): Promise<Run> {
  return cliWithInput(env, '', ...args);
}

/** The same, with `input` on the child's stdin (a pipe, not a terminal). */
function cliWithInput(env: Record<string, string>, input: string, ...args: string[]): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      process.execPath,
      ['--import', 'tsx', MAIN, ...args],
      { cwd: ROOT, env: { PATH: process.env.PATH ?? '', ...env }, timeout: 180_000 },
      (err, stdout, stderr) => {
        if (err && typeof err.code !== 'number') return reject(err);
        resolve({ code: err ? (err.code as number) : 0, stdout, stderr });
      },
    );
    child.stdin?.end(input);
  });
}

/** Runs many CLI invocations, two at a time (each child compiles TypeScript; more would only contend for CPU). */
async function cliAll(env: Record<string, string>, argvs: string[][]): Promise<Run[]> {
  const runs: Run[] = new Array(argvs.length);
  let next = 0;
  const worker = async () => {
    while (next < argvs.length) {
      const i = next++;
      runs[i] = await cli(env, ...(argvs[i] as string[]));
    }
  };
  await Promise.all([worker(), worker()]);
  return runs;
}

/** Asserts each run failed with a one-line error matching its pattern. */
function allFail(cases: [string[], RegExp][], runs: Run[]): void {
  runs.forEach((run, i) => {
    const [args, pattern] = cases[i] as [string[], RegExp];
    fails(run, pattern, args.join(' '));
  });
}

function ok(run: Run, what: string): string {
  assert.equal(run.code, 0, `${what} exits 0 (stderr: ${run.stderr})`);
  assert.equal(run.stderr, '', `${what} writes nothing to stderr`);
  return run.stdout;
}

/** SPEC §1: bad input prints a clear one-line error on stderr and exits non-zero. */
function fails(run: Run, pattern: RegExp, what: string): void {
  assert.notEqual(run.code, 0, `${what} exits non-zero`);
  assert.equal(run.stdout, '', `${what} prints nothing on stdout`);
  const text = run.stderr.replace(/\n$/, '');
  assert.ok(text.length > 0, `${what} explains itself on stderr`);
  assert.ok(!text.includes('\n'), `${what} prints one line, got:\n${run.stderr}`);
  assert.match(text, /^waxseal: /, what);
  assert.match(text, pattern, what);
  assert.ok(!/\bat .+:\d+:\d+\)?$/m.test(run.stderr), `${what} prints no stack trace`);
}

const pgSkip = await postgresSkip();

describe('SPEC §1 waxseal migrate', () => {
  for (const kind of ['sqlite', 'postgres'] as const) {
    const skip = kind === 'postgres' ? pgSkip : false;
    test(`applies the schema to a fresh database, then reports it is up to date (${kind})`, {
      skip,
    }, async () => {
      const db = await createTestDatabase(kind);
      try {
        const env = testEnv(db, 3000);
        // Every migration, starting with the initial schema, is applied and named.
        assert.match(
          ok(await cli(env, 'migrate'), 'first migrate'),
          /^applied 0001_initial(, \d{4}_\w+)*\n$/,
        );
        assert.match(ok(await cli(env, 'migrate'), 'second migrate'), /^database is up to date\n$/);
        // The schema is there: the other commands work on it.
        assert.equal(ok(await cli(env, 'users', 'list'), 'users list'), '');
        assert.equal(ok(await cli(env, 'connections', 'list', '--json'), 'connections list').trim(), '[]');
      } finally {
        await db.drop();
      }
    });
  }
  test('a bad DATABASE_URL is a one-line error naming the variable', async () => {
    const db = await createTestDatabase('sqlite');
    try {
      fails(
        await cli(testEnv(db, 3000, { DATABASE_URL: 'mysql://localhost/x' }), 'migrate'),
        /DATABASE_URL/,
        'bad URL',
      );
    } finally {
      await db.drop();
    }
  });
});

for (const kind of ['sqlite', 'postgres'] as const) {
  describe(`SPEC §1 the waxseal CLI on a database a running server shares (${kind})`, () => {
    const skip = kind === 'postgres' ? pgSkip : false;
    let db: TestDatabase;
    let server: TestServer;
    let env: Record<string, string>;
    const sdk: { provider: TestOAuthProvider; client: Client; id: string }[] = [];

    const auditRows = (action: string) =>
      server.services.store.db
        .selectFrom('audit_events')
        .select(['actor', 'action', 'connection_id', 'detail'])
        .where('action', '=', action)
        .orderBy('id')
        .execute();
    const apiList = async () => {
      const b = new Browser(server.base);
      assert.equal((await b.signIn('owner@example.com', 'owner-password-1')).status, 303);
      const res = await b.fetch('/api/mcp-connections?limit=100');
      assert.equal(res.status, 200);
      return ((await res.json()) as { items: Record<string, unknown>[] }).items;
    };

    before(async () => {
      if (skip) return;
      db = await createTestDatabase(kind);
      server = await startTestServer(kind, { db, env: { INTROSPECTION_SECRET: TEST_INTROSPECTION_SECRET } });
      // The CLI reads the same configuration as the server: same DATABASE_URL and secret.
      env = testEnv(db, Number(new URL(server.base).port));
    });
    after(async () => {
      for (const c of sdk) await c.client.close().catch(() => undefined);
      await server?.stop();
      await db?.drop();
    });

    test('users add creates users who can sign in to the running server at once', { skip }, async () => {
      assert.equal(
        ok(
          await cli(
            env,
            'users',
            'add',
            '--email',
            'owner@example.com',
            '--password',
            'owner-password-1',
            '--role',
            'owner',
          ),
          'users add owner',
        ),
        'added owner@example.com as owner\n',
      );
      assert.equal(
        ok(
          await cli(
            env,
            'users',
            'add',
            '--email',
            'Alice@Example.COM',
            '--password',
            'alice-password-1',
            '--role',
            'admin',
          ),
          'users add alice',
        ),
        'added alice@example.com as admin\n',
      );
      const browser = new Browser(server.base);
      assert.equal((await browser.signIn('alice@example.com', 'alice-password-1')).status, 303);
      const me = (await (await browser.fetch('/api/me')).json()) as { email: string; role: string };
      assert.deepEqual([me.email, me.role], ['alice@example.com', 'admin']);
      const created = await auditRows('user.created');
      assert.deepEqual(
        created.map((r) => [r.actor, JSON.parse(r.detail).email]),
        [
          ['CLI', 'owner@example.com'],
          ['CLI', 'alice@example.com'],
        ],
      );
    });

    test('users list prints every user with their role', { skip }, async () => {
      const out = ok(await cli(env, 'users', 'list'), 'users list');
      const lines = out.trimEnd().split('\n');
      assert.equal(lines.length, 2);
      assert.match(
        lines.find((l) => l.startsWith('owner@example.com')) ?? '',
        /^owner@example\.com\s+owner$/,
      );
      assert.match(
        lines.find((l) => l.startsWith('alice@example.com')) ?? '',
        /^alice@example\.com\s+admin$/,
      );
    });

    test('users set-role changes the role; the running server honours it on the next request', {
      skip,
    }, async () => {
      const browser = new Browser(server.base);
      assert.equal((await browser.signIn('alice@example.com', 'alice-password-1')).status, 303);
      assert.equal((await browser.fetch('/api/mcp-connections')).status, 200);
      assert.equal(
        ok(
          await cli(env, 'users', 'set-role', '--email', 'alice@example.com', '--role', 'member'),
          'set-role',
        ),
        'alice@example.com is now member\n',
      );
      const me = (await (await browser.fetch('/api/me')).json()) as { role: string; permissions: string[] };
      assert.equal(me.role, 'member');
      assert.ok(!me.permissions.includes('api-keys:read'));
      assert.equal((await browser.fetch('/api/mcp-connections')).status, 403);
      ok(
        await cli(env, 'users', 'set-role', '--email', 'ALICE@example.com', '--role', 'admin'),
        'set-role back',
      );
      assert.equal((await browser.fetch('/api/mcp-connections')).status, 200);
      const changes = await auditRows('user.role_changed');
      assert.deepEqual(
        changes.map((r) => [r.actor, JSON.parse(r.detail).from, JSON.parse(r.detail).to]),
        [
          ['CLI', 'admin', 'member'],
          ['CLI', 'member', 'admin'],
        ],
      );
    });

    test('users commands refuse bad input with a one-line error and change nothing', { skip }, async () => {
      const usersBefore = ok(await cli(env, 'users', 'list'), 'users list');
      const auditBefore = await server.services.store.db.selectFrom('audit_events').selectAll().execute();
      // Input checks that never reach the database run on SQLite only (they are the same code on both).
      const cases: [string[], RegExp][] = [
        [
          [
            'users',
            'add',
            '--email',
            'ALICE@example.com',
            '--password',
            'other-password',
            '--role',
            'viewer',
          ],
          /already exists/,
        ],
        [['users', 'set-role', '--email', 'nobody@example.com', '--role', 'viewer'], /nobody@example\.com/],
        // The last owner cannot be demoted.
        [['users', 'set-role', '--email', 'owner@example.com', '--role', 'admin'], /owner/],
      ];
      if (kind === 'sqlite') {
        cases.push(
          [
            [
              'users',
              'add',
              '--email',
              'carol@example.com',
              '--password',
              'carol-password',
              '--role',
              'superuser',
            ],
            /role/,
          ],
          [
            ['users', 'add', '--email', 'not-an-email', '--password', 'carol-password', '--role', 'admin'],
            /email/,
          ],
          [['users', 'add', '--password', 'carol-password', '--role', 'admin'], /--email/],
          [['users', 'add', '--email', '', '--password', 'carol-password', '--role', 'admin'], /--email/],
          [['users', 'add', '--email', 'carol@example.com', '--role', 'admin'], /--password/],
          [['users', 'add', '--email', 'carol@example.com', '--password', 'carol-password'], /--role/],
          [
            ['users', 'add', '--email', 'carol@example.com', '--password', 'short', '--role', 'admin'],
            /password/,
          ],
          [
            [
              'users',
              'add',
              '--email',
              'carol@example.com',
              '--password',
              'carol-password',
              '--role',
              'admin',
              '--bogus',
            ],
            /bogus/,
          ],
          [['users', 'set-role', '--email', 'alice@example.com', '--role', 'root'], /role/],
          [['users', 'set-role', '--email', 'alice@example.com'], /--role/],
          [['users', 'set-role', '--role', 'viewer'], /--email/],
          [['users', 'frobnicate'], /frobnicate/],
          [['frobnicate'], /unknown command frobnicate/],
        );
      }
      allFail(
        cases,
        await cliAll(
          env,
          cases.map(([args]) => args),
        ),
      );
      assert.equal(
        ok(await cli(env, 'users', 'list'), 'users list'),
        usersBefore,
        'no user was added or changed',
      );
      assert.deepEqual(
        await server.services.store.db.selectFrom('audit_events').selectAll().execute(),
        auditBefore,
        'nothing was audited',
      );
    });

    test('connections list prints a table, --json prints the API view, --status filters', {
      skip,
    }, async () => {
      for (const name of ['Claude Desktop', 'Cursor', 'mcp-remote']) {
        const provider = new TestOAuthProvider(
          server,
          { email: 'alice@example.com', password: 'alice-password-1' },
          name,
        );
        const client = await connectSdkClient(server, provider);
        sdk.push({ provider, client, id: (await whoami(client)).connectionId as string });
      }
      const table = ok(await cli(env, 'connections', 'list'), 'connections list');
      const api = await apiList();
      assert.equal(api.length, 3);
      for (const c of api) {
        const line = table.split('\n').find((l) => l.includes(c.id as string));
        assert.ok(line, `a row for ${c.id}`);
        for (const field of [c.status, c.clientName, c.userEmail, c.apiKeyPrefix] as string[]) {
          assert.ok(line.includes(field), `row of ${c.id} shows ${field}`);
        }
      }
      const json = JSON.parse(ok(await cli(env, 'connections', 'list', '--json'), 'list --json')) as Record<
        string,
        unknown
      >[];
      assert.ok(Array.isArray(json));
      for (const c of json) assert.deepEqual(Object.keys(c).sort(), CONNECTION_FIELDS);
      assert.deepEqual(settled(json), settled(api), 'the CLI shows what the API shows, newest first');
      const active = JSON.parse(
        ok(await cli(env, 'connections', 'list', '--status', 'active', '--json'), 'active'),
      );
      assert.deepEqual(settled(active), settled(api));
      const revoked = JSON.parse(
        ok(await cli(env, 'connections', 'list', '--status', 'revoked', '--json'), 'revoked'),
      );
      assert.deepEqual(revoked, []);
    });

    test('connections revoke ID (actor CLI): the running server refuses the token on its very next request', {
      skip,
    }, async () => {
      const victim = sdk[0] as (typeof sdk)[number];
      const token = victim.provider.saved?.access_token as string;
      const refreshToken = victim.provider.saved?.refresh_token as string;
      assert.equal(
        await mcpStatus(server.base, token, 'initialize'),
        200,
        'the token works (and is cached) before',
      );
      const keyRow = await server.services.store.db
        .selectFrom('connections as c')
        .innerJoin('api_keys as k', 'k.id', 'c.current_api_key_id')
        .select('k.key_ref')
        .where('c.id', '=', victim.id)
        .executeTakeFirstOrThrow();
      const key = apiKeyFor(server.services, keyRow.key_ref);
      assert.equal(await introspectsActive(server.base, key), true, 'the API key is active before');

      const out = ok(await cli(env, 'connections', 'revoke', victim.id), 'revoke');
      assert.match(out, new RegExp(`^revoked ${victim.id}\\b.*\\n$`));
      // SPEC §1: honoured by the running server at once — no waiting.
      assert.equal(await mcpStatus(server.base, token, 'initialize'), 401);
      assert.equal(await introspectsActive(server.base, key), false);
      // SPEC §9: an API key is never a bearer at /mcp, before or after.
      assert.equal(await mcpStatus(server.base, key, 'initialize'), 401);
      const refresh = await fetch(new URL('/token', server.base), {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({
          grant_type: 'refresh_token',
          refresh_token: refreshToken,
          client_id: victim.provider.info?.client_id as string,
        }).toString(),
      });
      assert.equal(refresh.status, 400);
      assert.equal(((await refresh.json()) as { error: string }).error, 'invalid_grant');
      // The other connections are untouched.
      assert.equal((await whoami((sdk[1] as (typeof sdk)[number]).client)).connectionId, sdk[1]?.id);

      const listed = (await apiList()).find((c) => c.id === victim.id);
      assert.equal(listed?.status, 'revoked');
      assert.equal(listed?.revokedBy, 'CLI');
      const audit = (await auditRows('connection.revoked')).filter((r) => r.connection_id === victim.id);
      assert.deepEqual(
        audit.map((r) => r.actor),
        ['CLI'],
      );

      const revoked = JSON.parse(
        ok(await cli(env, 'connections', 'list', '--status', 'revoked', '--json'), 'revoked'),
      );
      assert.deepEqual(
        revoked.map((c: { id: string }) => c.id),
        [victim.id],
      );
      const active = JSON.parse(
        ok(await cli(env, 'connections', 'list', '--status', 'active', '--json'), 'active'),
      );
      assert.deepEqual(active.map((c: { id: string }) => c.id).sort(), [sdk[1]?.id, sdk[2]?.id].sort());
      const table = ok(await cli(env, 'connections', 'list', '--status', 'revoked'), 'revoked table');
      assert.ok(table.includes(victim.id) && !table.includes(sdk[1]?.id as string));

      fails(await cli(env, 'connections', 'revoke', victim.id), /already revoked/, 'revoke twice');
      fails(
        await cli(env, 'connections', 'regenerate-key', victim.id),
        /revoked/,
        'regenerate a revoked key',
      );
    });

    test('connections regenerate-key ID (actor CLI): whoami through the still-connected SDK client shows the new prefix', {
      skip,
    }, async () => {
      const live = sdk[1] as (typeof sdk)[number];
      const before = await whoami(live.client);
      const out = ok(await cli(env, 'connections', 'regenerate-key', live.id), 'regenerate-key');
      const m = /now (wax_sk_[0-9A-Za-z]+)/.exec(out);
      assert.ok(m, `the new prefix is printed: ${out}`);
      const prefix = m[1] as string;
      assert.notEqual(prefix, before.apiKeyPrefix);
      const after = await whoami(live.client);
      assert.equal(after.apiKeyPrefix, prefix);
      assert.equal(after.connectionId, live.id);
      const listed = (await apiList()).find((c) => c.id === live.id);
      assert.equal(listed?.status, 'active');
      assert.equal(listed?.apiKeyPrefix, prefix);
      const audit = (await auditRows('connection.key_regenerated')).filter(
        (r) => r.connection_id === live.id,
      );
      assert.deepEqual(
        audit.map((r) => r.actor),
        ['CLI'],
      );
    });

    test('connections commands refuse an unknown id and bad input with a one-line error', {
      skip,
    }, async () => {
      const before = await apiList();
      const cases: [string[], RegExp][] = [
        [['connections', 'revoke', 'does-not-exist'], /No connection with id does-not-exist/],
        [['connections', 'regenerate-key', 'does-not-exist'], /No connection with id does-not-exist/],
      ];
      if (kind === 'sqlite') {
        cases.push(
          [['connections', 'revoke'], /connection id/],
          [['connections', 'regenerate-key'], /connection id/],
          [['connections', 'revoke', 'a', 'b'], /connection id/],
          [['connections', 'list', '--status', 'bogus'], /--status/],
          [['connections', 'list', '--status'], /status/],
          [['connections', 'list', '--bogus'], /bogus/],
          [['connections', 'frobnicate'], /frobnicate/],
        );
      }
      allFail(
        cases,
        await cliAll(
          env,
          cases.map(([args]) => args),
        ),
      );
      assert.deepEqual(settled(await apiList()), settled(before), 'nothing changed');
    });

    test('the CLI acts as the operator, not as a user role: every change it makes is audited with actor CLI', {
      skip,
    }, async () => {
      // The CLI has database access, so it needs no session and no permission;
      // it is accountable instead: its changes carry actor 'CLI', never a user's email.
      const rows = await server.services.store.db
        .selectFrom('audit_events')
        .select(['actor', 'action'])
        .where('action', 'in', [
          'user.created',
          'user.role_changed',
          'connection.revoked',
          'connection.key_regenerated',
        ])
        .orderBy('id')
        .execute();
      assert.deepEqual(rows, [
        { actor: 'CLI', action: 'user.created' },
        { actor: 'CLI', action: 'user.created' },
        { actor: 'CLI', action: 'user.role_changed' },
        { actor: 'CLI', action: 'user.role_changed' },
        { actor: 'CLI', action: 'connection.revoked' },
        { actor: 'CLI', action: 'connection.key_regenerated' },
      ]);
    });

    test('users unlock lifts a sign-in lock-out on the running server', { skip }, async () => {
      ok(
        await cli(
          env,
          'users',
          'add',
          '--email',
          'locked@example.com',
          '--password',
          'locked-password-1',
          '--role',
          'viewer',
        ),
        'add',
      );
      for (let i = 0; i < 5; i++)
        await new Browser(server.base).signIn('locked@example.com', 'wrong password');
      assert.equal(
        (await new Browser(server.base).signIn('locked@example.com', 'locked-password-1')).status,
        429,
      );
      assert.equal(
        ok(await cli(env, 'users', 'unlock', '--email', 'Locked@Example.com'), 'unlock'),
        'lifted the lock-out of locked@example.com\n',
      );
      assert.equal(
        (await new Browser(server.base).signIn('locked@example.com', 'locked-password-1')).status,
        303,
      );
      const again = await cli(env, 'users', 'unlock', '--email', 'locked@example.com');
      assert.equal(again.stdout, 'locked@example.com was not locked out\n');
    });

    test('connections revoke --user, users disable and users enable (SPEC §10): honoured by the running server at once', {
      skip,
    }, async () => {
      const leaver = { email: 'leaver@example.com', password: 'leaver-password-1' };
      ok(
        await cli(
          env,
          'users',
          'add',
          '--email',
          leaver.email,
          '--password',
          leaver.password,
          '--role',
          'member',
        ),
        'add',
      );
      const connectAs = async () => {
        const provider = new TestOAuthProvider(server, leaver);
        const client = await connectSdkClient(server, provider);
        await client.close();
        return provider.saved?.access_token as string;
      };
      const [a, b] = [await connectAs(), await connectAs()];
      assert.equal(
        ok(await cli(env, 'connections', 'revoke', '--user', 'Leaver@Example.com'), 'revoke --user'),
        'revoked 2 connections of leaver@example.com\n',
      );
      assert.equal(await mcpStatus(server.base, a, 'initialize'), 401);
      assert.equal(await mcpStatus(server.base, b, 'initialize'), 401);

      const c = await connectAs();
      const dashboard = new Browser(server.base);
      assert.equal((await dashboard.signIn(leaver.email, leaver.password)).status, 303);
      assert.equal(
        ok(await cli(env, 'users', 'disable', '--email', leaver.email), 'disable'),
        'disabled leaver@example.com\n',
      );
      assert.equal(await mcpStatus(server.base, c, 'initialize'), 401, 'the running server refuses at once');
      assert.equal((await dashboard.fetch('/api/me')).status, 401, 'the session ended');
      assert.equal((await new Browser(server.base).signIn(leaver.email, leaver.password)).status, 401);
      const listed = JSON.parse(ok(await cli(env, 'users', 'list', '--json'), 'list')) as {
        email: string;
        status: string;
      }[];
      assert.equal(listed.find((u) => u.email === leaver.email)?.status, 'disabled');
      const revokedBy = (await apiList()).filter((x) => x.userEmail === leaver.email).map((x) => x.revokedBy);
      assert.deepEqual(revokedBy, ['CLI', 'CLI', 'CLI']);

      assert.equal(
        ok(await cli(env, 'users', 'enable', '--email', leaver.email), 'enable'),
        'enabled leaver@example.com\n',
      );
      assert.equal((await new Browser(server.base).signIn(leaver.email, leaver.password)).status, 303);
      assert.equal(await mcpStatus(server.base, c, 'initialize'), 401, 'revoked connections stay revoked');

      fails(await cli(env, 'connections', 'revoke'), /connection id or --user/, 'revoke with neither');
      fails(
        await cli(env, 'connections', 'revoke', 'x', '--user', leaver.email),
        /not both/,
        'revoke with both',
      );
      fails(
        await cli(env, 'users', 'disable', '--email', 'nobody@example.com'),
        /No user/,
        'disable unknown',
      );
      fails(
        await cli(env, 'users', 'disable', '--email', 'owner@example.com'),
        /last owner/,
        'disable last owner',
      );
    });
  });
}

/** Whether util-linux `script` is there to run a command on a pseudo-terminal. */
const scriptSkip = (() => {
  try {
    execFileSync('script', ['--version'], { stdio: 'ignore' });
    return false;
  } catch {
    return 'util-linux script(1) is not installed';
  }
})();

/** Runs the CLI with stdout on a pseudo-terminal, as a person at a terminal sees it. */
function cliOnTerminal(env: Record<string, string>, ...args: string[]): Promise<Run> {
  const quote = (a: string) => `'${a.replace(/'/g, `'\\''`)}'`;
  const command = [process.execPath, '--import', 'tsx', MAIN, ...args].map(quote).join(' ');
  return new Promise((resolve, reject) => {
    execFile(
      'script',
      ['-qec', `${command} </dev/null`, '/dev/null'],
      { cwd: ROOT, env: { PATH: process.env.PATH ?? '', ...env }, timeout: 180_000 },
      (err, stdout, stderr) => {
        if (err && typeof err.code !== 'number') return reject(err);
        resolve({ code: err ? (err.code as number) : 0, stdout: stdout.replace(/\r\n/g, '\n'), stderr });
      },
    );
  });
}

describe('issue 11 the CLI for a newcomer: help, version, exit codes, JSON, passwords off argv', () => {
  let server: TestServer;
  let env: Record<string, string>;
  before(async () => {
    server = await startTestServer('sqlite');
    env = testEnv(server.db, Number(new URL(server.base).port));
  });
  after(async () => server?.stop());

  test('--help works on every command and subcommand, exits 0 and does nothing else', async () => {
    const cases = [
      ['--help'],
      ['-h'],
      ['help'],
      ['help', 'users'],
      ['serve', '--help'],
      ['migrate', '--help'],
      ['users', '--help'],
      ['users', 'add', '--help'],
      ['users', 'list', '--help'],
      ['users', 'set-role', '--help'],
      ['users', 'enable-totp', '--help'],
      ['users', 'unlock', '--help'],
      ['connections', '--help'],
      ['connections', 'list', '--help'],
      ['connections', 'revoke', '--help'],
      ['connections', 'regenerate-key', '--help'],
      ['config', '--help'],
      ['config', 'check', '--help'],
      ['scim-token', '--help'],
      ['scim-token', 'create', '--help'],
      ['scim-token', 'list', '--help'],
      ['scim-token', 'revoke', '--help'],
    ];
    // A database that does not exist yet: --help must not create it (serve --help starts nothing).
    const fresh = join(server.db.dir, 'untouched', 'waxseal.db');
    const runs = await cliAll({ ...env, DATABASE_URL: `sqlite:${fresh}` }, cases);
    runs.forEach((run, i) => {
      const args = (cases[i] as string[]).join(' ');
      const out = ok(run, args);
      const name = (cases[i] as string[]).filter((a) => !a.startsWith('-') && a !== 'help');
      const usage = ['waxseal', ...(name.length ? name : [])].join(' ');
      assert.ok(out.startsWith(`Usage: ${usage} `), `${args} prints the usage of "${usage}":\n${out}`);
    });
    assert.ok(!existsSync(fresh), 'no database was opened');
    assert.match(ok(runs[7] as Run, 'users add --help'), /--password-stdin/);
    assert.match(
      ok(runs[0] as Run, '--help'),
      /Exit codes: 0 done, 1 the command failed, 2 the command line is wrong/,
    );
  });

  test('--version prints the version of package.json', async () => {
    const { version } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
    assert.equal(ok(await cli(env, '--version'), '--version'), `${version}\n`);
  });

  test('exit code 2 for a wrong command line, 1 for a command that ran and failed', async () => {
    const [usage, missing, failed] = await cliAll(env, [
      ['frobnicate'],
      ['connections', 'revoke'],
      ['connections', 'revoke', 'does-not-exist'],
    ]);
    fails(usage as Run, /unknown command frobnicate/, 'frobnicate');
    assert.equal(usage?.code, 2);
    assert.equal(missing?.code, 2);
    fails(failed as Run, /No connection with id does-not-exist/, 'unknown id');
    assert.equal(failed?.code, 1);
  });

  test('users add --password-stdin reads the password from stdin; without any password and no terminal it refuses', async () => {
    const added = await cliWithInput(
      env,
      'stdin-password-1\n',
      'users',
      'add',
      '--email',
      'stdin@example.com',
      '--password-stdin',
      '--role',
      'viewer',
    );
    assert.equal(ok(added, 'add --password-stdin'), 'added stdin@example.com as viewer\n');
    assert.equal(
      (await new Browser(server.base).signIn('stdin@example.com', 'stdin-password-1')).status,
      303,
    );
    const [none, both] = await cliAll(env, [
      ['users', 'add', '--email', 'nopw@example.com', '--role', 'viewer'],
      [
        'users',
        'add',
        '--email',
        'nopw@example.com',
        '--role',
        'viewer',
        '--password',
        'x'.repeat(9),
        '--password-stdin',
      ],
    ]);
    fails(none as Run, /--password or --password-stdin is required/, 'no password');
    assert.equal(none?.code, 2);
    fails(both as Run, /not both/, 'both');
  });

  test('users list --json prints every user; connections list --json an array', async () => {
    const users = JSON.parse(ok(await cli(env, 'users', 'list', '--json'), 'users list --json')) as Record<
      string,
      unknown
    >[];
    assert.deepEqual(
      users.map((u) => [u.email, u.role, u.totpEnabled, typeof u.createdAt]),
      [['stdin@example.com', 'viewer', false, 'string']],
    );
    assert.deepEqual(JSON.parse(ok(await cli(env, 'connections', 'list', '--json'), 'connections')), []);
  });

  test('on a terminal, lists get a header row; piped, plain TSV without one', {
    skip: scriptSkip,
  }, async () => {
    const users = await cliOnTerminal(env, 'users', 'list');
    assert.equal(users.code, 0, users.stdout);
    const [header, row] = users.stdout.trimEnd().split('\n');
    assert.match(header ?? '', /^EMAIL\s+ROLE\s+TOTP$/);
    assert.match(row ?? '', /^stdin@example\.com\s+viewer$/);
    const connections = await cliOnTerminal(env, 'connections', 'list');
    assert.match(connections.stdout, /^ID\s+STATUS\s+CLIENT\s+USER\s+API KEY\s+CONNECTED\n$/);
    assert.equal(ok(await cli(env, 'users', 'list'), 'piped'), 'stdin@example.com\tviewer\n');
  });

  test('config check prints what the environment and WAXSEAL_CONFIG configure, or the one-line error', async () => {
    const file = join(server.db.dir, 'waxseal.yaml');
    writeFileSync(file, 'upstreams:\n  github:\n    url: https://mcp.example.com/mcp\n');
    const plain = await cli(env, 'config', 'check');
    const withFile = await cli({ ...env, WAXSEAL_CONFIG: file }, 'config', 'check', '--json');
    const badPort = await cli({ ...env, PORT: 'eighty' }, 'config', 'check');
    const missingFile = await cli(
      { ...env, WAXSEAL_CONFIG: join(server.db.dir, 'nope.yaml') },
      'config',
      'check',
    );
    const postgres = await cli(
      { ...env, DATABASE_URL: 'postgres://waxseal:hunter2secret@db.internal/waxseal' },
      'config',
      'check',
    );
    const text = ok(plain, 'config check');
    assert.match(text, new RegExp(`^mcpUrl\\s+${server.base}/mcp$`, 'm'));
    assert.match(text, /^upstreams\s+none$/m);
    assert.match(text, /^the configuration is valid$/m);
    assert.match(text, /^auditStream\s+off$/m);
    assert.match(text, /^connectionMaxAge\s+off$/m);
    const streamed = await cli(
      {
        ...env,
        AUDIT_WEBHOOK_URL: 'https://siem.example.com/in?token=receiver-token',
        AUDIT_WEBHOOK_SECRET: 'audit-webhook-secret-0123456789abcdef',
        CONNECTION_MAX_AGE_DAYS: '90',
      },
      'config',
      'check',
    );
    const audited = ok(streamed, 'audit stream');
    assert.match(audited, /^auditStream\s+https:\/\/siem\.example\.com \(AUDIT_WEBHOOK_URL\)$/m);
    assert.match(audited, /^connectionMaxAge\s+90 days$/m);
    assert.doesNotMatch(
      audited,
      /receiver-token|audit-webhook-secret/,
      'neither the secret nor the URL query is printed',
    );
    const json = JSON.parse(ok(withFile, 'config check --json')) as Record<string, unknown>;
    assert.deepEqual(json.upstreams, ['github (https://mcp.example.com/mcp)']);
    assert.equal(json.publicUrl, server.base);
    fails(badPort, /PORT/, 'bad PORT');
    assert.equal(badPort.code, 1);
    fails(missingFile, /WAXSEAL_CONFIG/, 'missing WAXSEAL_CONFIG file');
    const pg = ok(postgres, 'postgres');
    assert.match(pg, /postgres:\/\/waxseal:\*\*\*@db\.internal\/waxseal/);
    assert.doesNotMatch(pg, /hunter2secret/, 'the database password is not printed');
  });
});

describe('issue 11 waxseal serve at a terminal', () => {
  test('prints one plain line with the setup URL on stderr; the JSON log line stays', {
    skip: scriptSkip,
  }, async () => {
    const db = await createTestDatabase('sqlite');
    const port = await freePort();
    const env = testEnv(db, port, { LOG_LEVEL: 'info' });
    const quote = (a: string) => `'${a.replace(/'/g, `'\\''`)}'`;
    const command = [process.execPath, '--import', 'tsx', MAIN, 'serve'].map(quote).join(' ');
    const child = spawn('script', ['-qec', `${command} </dev/null`, '/dev/null'], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    let out = '';
    child.stdout?.on('data', (d) => {
      out += String(d).replace(/\r/g, ''); // a terminal ends lines with CR LF
    });
    try {
      const deadline = Date.now() + 60_000;
      while (!/Waxseal is running at .*\n/.test(out)) {
        if (child.exitCode !== null) throw new Error(`serve exited: ${out}`);
        if (Date.now() > deadline) throw new Error(`serve did not start: ${out}`);
        await new Promise((r) => setTimeout(r, 100));
      }
      const base = env.PUBLIC_URL as string;
      const line = /Waxseal is running at .*/.exec(out)?.[0]?.trimEnd() ?? '';
      const m = new RegExp(
        `^Waxseal is running at ${base} — open (${base}/setup\\?token=\\S+) to create the first owner$`,
      ).exec(line);
      assert.ok(m, `the plain line: ${line}`);
      assert.match(
        out,
        /"msg":"No users yet. Create the first owner at http/,
        'the JSON log line is still there',
      );
      assert.equal((await fetch(m[1] as string)).status, 200, 'the printed setup URL works');
    } finally {
      if (child.pid && child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        process.kill(-child.pid, 'SIGTERM');
        await exited;
      }
      await db.drop();
    }
  });
});
