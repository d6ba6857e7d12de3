import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { apiKeyFor } from '../../src/services/api-keys.js';
import { listConnections, regenerateKey, revokeConnection } from '../../src/services/connections.js';
import {
  addUser,
  connectSdkClient,
  introspectsActive,
  mcpStatus,
  refreshGrant,
  TEST_INTROSPECTION_SECRET,
  TestOAuthProvider,
  whoami,
} from '../helpers/flow.js';
import { postgresSkip, startTestServer, type TestServer } from '../helpers/server.js';

async function currentKey(server: TestServer, connectionId: string): Promise<{ id: string; key: string }> {
  const row = await server.services.store.db
    .selectFrom('connections as c')
    .innerJoin('api_keys as k', 'k.id', 'c.current_api_key_id')
    .select(['k.id', 'k.key_ref'])
    .where('c.id', '=', connectionId)
    .executeTakeFirstOrThrow();
  return { id: row.id, key: apiKeyFor(server.services, row.key_ref) };
}

for (const kind of ['sqlite', 'postgres'] as const) {
  describe(`SPEC §4 connection lifecycle with the SDK client (${kind})`, async () => {
    const skip = kind === 'postgres' ? await postgresSkip() : false;
    let server: TestServer;
    before(async () => {
      if (skip) return;
      server = await startTestServer(kind, { env: { INTROSPECTION_SECRET: TEST_INTROSPECTION_SECRET } });
      await addUser(server, 'admin@example.com', 'admin');
    });
    after(async () => server?.stop());

    test('regenerate: the next call runs with the new key, the old key is inactive, the next refresh mints under the new key', {
      skip,
    }, async () => {
      const provider = new TestOAuthProvider(server, {
        email: 'admin@example.com',
        password: 'correct horse battery staple',
      });
      const client = await connectSdkClient(server, provider);
      const before = await whoami(client);
      const tokenBefore = provider.saved?.access_token;
      const codeBefore = provider.lastCode;
      const oldKey = await currentKey(server, before.connectionId as string);
      assert.equal(await introspectsActive(server.base, oldKey.key), true, 'the API key is active');
      assert.equal(
        await mcpStatus(server.base, oldKey.key, 'initialize'),
        401,
        'SPEC §9: the API key itself is never accepted as a bearer',
      );

      const view = await regenerateKey(server.services, before.connectionId as string, {
        label: 'admin@example.com',
      });
      assert.equal(view.status, 'active');
      assert.notEqual(view.apiKeyPrefix, before.apiKeyPrefix);

      const afterRegen = await whoami(client);
      assert.equal(afterRegen.apiKeyPrefix, view.apiKeyPrefix, 'whoami shows the new prefix at once');
      assert.equal(provider.saved?.access_token, tokenBefore, 'no new token was needed');
      assert.equal(provider.lastCode, codeBefore, 'no new authorization happened');
      assert.equal(await introspectsActive(server.base, oldKey.key), false, 'the old key is inactive');
      const newKey = await currentKey(server, before.connectionId as string);
      assert.equal(await introspectsActive(server.base, newKey.key), true, 'the new key is active');
      assert.equal(await mcpStatus(server.base, newKey.key, 'initialize'), 401, 'and no bearer either');

      const refreshed = await refreshGrant(
        server.base,
        provider.info?.client_id as string,
        provider.saved?.refresh_token as string,
      );
      assert.equal(refreshed.status, 200);
      const minted = await server.services.store.db
        .selectFrom('access_tokens')
        .select('api_key_id')
        .orderBy('created_at', 'desc')
        .where('connection_id', '=', before.connectionId as string)
        .executeTakeFirstOrThrow();
      assert.equal(minted.api_key_id, newKey.id, 'the refreshed access token is minted under the new key');
      assert.equal(await mcpStatus(server.base, refreshed.body.access_token as string, 'initialize'), 200);
      await client.close();
    });

    test('revoke: 401 on the next request, invalid_grant on refresh, a new flow makes a second connection', {
      skip,
    }, async () => {
      const provider = new TestOAuthProvider(
        server,
        { email: 'admin@example.com', password: 'correct horse battery staple' },
        'Laptop',
      );
      const client = await connectSdkClient(server, provider);
      const me = await whoami(client);
      const key = await currentKey(server, me.connectionId as string);
      const tokens = provider.saved;
      assert.ok(tokens?.refresh_token);
      const revoked = await revokeConnection(server.services, me.connectionId as string, {
        label: 'admin@example.com',
      });
      assert.equal(revoked.status, 'revoked');
      assert.equal(revoked.revokedBy, 'admin@example.com');
      assert.ok(revoked.revokedAt);

      assert.equal(
        await mcpStatus(server.base, tokens.access_token, 'initialize'),
        401,
        'the access token dies at once',
      );
      assert.equal(await introspectsActive(server.base, key.key), false, 'the API key dies at once');
      const refused = await refreshGrant(
        server.base,
        provider.info?.client_id as string,
        tokens.refresh_token,
      );
      assert.equal(refused.status, 400);
      assert.equal(refused.body.error, 'invalid_grant');

      const again = new TestOAuthProvider(
        server,
        { email: 'admin@example.com', password: 'correct horse battery staple' },
        'Laptop',
      );
      const client2 = await connectSdkClient(server, again);
      const me2 = await whoami(client2);
      assert.notEqual(me2.connectionId, me.connectionId);
      assert.notEqual(me2.apiKeyPrefix, me.apiKeyPrefix);
      const list = await listConnections(server.services, { limit: 100, q: 'laptop' });
      const statuses = Object.fromEntries(list.items.map((c) => [c.id, c.status]));
      assert.equal(statuses[me.connectionId as string], 'revoked', 'the revoked connection stays listed');
      assert.equal(statuses[me2.connectionId as string], 'active');
      await client.close().catch(() => undefined);
      await client2.close();
    });
  });
}
