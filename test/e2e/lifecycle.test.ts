import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { apiKeyFor } from '../../src/services/api-keys.js';
import { listConnections, regenerateKey, revokeConnection } from '../../src/services/connections.js';
import { addUser, connectSdkClient, TestOAuthProvider, whoami } from '../helpers/flow.js';
import { postgresSkip, startTestServer, type TestServer } from '../helpers/server.js';

const INIT = {
  jsonrpc: '2.0',
  id: 1,
  method: 'initialize',
  params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw', version: '1' } },
};

async function mcpStatus(server: TestServer, bearer: string): Promise<number> {
  const res = await fetch(`${server.base}/mcp`, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${bearer}`,
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
    },
    body: JSON.stringify(INIT),
  });
  await res.arrayBuffer();
  return res.status;
}

async function refreshGrant(server: TestServer, clientId: string, refreshToken: string) {
  const res = await fetch(`${server.base}/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'refresh_token',
      refresh_token: refreshToken,
      client_id: clientId,
    }),
  });
  return { status: res.status, body: (await res.json()) as Record<string, string> };
}

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
      server = await startTestServer(kind);
      await addUser(server, 'admin@example.com', 'admin');
    });
    after(async () => server?.stop());

    test('regenerate: the next call runs with the new key, the old key is refused, the next refresh mints under the new key', {
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
      assert.equal(await mcpStatus(server, oldKey.key), 200, 'the API key itself is accepted as a bearer');

      const view = await regenerateKey(server.services, before.connectionId as string, {
        label: 'admin@example.com',
      });
      assert.equal(view.status, 'active');
      assert.notEqual(view.apiKeyPrefix, before.apiKeyPrefix);

      const afterRegen = await whoami(client);
      assert.equal(afterRegen.apiKeyPrefix, view.apiKeyPrefix, 'whoami shows the new prefix at once');
      assert.equal(provider.saved?.access_token, tokenBefore, 'no new token was needed');
      assert.equal(provider.lastCode, codeBefore, 'no new authorization happened');
      assert.equal(await mcpStatus(server, oldKey.key), 401, 'the old key is refused');
      const newKey = await currentKey(server, before.connectionId as string);
      assert.equal(await mcpStatus(server, newKey.key), 200, 'the new key works');

      const refreshed = await refreshGrant(
        server,
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
      assert.equal(await mcpStatus(server, refreshed.body.access_token as string), 200);
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

      assert.equal(await mcpStatus(server, tokens.access_token), 401, 'the access token dies at once');
      assert.equal(await mcpStatus(server, key.key), 401, 'the API key dies at once');
      const refused = await refreshGrant(server, provider.info?.client_id as string, tokens.refresh_token);
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
