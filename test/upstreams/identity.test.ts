import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { sha256 } from '../../src/domain/secrets.js';
import { regenerateKey, revokeConnection } from '../../src/services/connections.js';
import { currentApiKey, type TestOAuthProvider, whoami } from '../helpers/flow.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import {
  CALL_PATHS,
  everythingStdio,
  INTROSPECTION_SECRET,
  type RecordingUpstream,
  signIn,
  startRecordingUpstream,
  text,
  writeUpstreamsFile,
} from '../helpers/upstreams.js';

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

/** The connection's own API key (never sent to an upstream), re-derived as the server does. */
/** POST /mcp initialize with a bearer: status, challenge and error code. */
async function mcpWith(server: TestServer, bearer: string) {
  const res = await fetch(`${server.base}/mcp`, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${bearer}`,
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
    },
    body: JSON.stringify({
      jsonrpc: '2.0',
      id: 1,
      method: 'initialize',
      params: {
        protocolVersion: '2025-06-18',
        capabilities: {},
        clientInfo: { name: 'thief', version: '1' },
      },
    }),
  });
  const body = (await res.json()) as { error?: string };
  return { status: res.status, challenge: res.headers.get('www-authenticate') ?? '', error: body.error };
}

for (const { path, env } of CALL_PATHS) {
  describe(`SPEC §9 identity upstream: UPSTREAM_MCP_URL receives the connection API key bound to it, never the OAuth token, ${path}`, () => {
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
        env: { UPSTREAM_MCP_URL: upstream.url, INTROSPECTION_SECRET, ...env },
      });
      ({ client, provider } = await signIn(server, 'grace@example.com', 'member', 'Recorder Client'));
    });
    after(async () => {
      await client?.close();
      await server?.stop();
      await upstream?.close();
    });

    test("every upstream request carries the connection's API key bound to the upstream, and the upstream introspects it", async () => {
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
      assert.notEqual(key, await currentApiKey(server, me.connectionId as string), 'not the key itself');
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
}

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

const ALPHA_SECRET = 'alpha-introspection-secret-0123456789abcdef';
const BETA_SECRET = 'beta-introspection-secret-0123456789abcdef0';

describe('SPEC §9 a key captured by one upstream is worth nothing anywhere else', () => {
  let alpha: RecordingUpstream;
  let beta: RecordingUpstream;
  let server: TestServer;
  let client: Client;
  let provider: TestOAuthProvider;
  let connectionId: string;
  const lastKey = (upstream: RecordingUpstream) => keysSeen(upstream).at(-1) as string;
  const echo = async (upstream: 'alpha' | 'beta') =>
    text(await client.callTool({ name: `${upstream}__${upstream}-echo`, arguments: { text: 'hi' } }));

  before(async () => {
    alpha = await startRecordingUpstream({
      label: 'alpha',
      waxseal: () => server.base,
      introspectionSecret: ALPHA_SECRET,
    });
    beta = await startRecordingUpstream({ label: 'beta' });
    const file = writeUpstreamsFile({
      upstreams: {
        alpha: { url: alpha.url, introspectionSecret: ALPHA_SECRET },
        beta: { url: beta.url, introspectionSecret: BETA_SECRET },
        gamma: { ...everythingStdio, timeoutMs: 20_000 },
      },
    });
    server = await startTestServer('sqlite', { env: { WAXSEAL_CONFIG: file, INTROSPECTION_SECRET } });
    ({ client, provider } = await signIn(server, 'ada@example.com', 'member', 'Two Upstreams Client'));
    connectionId = (await whoami(client)).connectionId as string;
    assert.equal(await echo('alpha'), 'alpha: hi');
    assert.equal(await echo('beta'), 'beta: hi');
  });
  after(async () => {
    await client?.close();
    await server?.stop();
    await alpha?.close();
    await beta?.close();
  });

  test('each upstream receives its own key; with its own secret only it is told the key is active', async () => {
    const me = await whoami(client);
    const [a, b] = [lastKey(alpha), lastKey(beta)];
    const own = await currentApiKey(server, connectionId);
    assert.notEqual(a, b);
    for (const k of [a, b]) {
      assert.ok(k.startsWith(me.apiKeyPrefix as string), 'the prefix the dashboard shows');
      assert.notEqual(k, own);
    }
    const asAlpha = await introspect(server, a, `Bearer ${ALPHA_SECRET}`);
    assert.equal(asAlpha.status, 200);
    assert.deepEqual(
      [asAlpha.body.active, asAlpha.body.upstream, asAlpha.body.connection_id, asAlpha.body.email],
      [true, 'alpha', connectionId, 'ada@example.com'],
    );
    const checked = await client.callTool({ name: 'alpha__introspect', arguments: {} });
    assert.equal(
      (checked.structuredContent as { active?: boolean }).active,
      true,
      'alpha checks its own key',
    );

    assert.deepEqual((await introspect(server, a, `Bearer ${BETA_SECRET}`)).body, { active: false });
    assert.deepEqual((await introspect(server, b, `Bearer ${ALPHA_SECRET}`)).body, { active: false });
    assert.equal((await introspect(server, b, `Bearer ${BETA_SECRET}`)).body.active, true);
    const access = provider.saved?.access_token as string;
    for (const other of [own, access]) {
      for (const secret of [ALPHA_SECRET, BETA_SECRET]) {
        assert.deepEqual((await introspect(server, other, `Bearer ${secret}`)).body, { active: false });
      }
    }

    // The global secret is trusted with every answer, and is told whose key it is.
    const global = await introspect(server, a);
    assert.deepEqual([global.body.active, global.body.upstream], [true, 'alpha']);
    const ownKey = await introspect(server, own);
    assert.deepEqual([ownKey.body.active, ownKey.body.upstream], [true, undefined]);
  });

  test('a stdio upstream gets its own bound key in its environment', async () => {
    const env = JSON.parse(text(await client.callTool({ name: 'gamma__get-env', arguments: {} }))) as Record<
      string,
      string
    >;
    const key = env.WAXSEAL_API_KEY as string;
    assert.ok(key.startsWith((await whoami(client)).apiKeyPrefix as string));
    assert.ok(![lastKey(alpha), lastKey(beta), await currentApiKey(server, connectionId)].includes(key));
    assert.equal((await introspect(server, key)).body.upstream, 'gamma');
    assert.deepEqual((await introspect(server, key, `Bearer ${ALPHA_SECRET}`)).body, { active: false });
  });

  test("neither a captured key nor the connection's own API key is accepted at /mcp", async () => {
    for (const key of [lastKey(alpha), lastKey(beta), await currentApiKey(server, connectionId)]) {
      const answer = await mcpWith(server, key);
      assert.equal(answer.status, 401);
      assert.equal(answer.error, 'invalid_token');
      assert.match(answer.challenge, /^Bearer resource_metadata=".*", error="invalid_token"$/);
    }
    assert.equal((await mcpWith(server, provider.saved?.access_token as string)).status, 200);
  });

  test('only hashes of the bound keys are stored', async () => {
    const rows = await server.services.store.db.selectFrom('upstream_keys').selectAll().execute();
    const dump = JSON.stringify(rows);
    for (const key of [lastKey(alpha), lastKey(beta)]) {
      assert.ok(!dump.includes(key));
      assert.ok(rows.some((r) => r.key_hash === sha256(key) && r.connection_id === connectionId));
    }
  });

  test('after a regenerate the old bound key is inactive for everyone and the upstream receives the new one', async () => {
    const old = lastKey(alpha);
    const view = await regenerateKey(server.services, connectionId, { label: 'test admin' });
    assert.equal(await echo('alpha'), 'alpha: hi');
    const fresh = lastKey(alpha);
    assert.notEqual(fresh, old);
    assert.ok(fresh.startsWith(view.apiKeyPrefix));
    for (const auth of [`Bearer ${ALPHA_SECRET}`, `Bearer ${INTROSPECTION_SECRET}`]) {
      assert.deepEqual((await introspect(server, old, auth)).body, { active: false });
      const now = await introspect(server, fresh, auth);
      assert.deepEqual([now.body.active, now.body.api_key_prefix], [true, view.apiKeyPrefix]);
    }
  });

  test('after a revoke the bound keys are inactive for everyone', async () => {
    const [a, b] = [lastKey(alpha), lastKey(beta)];
    await revokeConnection(server.services, connectionId, { label: 'test admin' });
    for (const auth of [
      `Bearer ${ALPHA_SECRET}`,
      `Bearer ${BETA_SECRET}`,
      `Bearer ${INTROSPECTION_SECRET}`,
    ]) {
      for (const key of [a, b])
        assert.deepEqual((await introspect(server, key, auth)).body, { active: false });
    }
  });
});
