/**
 * SPEC §12 maximum age: with CONNECTION_MAX_AGE_DAYS, a connection older than
 * that is revoked by Waxseal (`revokedBy` `Waxseal (expired)`), once, with one
 * audit row, whichever instances sweep; its client gets 401 and must
 * re-authorize. Off by default. Time is a TestClock; the SDK client is real.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';
import { DAY, HOUR, MINUTE } from '../../src/domain/clock.js';
import { getConnection } from '../../src/services/connections.js';
import { sweepExpiredConnections } from '../../src/services/sweep.js';
import {
  addUser,
  connectSdkClient,
  mcpStatus,
  refreshGrant,
  TestOAuthProvider,
  whoami,
} from '../helpers/flow.js';
import {
  createTestDatabase,
  postgresSkip,
  startTestServer,
  TestClock,
  type TestServer,
} from '../helpers/server.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The status /mcp answers on `server`, asked again until it is `want` or `withinMs` have passed. */
async function statusWithin(
  server: TestServer,
  token: string,
  want: number,
  withinMs: number,
): Promise<number> {
  const deadline = Date.now() + withinMs;
  for (;;) {
    const status = await mcpStatus(server.url, token);
    if (status === want || Date.now() > deadline) return status;
    await sleep(5);
  }
}

for (const kind of ['sqlite', 'postgres'] as const) {
  describe(`SPEC §12 maximum age (${kind})`, async () => {
    const skip = kind === 'postgres' ? await postgresSkip() : false;

    test(`an expired connection is revoked once by Waxseal${kind === 'postgres' ? ', with two instances sweeping' : ''}; its client must re-authorize; a young one is untouched`, {
      skip,
    }, async () => {
      const clock = new TestClock();
      const db = await createTestDatabase(kind);
      const env = { CONNECTION_MAX_AGE_DAYS: '1' };
      const a = await startTestServer(kind, { db, clock, env });
      // The second instance serves the same PUBLIC_URL: tokens are bound to that one resource.
      const servers =
        kind === 'postgres'
          ? [a, await startTestServer(kind, { db, clock, env: { ...env, PUBLIC_URL: a.base } })]
          : [a];
      try {
        const user = await addUser(a, 'admin@example.com', 'admin');
        const old = new TestOAuthProvider(a, user, 'Old laptop');
        const oldClient = await connectSdkClient(a, old);
        const oldId = (await whoami(oldClient)).connectionId as string;

        clock.advance(DAY - 30 * MINUTE);
        const young = new TestOAuthProvider(a, user, 'New laptop');
        const youngClient = await connectSdkClient(a, young);
        const youngId = (await whoami(youngClient)).connectionId as string;
        // The old connection's tokens are fresh when it expires: only its age can stop it.
        const refreshed = await refreshGrant(
          a.base,
          old.info?.client_id as string,
          old.saved?.refresh_token as string,
        );
        assert.equal(refreshed.status, 200);
        old.saveTokens({ ...old.saved, ...refreshed.body } as never);
        clock.advance(40 * MINUTE);
        for (const s of servers) assert.equal(await mcpStatus(s.url, old.saved?.access_token as string), 200);
        assert.ok((await whoami(oldClient)).connectionId, 'a day old, not yet swept: it still works');

        const counts = await Promise.all(servers.map((s) => sweepExpiredConnections(s.services)));
        assert.equal(
          counts.reduce((x, y) => x + y, 0),
          1,
          'revoked exactly once, whichever instance got there',
        );
        const expired = await getConnection(a.services, oldId);
        assert.equal(expired.status, 'revoked');
        assert.equal(expired.revokedBy, 'Waxseal (expired)');
        const rows = await a.services.store.db
          .selectFrom('audit_events')
          .selectAll()
          .where('connection_id', '=', oldId)
          .where('action', '=', 'connection.revoked')
          .execute();
        assert.equal(rows.length, 1, 'one audit row');
        assert.equal(rows[0]?.actor, 'Waxseal (expired)');

        // Every instance refuses it at once (SPEC §1: within 100 ms), and its refresh token is dead.
        for (const s of servers)
          assert.equal(await statusWithin(s, old.saved?.access_token as string, 401, 100), 401);
        const refused = await refreshGrant(
          a.base,
          old.info?.client_id as string,
          old.saved?.refresh_token as string,
        );
        assert.equal(refused.status, 400);
        assert.equal(refused.body.error, 'invalid_grant');
        // The SDK client, refused and unable to refresh, goes back through the authorization flow.
        const codeBefore = old.lastCode;
        await assert.rejects(whoami(oldClient), UnauthorizedError);
        assert.ok(old.lastCode && old.lastCode !== codeBefore, 'the client was sent to re-authorize');

        assert.equal(
          (await getConnection(a.services, youngId)).status,
          'active',
          'a young connection is untouched',
        );
        assert.equal((await whoami(youngClient)).connectionId, youngId);
        assert.deepEqual(
          await Promise.all(servers.map((s) => sweepExpiredConnections(s.services))),
          servers.map(() => 0),
          'a second sweep finds nothing',
        );
        await youngClient.close();
        await oldClient.close().catch(() => undefined);
      } finally {
        for (const s of servers) await s.stop();
        await db.drop();
      }
    });

    test('off by default: however old, a connection stays active', { skip }, async () => {
      const clock = new TestClock();
      const server = await startTestServer(kind, { clock });
      try {
        const user = await addUser(server, 'admin@example.com', 'admin');
        const provider = new TestOAuthProvider(server, user, 'Laptop');
        const client = await connectSdkClient(server, provider);
        const id = (await whoami(client)).connectionId as string;
        await client.close();
        clock.advance(3650 * DAY + HOUR);
        assert.equal(await sweepExpiredConnections(server.services), 0);
        assert.equal((await getConnection(server.services, id)).status, 'active');
      } finally {
        await server.stop();
      }
    });
  });
}
