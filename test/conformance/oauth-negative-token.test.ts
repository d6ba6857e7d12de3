/**
 * Negative OAuth cases, part 2 (SPEC §2-§3): /token, /revoke and /mcp bearer authentication.
 * Every case asserts the exact HTTP status and OAuth error code (or, for
 * /authorize errors that must not redirect, a 400 page without Location);
 * none may produce a 5xx. One SQLite server for the file (useServer).
 */
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { DAY, MINUTE } from '../../src/domain/clock.js';
import { authorizeInBrowser, pkce } from '../helpers/flow.js';
import {
  authorizeUrl,
  browser,
  clock,
  connect,
  exchange,
  expectError,
  expectMcpOk,
  expectMcpRejected,
  getCode,
  mcp,
  newClient,
  REDIRECT,
  type RegisteredClient,
  refreshWith,
  server,
  type Tokens,
  token,
  user,
  useServer,
} from '../helpers/oauth-negative.js';

describe('OAuth negative cases: tokens, revocation and /mcp (SPEC §2-§3, sqlite)', () => {
  useServer();

  describe('POST /token: authorization_code', () => {
    test('a wrong code_verifier fails with invalid_grant', async () => {
      const client = await newClient();
      const { code } = await getCode(client);
      await expectError(await exchange(client, code, pkce().verifier), 400, 'invalid_grant');
    });

    test('a malformed code_verifier fails with invalid_request', async () => {
      const client = await newClient();
      const { code } = await getCode(client);
      await expectError(await exchange(client, code, 'too-short'), 400, 'invalid_request');
    });

    test('the code_challenge sent as the verifier (a plain downgrade) fails with invalid_grant', async () => {
      const client = await newClient();
      const { verifier, challenge } = pkce();
      const back = await authorizeInBrowser(browser, authorizeUrl(client.client_id, {}, challenge), user);
      assert.ok(verifier);
      await expectError(
        await exchange(client, back.searchParams.get('code') as string, challenge),
        400,
        'invalid_grant',
      );
    });

    test('a missing code_verifier fails with invalid_request', async () => {
      const client = await newClient();
      const { code } = await getCode(client);
      const res = await token({
        grant_type: 'authorization_code',
        client_id: client.client_id,
        code,
        redirect_uri: REDIRECT,
      });
      await expectError(res, 400, 'invalid_request');
    });

    test('a redirect_uri differing from the authorization request fails with invalid_grant', async () => {
      const client = await newClient({ redirect_uris: [REDIRECT, 'http://127.0.0.1:8976/other'] });
      const { code, verifier } = await getCode(client);
      const res = await exchange(client, code, verifier, { redirect_uri: 'http://127.0.0.1:8976/other' });
      await expectError(res, 400, 'invalid_grant');
    });

    test('a replayed authorization code fails with invalid_grant and revokes the connection it created', async () => {
      const client = await newClient();
      const { code, verifier } = await getCode(client);
      const first = await exchange(client, code, verifier);
      assert.equal(first.status, 200);
      const tokens = (await first.json()) as Tokens;
      await expectMcpOk(tokens.access_token);
      await expectError(await exchange(client, code, verifier), 400, 'invalid_grant');
      await expectMcpRejected(tokens.access_token);
      await expectError(await refreshWith(client, tokens.refresh_token), 400, 'invalid_grant');
    });

    test('a code older than 10 minutes fails with invalid_grant', async () => {
      const client = await newClient();
      const { code, verifier } = await getCode(client);
      clock.advance(11 * MINUTE);
      await expectError(await exchange(client, code, verifier), 400, 'invalid_grant');
    });

    test('a code presented by another client fails with invalid_grant', async () => {
      const owner = await newClient();
      const thief = await newClient();
      const { code, verifier } = await getCode(owner);
      await expectError(await exchange(thief, code, verifier), 400, 'invalid_grant');
    });

    test('a code exchanged for another resource fails with invalid_target', async () => {
      const client = await newClient();
      const { code, verifier } = await getCode(client);
      const res = await exchange(client, code, verifier, { resource: 'https://other.example/mcp' });
      await expectError(res, 400, 'invalid_target');
    });

    test('an unknown code fails with invalid_grant', async () => {
      const client = await newClient();
      await expectError(await exchange(client, 'wax_ac_nonexistent', pkce().verifier), 400, 'invalid_grant');
    });

    test('token responses, successful or not, carry Cache-Control: no-store', async () => {
      const client = await newClient();
      const { code, verifier } = await getCode(client);
      const ok = await exchange(client, code, verifier);
      assert.equal(ok.status, 200);
      assert.equal(ok.headers.get('cache-control'), 'no-store');
      await ok.text();
      const bad = await exchange(client, code, verifier);
      assert.equal(bad.headers.get('cache-control'), 'no-store');
      await expectError(bad, 400, 'invalid_grant');
    });
  });

  describe('POST /token: refresh_token', () => {
    test('the previous refresh token may be retried before its replacement is used', async () => {
      const { client, tokens } = await connect();
      const first = await refreshWith(client, tokens.refresh_token);
      assert.equal(first.status, 200);
      await first.text(); // the response is "lost"
      const retry = await refreshWith(client, tokens.refresh_token);
      assert.equal(retry.status, 200);
      const retried = (await retry.json()) as Tokens;
      await expectMcpOk(retried.access_token);
    });

    test('the replacement discarded by a retry, presented later, fails with invalid_grant and revokes the connection', async () => {
      const { client, tokens } = await connect();
      const lost = (await (await refreshWith(client, tokens.refresh_token)).json()) as Tokens;
      const retried = (await (await refreshWith(client, tokens.refresh_token)).json()) as Tokens;
      await expectMcpRejected(lost.access_token);
      await expectError(await refreshWith(client, lost.refresh_token), 400, 'invalid_grant');
      await expectMcpRejected(retried.access_token);
    });

    test('an access token presented as a refresh token fails with invalid_grant', async () => {
      const { client, tokens } = await connect();
      await expectError(await refreshWith(client, tokens.access_token), 400, 'invalid_grant');
    });

    test('the previous refresh token after its replacement was used fails with invalid_grant and revokes the connection', async () => {
      const { client, tokens } = await connect();
      const r1 = (await (await refreshWith(client, tokens.refresh_token)).json()) as Tokens;
      const r2res = await refreshWith(client, r1.refresh_token);
      assert.equal(r2res.status, 200);
      const r2 = (await r2res.json()) as Tokens;
      await expectError(await refreshWith(client, tokens.refresh_token), 400, 'invalid_grant');
      await expectMcpRejected(r2.access_token);
      await expectError(await refreshWith(client, r2.refresh_token), 400, 'invalid_grant');
    });

    test('a refresh token presented by another client fails with invalid_grant', async () => {
      const { tokens } = await connect();
      const other = await newClient();
      await expectError(await refreshWith(other, tokens.refresh_token), 400, 'invalid_grant');
    });

    test('an unknown refresh token fails with invalid_grant', async () => {
      const client = await newClient();
      await expectError(await refreshWith(client, 'wax_rt_unknown'), 400, 'invalid_grant');
    });

    test('a refresh for another resource fails with invalid_target', async () => {
      const { client, tokens } = await connect();
      const res = await refreshWith(client, tokens.refresh_token, { resource: 'https://other.example/mcp' });
      await expectError(res, 400, 'invalid_target');
    });

    test('a refresh asking for a wider scope fails with invalid_scope', async () => {
      const { client, tokens } = await connect();
      assert.equal(tokens.scope, 'mcp');
      const res = await refreshWith(client, tokens.refresh_token, { scope: 'mcp offline_access' });
      await expectError(res, 400, 'invalid_scope');
    });

    test('a refresh token unused for 31 days fails with invalid_grant', async () => {
      const { client, tokens } = await connect();
      clock.advance(31 * DAY);
      await expectError(await refreshWith(client, tokens.refresh_token), 400, 'invalid_grant');
    });
  });

  describe('POST /token: request and client authentication', () => {
    let confidential: RegisteredClient;
    let basicClient: RegisteredClient;
    before(async () => {
      confidential = await newClient({ token_endpoint_auth_method: 'client_secret_post' });
      assert.ok(confidential.client_secret);
      basicClient = await newClient({ token_endpoint_auth_method: 'client_secret_basic' });
      assert.ok(basicClient.client_secret);
    });
    const basic = (id: string, secret: string) =>
      `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`;

    test('a missing grant_type fails with invalid_request', async () => {
      await expectError(await token({ client_id: confidential.client_id }), 400, 'invalid_request');
    });

    test('an unknown grant_type fails with unsupported_grant_type', async () => {
      const client = await newClient();
      await expectError(
        await token({ grant_type: 'password', client_id: client.client_id }),
        400,
        'unsupported_grant_type',
      );
    });

    test('a grant_type given twice fails with invalid_request', async () => {
      const client = await newClient();
      const res = await fetch(`${server.base}/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: `grant_type=refresh_token&grant_type=refresh_token&client_id=${client.client_id}&refresh_token=x`,
      });
      await expectError(res, 400, 'invalid_request');
    });

    test('a JSON body fails with invalid_request', async () => {
      const res = await fetch(`${server.base}/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ grant_type: 'refresh_token', refresh_token: 'x', client_id: 'y' }),
      });
      await expectError(res, 400, 'invalid_request');
    });

    test('an oversized body fails with 413', async () => {
      const res = await token({ grant_type: 'refresh_token', refresh_token: 'x'.repeat(64 * 1024) });
      await expectError(res, 413, 'invalid_request');
    });

    test('an unknown client fails with 401 invalid_client', async () => {
      await expectError(
        await refreshWith({ client_id: 'no-such-client', redirect_uris: [] }, 'x'),
        401,
        'invalid_client',
      );
    });

    test('a confidential client with a bad secret via client_secret_post fails with 401 invalid_client', async () => {
      const res = await refreshWith(confidential, 'x', { client_secret: 'wrong' });
      await expectError(res, 401, 'invalid_client');
    });

    test('a confidential client with a bad secret via client_secret_basic fails with 401 invalid_client and a Basic challenge', async () => {
      const res = await token(
        { grant_type: 'refresh_token', refresh_token: 'x' },
        { authorization: basic(basicClient.client_id, 'wrong') },
      );
      assert.match(res.headers.get('www-authenticate') ?? '', /^Basic\b/);
      await expectError(res, 401, 'invalid_client');
    });

    test('a confidential client without its secret fails with 401 invalid_client', async () => {
      await expectError(await refreshWith(confidential, 'x'), 401, 'invalid_client');
    });

    test('a public client sending a secret fails with 401 invalid_client', async () => {
      const client = await newClient();
      await expectError(await refreshWith(client, 'x', { client_secret: 'anything' }), 401, 'invalid_client');
    });

    test('a public client that omits client_id fails with 401 invalid_client', async () => {
      await expectError(
        await token({ grant_type: 'refresh_token', refresh_token: 'x' }),
        401,
        'invalid_client',
      );
    });

    test('Basic credentials together with client_secret in the body fail with invalid_request', async () => {
      const secret = confidential.client_secret as string;
      const res = await token(
        { grant_type: 'refresh_token', refresh_token: 'x', client_secret: secret },
        { authorization: basic(confidential.client_id, secret) },
      );
      await expectError(res, 400, 'invalid_request');
    });

    test('a confidential client with the right secret gets past client authentication', async () => {
      const res = await token(
        { grant_type: 'refresh_token', refresh_token: 'wax_rt_unknown' },
        { authorization: basic(basicClient.client_id, basicClient.client_secret as string) },
      );
      await expectError(res, 400, 'invalid_grant');
    });
  });

  describe('POST /revoke (RFC 7009)', () => {
    const revoke = (form: Record<string, string>) =>
      fetch(`${server.base}/revoke`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams(form).toString(),
      });

    test('a request without a token fails with invalid_request', async () => {
      const client = await newClient();
      await expectError(await revoke({ client_id: client.client_id }), 400, 'invalid_request');
    });

    test('an unknown token is answered with 200', async () => {
      const client = await newClient();
      const res = await revoke({ client_id: client.client_id, token: 'wax_rt_never_issued' });
      assert.equal(res.status, 200);
      await res.text();
    });

    test('an unknown client fails with 401 invalid_client', async () => {
      await expectError(await revoke({ client_id: 'no-such-client', token: 'x' }), 401, 'invalid_client');
    });

    test('revoking a refresh token revokes the connection: /mcp gets 401 and refresh invalid_grant', async () => {
      const { client, tokens } = await connect();
      await expectMcpOk(tokens.access_token);
      const res = await revoke({
        client_id: client.client_id,
        token: tokens.refresh_token,
        token_type_hint: 'refresh_token',
      });
      assert.equal(res.status, 200);
      await res.text();
      await expectMcpRejected(tokens.access_token);
      await expectError(await refreshWith(client, tokens.refresh_token), 400, 'invalid_grant');
    });

    test("another client's refresh token is answered with 200 and left working", async () => {
      const { client, tokens } = await connect();
      const other = await newClient();
      const res = await revoke({ client_id: other.client_id, token: tokens.refresh_token });
      assert.equal(res.status, 200);
      await res.text();
      await expectMcpOk(tokens.access_token);
      assert.equal((await refreshWith(client, tokens.refresh_token)).status, 200);
    });

    test('revoking an access token ends that token only; the refresh token still works', async () => {
      const { client, tokens } = await connect();
      const res = await revoke({ client_id: client.client_id, token: tokens.access_token });
      assert.equal(res.status, 200);
      await res.text();
      await expectMcpRejected(tokens.access_token);
      const refreshed = await refreshWith(client, tokens.refresh_token);
      assert.equal(refreshed.status, 200);
      await expectMcpOk(((await refreshed.json()) as Tokens).access_token);
    });
  });

  describe('/mcp bearer authentication (SPEC §3)', () => {
    test('no token gets 401 with a bare resource_metadata challenge', async () => {
      const res = await mcp();
      assert.equal(res.status, 401);
      const challenge = res.headers.get('www-authenticate');
      assert.equal(
        challenge,
        `Bearer resource_metadata="${server.base}/.well-known/oauth-protected-resource/mcp"`,
      );
      assert.doesNotMatch(challenge ?? '', /error=/);
      await res.text();
    });

    test('a garbage token gets 401 with error="invalid_token"', async () => {
      const res = await mcp('wax_at_garbage');
      assert.equal(res.status, 401);
      assert.equal(
        res.headers.get('www-authenticate'),
        `Bearer resource_metadata="${server.base}/.well-known/oauth-protected-resource/mcp", error="invalid_token"`,
      );
      await res.text();
    });

    test('a non-Bearer Authorization header gets 401 with error="invalid_token"', async () => {
      const res = await mcp(undefined, { authorization: 'Basic Zm9vOmJhcg==' });
      assert.equal(res.status, 401);
      assert.match(
        res.headers.get('www-authenticate') ?? '',
        /^Bearer resource_metadata=".*", error="invalid_token"$/,
      );
      await res.text();
    });

    test('an access token older than one hour gets 401 with error="invalid_token"', async () => {
      const { tokens } = await connect();
      await expectMcpOk(tokens.access_token);
      clock.advance(61 * MINUTE);
      await expectMcpRejected(tokens.access_token);
    });

    test('a refresh token used as a bearer token gets 401 with error="invalid_token"', async () => {
      const { tokens } = await connect();
      await expectMcpRejected(tokens.refresh_token);
    });

    test('an access token in the query string is ignored: 401 with a bare challenge', async () => {
      const { tokens } = await connect();
      const res = await fetch(`${server.base}/mcp?access_token=${tokens.access_token}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
        body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'ping' }),
      });
      assert.equal(res.status, 401);
      assert.doesNotMatch(res.headers.get('www-authenticate') ?? '', /error=/);
      await res.text();
    });

    test('a token granted only offline_access gets 403 insufficient_scope naming mcp', async () => {
      const client = await newClient();
      const { code, verifier } = await getCode(client, { scope: 'offline_access' });
      const tokens = (await (await exchange(client, code, verifier)).json()) as Tokens;
      const res = await mcp(tokens.access_token);
      assert.equal(res.status, 403);
      assert.match(
        res.headers.get('www-authenticate') ?? '',
        /^Bearer resource_metadata=".*", error="insufficient_scope", scope="mcp"$/,
      );
      assert.equal(((await res.json()) as { error: string }).error, 'insufficient_scope');
    });

    test('a request from a foreign Origin gets 403', async () => {
      const { tokens } = await connect();
      const res = await mcp(tokens.access_token, { origin: 'https://evil.example' });
      assert.equal(res.status, 403);
      await res.text();
    });
  });
});
