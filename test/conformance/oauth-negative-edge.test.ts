/**
 * Negative OAuth cases, part 3: the OAuth edge (SPEC §2-§3). Every endpoint
 * reads its form the same way (RFC 6749 §3.1: a parameter given twice fails
 * the request), decodes Basic the same way (§2.3.1), and accepts exactly the
 * token_endpoint_auth_method a client registered (§2.3, RFC 7591 §2).
 * Refusals say no more than a client needs; why is logged, never sent. Every
 * case asserts the exact status and error code. One SQLite server (useServer).
 */
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import type { RegisterTools } from '../../src/http/mcp/endpoint.js';
import { hiddenField, pkce } from '../helpers/flow.js';
import {
  authorizeUrl,
  browser,
  connect,
  exchange,
  expectError,
  expectMcpOk,
  getCode,
  logLines,
  mcp,
  newClient,
  REDIRECT,
  type RegisteredClient,
  refreshWith,
  register,
  server,
  type Tokens,
  token,
  user,
  useServer,
} from '../helpers/oauth-negative.js';

const INTROSPECTION_SECRET = 'conformance-introspection-secret-0123456789';

/** A library tool that shows what the SDK hands MCP handlers as AuthInfo. */
const authInfoTool: RegisterTools = (mcpServer) => {
  mcpServer.registerTool('auth-info', { description: 'The AuthInfo of this call' }, async (extra) => ({
    content: [
      {
        type: 'text',
        text: JSON.stringify({
          clientId: extra.authInfo?.clientId,
          connectionId: extra.authInfo?.extra?.connectionId,
        }),
      },
    ],
  }));
};

type Pairs = [string, string][];

/** A form body from pairs, so a parameter can be given twice. */
function post(path: string, pairs: Pairs, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${server.base}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body: new URLSearchParams(pairs).toString(),
  });
}

/** The same pairs with `name` given a second time, with the same value. */
function twice(pairs: Pairs, name: string): Pairs {
  const pair = pairs.find(([k]) => k === name);
  assert.ok(pair, `no ${name} to repeat`);
  return [...pairs, pair];
}

const b64 = (text: string) => Buffer.from(text).toString('base64');
/** RFC 6749 §2.3.1: id and secret are form-urlencoded, then joined by ':' and base64-encoded. */
const basic = (id: string, secret: string) =>
  `Basic ${b64(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`)}`;
/** Every character percent-encoded: what a decoder that skips form-decoding gets wrong. */
const percentAll = (text: string) =>
  [...Buffer.from(text)].map((b) => `%${b.toString(16).padStart(2, '0').toUpperCase()}`).join('');

async function expectBasicChallenge(res: Response, status: number, error: string): Promise<void> {
  assert.match(res.headers.get('www-authenticate') ?? '', /^Basic\b/);
  await expectError(res, status, error);
}

/** The error body, checked for its status and code, for its description. */
async function errorBody(res: Response, status: number, error: string) {
  const body = (await res.clone().json()) as Record<string, unknown>;
  await expectError(res, status, error);
  return body;
}

/** The log lines written while `act` ran. */
async function logged<T>(act: () => Promise<T>): Promise<{ result: T; lines: Record<string, unknown>[] }> {
  const before = logLines().length;
  const result = await act();
  return { result, lines: logLines().slice(before) };
}

/** The parsed JSON-RPC result of a POST /mcp, whether answered as JSON or as an event stream. */
async function mcpResult(res: Response): Promise<{ content: { text: string }[] }> {
  const text = await res.text();
  assert.equal(res.status, 200, text);
  const json = res.headers.get('content-type')?.includes('text/event-stream')
    ? (text
        .split('\n')
        .filter((l) => l.startsWith('data: '))
        .map((l) => JSON.parse(l.slice(6)) as { result?: unknown })
        .find((m) => m.result) as { result: unknown })
    : (JSON.parse(text) as { result: unknown });
  return json.result as { content: { text: string }[] };
}

describe('OAuth negative cases: the OAuth edge (SPEC §2-§3, sqlite)', () => {
  useServer({ env: { INTROSPECTION_SECRET }, tools: [authInfoTool] });

  describe('RFC 6749 §3.1: any parameter given twice fails with 400 invalid_request', () => {
    describe('POST /token, authorization_code', () => {
      let client: RegisteredClient;
      let code: string;
      let verifier: string;
      before(async () => {
        client = await newClient();
        ({ code, verifier } = await getCode(client));
      });
      const grant = (): Pairs => [
        ['grant_type', 'authorization_code'],
        ['client_id', client.client_id],
        ['code', code],
        ['code_verifier', verifier],
        ['redirect_uri', REDIRECT],
        ['resource', `${server.base}/mcp`],
      ];

      for (const name of ['grant_type', 'client_id', 'code', 'code_verifier', 'redirect_uri', 'resource']) {
        test(`${name} given twice, with the same value, fails with invalid_request`, async () => {
          await expectError(await post('/token', twice(grant(), name)), 400, 'invalid_request');
        });
      }

      test('a parameter /token does not use, given twice, fails with invalid_request', async () => {
        const res = await post('/token', [...grant(), ['extra', 'a'], ['extra', 'b']]);
        await expectError(res, 400, 'invalid_request');
      });

      test('none of the refused requests spent the code: it still exchanges, once', async () => {
        const res = await post('/token', grant());
        assert.equal(res.status, 200, await res.clone().text());
        await expectMcpOk(((await res.json()) as Tokens).access_token);
      });
    });

    describe('POST /token, refresh_token and client credentials', () => {
      let client: RegisteredClient;
      let tokens: Tokens;
      let postClient: RegisteredClient;
      let basicClient: RegisteredClient;
      before(async () => {
        ({ client, tokens } = await connect());
        postClient = await newClient({ token_endpoint_auth_method: 'client_secret_post' });
        basicClient = await newClient({ token_endpoint_auth_method: 'client_secret_basic' });
      });
      const grant = (): Pairs => [
        ['grant_type', 'refresh_token'],
        ['client_id', client.client_id],
        ['refresh_token', tokens.refresh_token],
        ['scope', 'mcp'],
      ];

      for (const name of ['grant_type', 'client_id', 'refresh_token', 'scope']) {
        test(`${name} given twice fails with invalid_request`, async () => {
          await expectError(await post('/token', twice(grant(), name)), 400, 'invalid_request');
        });
      }

      test('none of the refused requests rotated the refresh token: it still refreshes', async () => {
        const res = await post('/token', grant());
        assert.equal(res.status, 200, await res.clone().text());
        await res.text();
      });

      test('client_secret given twice fails with invalid_request', async () => {
        const pairs: Pairs = [
          ['grant_type', 'refresh_token'],
          ['refresh_token', 'wax_rt_unknown'],
          ['client_id', postClient.client_id],
          ['client_secret', postClient.client_secret as string],
        ];
        await expectError(await post('/token', pairs), 400, 'invalid_grant');
        await expectError(await post('/token', twice(pairs, 'client_secret')), 400, 'invalid_request');
      });

      test('Basic credentials plus client_secret given twice in the body fail with invalid_request', async () => {
        const secret = basicClient.client_secret as string;
        const res = await post(
          '/token',
          [
            ['grant_type', 'refresh_token'],
            ['refresh_token', 'wax_rt_unknown'],
            ['client_secret', secret],
            ['client_secret', secret],
          ],
          { authorization: basic(basicClient.client_id, secret) },
        );
        await expectError(res, 400, 'invalid_request');
      });
    });

    describe('POST /revoke', () => {
      let client: RegisteredClient;
      let tokens: Tokens;
      before(async () => {
        ({ client, tokens } = await connect());
      });
      const revocation = (): Pairs => [
        ['token', tokens.refresh_token],
        ['token_type_hint', 'refresh_token'],
        ['client_id', client.client_id],
      ];

      for (const name of ['token', 'token_type_hint', 'client_id']) {
        test(`${name} given twice fails with invalid_request`, async () => {
          await expectError(await post('/revoke', twice(revocation(), name)), 400, 'invalid_request');
        });
      }

      test('none of the refused revocations revoked anything', async () => {
        await expectMcpOk(tokens.access_token);
        const res = await refreshWith(client, tokens.refresh_token);
        assert.equal(res.status, 200);
        await res.text();
      });
    });

    describe('POST /introspect', () => {
      const auth = { authorization: `Bearer ${INTROSPECTION_SECRET}` };

      test('token given twice fails with invalid_request', async () => {
        const { tokens } = await connect();
        const one = await post('/introspect', [['token', tokens.access_token]], auth);
        assert.equal(one.status, 200);
        assert.equal(((await one.json()) as { active: boolean }).active, true);
        const res = await post(
          '/introspect',
          [
            ['token', tokens.access_token],
            ['token', tokens.access_token],
          ],
          auth,
        );
        await expectError(res, 400, 'invalid_request');
      });
    });

    describe('POST /authorize/decision (the consent form)', () => {
      test('decision, request or csrf given twice gets a 400 page, never a redirect, and the consent stays open', async () => {
        const client = await newClient();
        const { challenge } = pkce();
        let res = await browser.fetch(authorizeUrl(client.client_id, {}, challenge));
        if (res.status === 302) {
          await browser.signIn(user.email, user.password);
          res = await browser.fetch(authorizeUrl(client.client_id, {}, challenge));
        }
        assert.equal(res.status, 200);
        const page = await res.text();
        const form: Pairs = [
          ['request', hiddenField(page, 'request')],
          ['csrf', hiddenField(page, 'csrf')],
          ['decision', 'allow'],
        ];
        const submit = (pairs: Pairs) =>
          browser.fetch('/authorize/decision', {
            method: 'POST',
            headers: {
              'content-type': 'application/x-www-form-urlencoded',
              origin: new URL(server.base).origin,
            },
            body: new URLSearchParams(pairs).toString(),
          });
        for (const name of ['decision', 'request', 'csrf']) {
          const refused = await submit(twice(form, name));
          assert.equal(refused.status, 400, name);
          assert.equal(refused.headers.get('location'), null, name);
          assert.match(refused.headers.get('content-type') ?? '', /text\/html/);
          assert.match(await refused.text(), /must be given once/);
        }
        const denyAndAllow = await submit([...form.slice(0, 2), ['decision', 'deny'], ['decision', 'allow']]);
        assert.equal(denyAndAllow.status, 400);
        await denyAndAllow.text();
        const answered = await submit(form);
        assert.equal(answered.status, 303);
        assert.ok(new URL(answered.headers.get('location') as string).searchParams.get('code'));
      });
    });
  });

  describe('RFC 6749 §2.3.1: one Basic decoder; malformed credentials get 401 invalid_client and a Basic challenge', () => {
    let basicClient: RegisteredClient;
    before(async () => {
      basicClient = await newClient({ token_endpoint_auth_method: 'client_secret_basic' });
    });
    const refreshUnknown = (authorization: string) =>
      token({ grant_type: 'refresh_token', refresh_token: 'wax_rt_unknown' }, { authorization });

    for (const [what, header] of [
      ['not base64', 'Basic !!!'],
      ['no credentials after the scheme', 'Basic'],
      ['no colon between id and secret', `Basic ${b64('no-colon-here')}`],
      ['bad percent-encoding', `Basic ${b64('%zz:%zz')}`],
    ] as const) {
      test(`/token: Basic with ${what} fails with 401 invalid_client`, async () => {
        await expectBasicChallenge(await refreshUnknown(header), 401, 'invalid_client');
      });
    }

    test('/revoke: malformed Basic fails with 401 invalid_client', async () => {
      const res = await post('/revoke', [['token', 'x']], { authorization: 'Basic !!!' });
      await expectBasicChallenge(res, 401, 'invalid_client');
    });

    test('/introspect: malformed Basic fails with 401 invalid_client', async () => {
      const res = await post('/introspect', [['token', 'x']], { authorization: `Basic ${b64('no-colon')}` });
      await expectBasicChallenge(res, 401, 'invalid_client');
    });

    test('/introspect: the secret as the Basic password, form-urlencoded, is accepted', async () => {
      const res = await post('/introspect', [['token', 'wax_at_unknown']], {
        authorization: `Basic ${b64(`upstream:${percentAll(INTROSPECTION_SECRET)}`)}`,
      });
      assert.equal(res.status, 200);
      assert.deepEqual(await res.json(), { active: false });
    });

    test('/token: a form-urlencoded id and secret are decoded before they are checked', async () => {
      const header = `Basic ${b64(`${percentAll(basicClient.client_id)}:${percentAll(basicClient.client_secret as string)}`)}`;
      await expectError(await refreshUnknown(header), 400, 'invalid_grant');
    });

    test('/token: the Basic scheme name is case-insensitive', async () => {
      const header = basic(basicClient.client_id, basicClient.client_secret as string).replace(
        'Basic',
        'bAsIc',
      );
      await expectError(await refreshUnknown(header), 400, 'invalid_grant');
    });
  });

  describe('RFC 6749 §2.3: the registered token_endpoint_auth_method is the only one accepted', () => {
    let basicClient: RegisteredClient;
    let postClient: RegisteredClient;
    let publicClient: RegisteredClient;
    before(async () => {
      basicClient = await newClient({ token_endpoint_auth_method: 'client_secret_basic' });
      postClient = await newClient({ token_endpoint_auth_method: 'client_secret_post' });
      publicClient = await newClient({ token_endpoint_auth_method: 'none' });
    });
    const refreshUnknown = (form: Record<string, string>, headers: Record<string, string> = {}) =>
      token({ grant_type: 'refresh_token', refresh_token: 'wax_rt_unknown', ...form }, headers);

    test('a client_secret_basic client authenticating with Basic gets past client authentication', async () => {
      const res = await refreshUnknown(
        {},
        { authorization: basic(basicClient.client_id, basicClient.client_secret as string) },
      );
      await expectError(res, 400, 'invalid_grant');
    });

    test('a client_secret_basic client posting its secret in the form fails with 401 invalid_client', async () => {
      const res = await refreshUnknown({
        client_id: basicClient.client_id,
        client_secret: basicClient.client_secret as string,
      });
      await expectError(res, 401, 'invalid_client');
    });

    test('a client_secret_basic client sending only its client_id fails with 401 invalid_client', async () => {
      await expectError(await refreshUnknown({ client_id: basicClient.client_id }), 401, 'invalid_client');
    });

    test('a client_secret_post client posting its secret in the form gets past client authentication', async () => {
      const res = await refreshUnknown({
        client_id: postClient.client_id,
        client_secret: postClient.client_secret as string,
      });
      await expectError(res, 400, 'invalid_grant');
    });

    test('a client_secret_post client authenticating with Basic fails with 401 invalid_client and a Basic challenge', async () => {
      const res = await refreshUnknown(
        {},
        { authorization: basic(postClient.client_id, postClient.client_secret as string) },
      );
      await expectBasicChallenge(res, 401, 'invalid_client');
    });

    test('a public client presenting Basic credentials, even with an empty secret, fails with 401 invalid_client', async () => {
      const res = await refreshUnknown({}, { authorization: basic(publicClient.client_id, '') });
      await expectBasicChallenge(res, 401, 'invalid_client');
    });

    test('a public client sending an empty client_secret is treated as sending none (RFC 6749 §3.1)', async () => {
      const res = await refreshUnknown({ client_id: publicClient.client_id, client_secret: '' });
      await expectError(res, 400, 'invalid_grant');
    });

    test('Basic credentials with a different client_id in the body fail with 400 invalid_request', async () => {
      const res = await refreshUnknown(
        { client_id: postClient.client_id },
        { authorization: basic(basicClient.client_id, basicClient.client_secret as string) },
      );
      await expectError(res, 400, 'invalid_request');
    });

    test('a client registered without a method is client_secret_basic (RFC 7591 §2): Basic works, the form does not', async () => {
      const res = await register({ redirect_uris: [REDIRECT], client_name: 'Default Method' });
      assert.equal(res.status, 201);
      const client = (await res.json()) as RegisteredClient & { token_endpoint_auth_method: string };
      assert.equal(client.token_endpoint_auth_method, 'client_secret_basic');
      const secret = client.client_secret as string;
      await expectError(
        await refreshUnknown({ client_id: client.client_id, client_secret: secret }),
        401,
        'invalid_client',
      );
      await expectError(
        await refreshUnknown({}, { authorization: basic(client.client_id, secret) }),
        400,
        'invalid_grant',
      );
    });

    test('/revoke holds a client to its method too: a client_secret_basic client posting its secret gets 401 invalid_client', async () => {
      const secret = basicClient.client_secret as string;
      const posted = await post('/revoke', [
        ['token', 'wax_rt_unknown'],
        ['client_id', basicClient.client_id],
        ['client_secret', secret],
      ]);
      await expectError(posted, 401, 'invalid_client');
      const viaBasic = await post('/revoke', [['token', 'wax_rt_unknown']], {
        authorization: basic(basicClient.client_id, secret),
      });
      assert.equal(viaBasic.status, 200);
      await viaBasic.text();
    });

    test('a client_secret_basic client completes the code grant and a refresh with Basic', async () => {
      const client = await newClient({ token_endpoint_auth_method: 'client_secret_basic' });
      const authorization = basic(client.client_id, client.client_secret as string);
      const { code, verifier } = await getCode(client);
      const exchanged = await token(
        { grant_type: 'authorization_code', code, code_verifier: verifier, redirect_uri: REDIRECT },
        { authorization },
      );
      assert.equal(exchanged.status, 200, await exchanged.clone().text());
      const tokens = (await exchanged.json()) as Tokens;
      await expectMcpOk(tokens.access_token);
      const refreshed = await token(
        { grant_type: 'refresh_token', refresh_token: tokens.refresh_token },
        { authorization },
      );
      assert.equal(refreshed.status, 200, await refreshed.clone().text());
      await refreshed.text();
    });
  });

  describe('refusals say no more than a client needs; the reason is logged, never sent', () => {
    test('a code presented by another client: "Invalid authorization code", the reason in the log', async () => {
      const owner = await newClient();
      const thief = await newClient();
      const { code, verifier } = await getCode(owner);
      const { result, lines } = await logged(() => exchange(thief, code, verifier));
      const body = await errorBody(result, 400, 'invalid_grant');
      assert.deepEqual(body, { error: 'invalid_grant', error_description: 'Invalid authorization code' });
      assert.ok(
        lines.some((l) => l.reason === 'code issued to another client' && l.error === 'invalid_grant'),
        JSON.stringify(lines),
      );
    });

    test('a replayed code: "Invalid authorization code" like any other bad code', async () => {
      const client = await newClient();
      const { code, verifier } = await getCode(client);
      assert.equal((await exchange(client, code, verifier)).status, 200);
      const body = await errorBody(await exchange(client, code, verifier), 400, 'invalid_grant');
      assert.equal(body.error_description, 'Invalid authorization code');
    });

    test('a refresh token presented by another client: "Invalid refresh token", the reason in the log', async () => {
      const { tokens } = await connect();
      const other = await newClient();
      const { result, lines } = await logged(() => refreshWith(other, tokens.refresh_token));
      const body = await errorBody(result, 400, 'invalid_grant');
      assert.deepEqual(body, { error: 'invalid_grant', error_description: 'Invalid refresh token' });
      assert.ok(
        lines.some((l) => l.reason === 'refresh token issued to another client'),
        JSON.stringify(lines),
      );
    });

    test('an unknown client and a wrong secret get the same answer; neither secret reaches the log', async () => {
      const confidential = await newClient({ token_endpoint_auth_method: 'client_secret_post' });
      const wrong = 'wax_cs_wrongwrongwrongwrongwrongwrongwrong';
      const { result: unknown } = await logged(() => refreshUnknownClient('no-such-client'));
      const unknownBody = await errorBody(unknown, 401, 'invalid_client');
      const { result: bad, lines } = await logged(() =>
        refreshWith(confidential, 'wax_rt_unknown', { client_secret: wrong }),
      );
      const badBody = await errorBody(bad, 401, 'invalid_client');
      assert.deepEqual(unknownBody, badBody);
      assert.deepEqual(badBody, {
        error: 'invalid_client',
        error_description: 'Client authentication failed',
      });
      assert.ok(lines.some((l) => l.reason === 'wrong client secret'));
      const all = JSON.stringify(logLines());
      assert.ok(!all.includes(wrong), 'the presented secret is in the log');
      assert.ok(!all.includes(confidential.client_secret as string), 'the client secret is in the log');
    });
  });

  describe('/mcp refusals as typed errors (SPEC §3, RFC 6750 §3)', () => {
    const metadata = () =>
      `Bearer resource_metadata="${server.base}/.well-known/oauth-protected-resource/mcp"`;

    test('no token: 401 unauthorized with exactly the bare challenge', async () => {
      const res = await mcp();
      assert.equal(res.headers.get('www-authenticate'), metadata());
      await expectError(res, 401, 'unauthorized');
    });

    test('a Bearer header that is not a token: 401 invalid_token with error="invalid_token"', async () => {
      const res = await mcp(undefined, { authorization: 'Bearer two words' });
      assert.equal(res.headers.get('www-authenticate'), `${metadata()}, error="invalid_token"`);
      await expectError(res, 401, 'invalid_token');
    });

    test('an unknown token: 401 invalid_token, the description the same as for any bad token', async () => {
      const res = await mcp('wax_at_unknown');
      assert.equal(res.headers.get('www-authenticate'), `${metadata()}, error="invalid_token"`);
      const body = await errorBody(res, 401, 'invalid_token');
      assert.equal(body.error_description, 'The token is invalid, expired or revoked');
    });

    test('a token without the mcp scope: 403 insufficient_scope, the challenge naming every needed scope', async () => {
      const client = await newClient();
      const { code, verifier } = await getCode(client, { scope: 'offline_access' });
      const tokens = (await (await exchange(client, code, verifier)).json()) as Tokens;
      const res = await mcp(tokens.access_token);
      assert.equal(
        res.headers.get('www-authenticate'),
        `${metadata()}, error="insufficient_scope", scope="mcp"`,
      );
      await expectError(res, 403, 'insufficient_scope');
    });

    test('a foreign Origin: 403 forbidden', async () => {
      const { tokens } = await connect();
      await expectError(await mcp(tokens.access_token, { origin: 'https://evil.example' }), 403, 'forbidden');
    });

    test("handlers' AuthInfo.clientId is the OAuth client id; the connection id is in extra", async () => {
      const { client, tokens } = await connect();
      const call = (name: string) =>
        mcp(
          tokens.access_token,
          {},
          { jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name, arguments: {} } },
        );
      const seen = JSON.parse(
        ((await mcpResult(await call('auth-info'))).content[0] as { text: string }).text,
      );
      const me = JSON.parse(
        ((await mcpResult(await call('whoami'))).content[0] as { text: string }).text,
      ) as {
        connectionId: string;
      };
      assert.equal(seen.clientId, client.client_id);
      assert.equal(seen.connectionId, me.connectionId);
      assert.notEqual(seen.clientId, seen.connectionId);
    });
  });
});

function refreshUnknownClient(clientId: string): Promise<Response> {
  return token({ grant_type: 'refresh_token', refresh_token: 'wax_rt_unknown', client_id: clientId });
}
