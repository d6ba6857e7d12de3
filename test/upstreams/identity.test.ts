import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { regenerateKey, revokeConnection } from '../../src/services/connections.js';
import { type TestOAuthProvider, whoami } from '../helpers/flow.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import {
  INTROSPECTION_SECRET,
  type RecordingUpstream,
  signIn,
  startRecordingUpstream,
  text,
  writeUpstreamsFile,
} from './helpers.js';

async function introspect(
  server: TestServer,
  token: string,
  auth = `Bearer ${INTROSPECTION_SECRET}`,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${server.base}/introspect`, {
    method: 'POST',
    headers: { authorization: auth, 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(token ? { token } : {}).toString(),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

const keysSeen = (upstream: RecordingUpstream) =>
  upstream.seen.map((r) => r.authorization?.replace(/^Bearer /, '')).filter((k) => k !== undefined);

describe('SPEC §9 identity upstream: UPSTREAM_MCP_URL receives the connection API key, never the OAuth token', () => {
  let upstream: RecordingUpstream;
  let server: TestServer;
  let client: Client;
  let provider: TestOAuthProvider;

  before(async () => {
    upstream = await startRecordingUpstream({
      label: 'rec',
      waxseal: () => server.base,
      introspectionSecret: INTROSPECTION_SECRET,
    });
    server = await startTestServer('sqlite', {
      env: { UPSTREAM_MCP_URL: upstream.url, INTROSPECTION_SECRET },
    });
    ({ client, provider } = await signIn(server, 'grace@example.com', 'member', 'Recorder Client'));
  });
  after(async () => {
    await client?.close();
    await server?.stop();
    await upstream?.close();
  });

  test("every upstream request carries the connection's API key, and the upstream introspects it", async () => {
    const me = await whoami(client);
    const result = await client.callTool({ name: 'rec-echo', arguments: { text: 'hi' } });
    assert.equal(text(result), 'rec: hi');
    const keys = keysSeen(upstream);
    assert.ok(keys.length > 0);
    assert.equal(new Set(keys).size, 1, 'one key throughout');
    const key = keys[0] as string;
    assert.ok(
      key.startsWith(me.apiKeyPrefix as string),
      `${key.slice(0, 12)} starts with ${me.apiKeyPrefix}`,
    );
    assert.match(key, /^wax_sk_[0-9A-Za-z]{43}$/);
    const oauth = provider.saved?.access_token as string;
    for (const r of upstream.seen) {
      assert.ok(!JSON.stringify(r).includes(oauth), 'the OAuth access token never reaches the upstream');
      assert.ok(!JSON.stringify(r).includes('wax_at_') && !JSON.stringify(r).includes('wax_rt_'));
    }

    const checked = await client.callTool({ name: 'introspect', arguments: {} });
    const seen = checked.structuredContent as Record<string, unknown>;
    assert.deepEqual(
      {
        active: seen.active,
        email: seen.email,
        role: seen.role,
        connection_id: seen.connection_id,
        client_name: seen.client_name,
      },
      {
        active: true,
        email: 'grace@example.com',
        role: 'member',
        connection_id: me.connectionId,
        client_name: 'Recorder Client',
      },
    );
  });

  test('POST /introspect: secret required, an access token is active too, anything else inactive', async () => {
    const key = keysSeen(upstream)[0] as string;
    const noAuth = await introspect(server, key, '');
    assert.equal(noAuth.status, 401);
    assert.equal(noAuth.body.error, 'invalid_client');
    assert.equal(
      (await introspect(server, key, 'Bearer wrong-secret-wrong-secret-wrong-secret')).status,
      401,
    );
    const basic = `Basic ${Buffer.from(`upstream:${INTROSPECTION_SECRET}`).toString('base64')}`;
    const viaBasic = await introspect(server, key, basic);
    assert.equal(viaBasic.status, 200);
    assert.equal(viaBasic.body.active, true);
    assert.equal(viaBasic.body.token_kind, 'api_key');

    const viaToken = await introspect(server, provider.saved?.access_token as string);
    assert.equal(viaToken.body.active, true);
    assert.equal(viaToken.body.token_kind, 'access_token');
    assert.equal(viaToken.body.email, 'grace@example.com');
    assert.equal(typeof viaToken.body.exp, 'number');

    assert.deepEqual((await introspect(server, 'wax_sk_not-a-real-key')).body, { active: false });
    const missing = await introspect(server, '');
    assert.equal(missing.status, 400);
    assert.equal(missing.body.error, 'invalid_request');
  });

  test('after a regenerate the very next call carries the new key; the old one introspects inactive', async () => {
    const me = await whoami(client);
    const oldKey = keysSeen(upstream).at(-1) as string;
    const regenerated = await regenerateKey(server.services, me.connectionId as string, {
      label: 'test admin',
    });
    assert.notEqual(regenerated.apiKeyPrefix, me.apiKeyPrefix);

    const before = upstream.seen.length;
    await client.callTool({ name: 'rec-echo', arguments: { text: 'again' } });
    const fresh = upstream.seen.slice(before).map((r) => r.authorization?.replace(/^Bearer /, ''));
    assert.ok(fresh.length > 0);
    for (const k of fresh) {
      assert.notEqual(k, oldKey);
      assert.ok(k?.startsWith(regenerated.apiKeyPrefix));
    }
    assert.deepEqual((await introspect(server, oldKey)).body, { active: false });
    const now = await introspect(server, fresh[0] as string);
    assert.equal(now.body.active, true);
    assert.equal(now.body.api_key_prefix, regenerated.apiKeyPrefix);
  });

  test('after a revoke nothing reaches the upstream and the key introspects inactive', async () => {
    const me = await whoami(client);
    const key = keysSeen(upstream).at(-1) as string;
    await revokeConnection(server.services, me.connectionId as string, { label: 'test admin' });
    const before = upstream.seen.length;
    const res = await fetch(`${server.base}/mcp`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${provider.saved?.access_token}`,
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
      },
      body: JSON.stringify({
        jsonrpc: '2.0',
        id: 9,
        method: 'tools/call',
        params: { name: 'rec-echo', arguments: { text: 'after revoke' } },
      }),
    });
    assert.equal(res.status, 401);
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(upstream.seen.length, before, 'the upstream received nothing');
    assert.deepEqual((await introspect(server, key)).body, { active: false });
  });
});

describe('SPEC §9 identity upstream: a configured credential header', () => {
  let upstream: RecordingUpstream;
  let server: TestServer;
  let client: Client;

  before(async () => {
    upstream = await startRecordingUpstream({ label: 'hdr' });
    const file = writeUpstreamsFile(
      {
        upstreams: { hdr: { url: upstream.url, credentialHeader: 'X-Api-Key', headers: { 'X-Team': 'qa' } } },
      },
      'waxseal.json',
    );
    server = await startTestServer('sqlite', { env: { WAXSEAL_CONFIG: file } });
    ({ client } = await signIn(server, 'hopper@example.com', 'admin'));
  });
  after(async () => {
    await client?.close();
    await server?.stop();
    await upstream?.close();
  });

  test('the key goes in X-Api-Key, bare, and no Authorization header is sent', async () => {
    const me = await whoami(client);
    await client.callTool({ name: 'hdr-echo', arguments: { text: 'x' } });
    assert.ok(upstream.seen.length > 0);
    for (const r of upstream.seen) {
      assert.equal(r.authorization, undefined);
      assert.ok(r.apiKeyHeader?.startsWith(me.apiKeyPrefix as string));
    }
  });
});
