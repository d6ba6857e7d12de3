/**
 * Negative OAuth cases, part 1 (SPEC §2): /register, /authorize, sign-in and consent.
 * Every case asserts the exact HTTP status and OAuth error code (or, for
 * /authorize errors that must not redirect, a 400 page without Location);
 * none may produce a 5xx. One SQLite server for the file (useServer).
 */
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { authorizeInBrowser, Browser, hiddenField, pkce } from '../helpers/flow.js';
import {
  authorizeUrl,
  browser,
  connect,
  expectError,
  expectPage,
  expectRedirectError,
  mcp,
  newClient,
  REDIRECT,
  type RegisteredClient,
  register,
  server,
  user,
  useServer,
} from '../helpers/oauth-negative.js';

describe('OAuth negative cases: registration and authorization (SPEC §2, sqlite)', () => {
  useServer();

  describe('POST /register (RFC 7591)', () => {
    for (const [name, uri] of [
      ['an http redirect URI on a non-loopback host', 'http://example.com/callback'],
      ['a javascript: redirect URI', 'javascript:alert(1)'],
      ['a data: redirect URI', 'data:text/html,<script>alert(1)</script>'],
      ['a redirect URI with a fragment', 'https://app.example.com/cb#frag'],
      ['a relative redirect URI', '/callback'],
      ['a redirect URI with credentials', 'https://user:pass@app.example.com/cb'],
      ['an http redirect URI on a look-alike of localhost', 'http://localhost.evil.example/cb'],
    ] as const) {
      test(`${name} is refused with invalid_redirect_uri`, async () => {
        await expectError(await register({ redirect_uris: [uri] }), 400, 'invalid_redirect_uri');
      });
    }

    test('missing redirect_uris is refused with invalid_redirect_uri', async () => {
      await expectError(await register({ client_name: 'x' }), 400, 'invalid_redirect_uri');
    });

    test('redirect_uris that is not an array is refused with invalid_redirect_uri', async () => {
      await expectError(await register({ redirect_uris: REDIRECT }), 400, 'invalid_redirect_uri');
    });

    test('an empty redirect_uris array is refused with invalid_redirect_uri', async () => {
      await expectError(await register({ redirect_uris: [] }), 400, 'invalid_redirect_uri');
    });

    test('a body that is not valid JSON is refused with invalid_client_metadata', async () => {
      await expectError(await register('{"redirect_uris": ['), 400, 'invalid_client_metadata');
    });

    test('a body that is not application/json is refused with invalid_client_metadata', async () => {
      await expectError(
        await register({ redirect_uris: [REDIRECT] }, 'text/plain'),
        400,
        'invalid_client_metadata',
      );
    });

    test('an unknown scope is refused with invalid_client_metadata', async () => {
      await expectError(
        await register({ redirect_uris: [REDIRECT], scope: 'mcp admin:all' }),
        400,
        'invalid_client_metadata',
      );
    });

    test('an unknown token_endpoint_auth_method is refused with invalid_client_metadata', async () => {
      const res = await register({
        redirect_uris: [REDIRECT],
        token_endpoint_auth_method: 'private_key_jwt',
      });
      await expectError(res, 400, 'invalid_client_metadata');
    });

    for (const [name, meta] of [
      ['grant_types with implicit', { grant_types: ['authorization_code', 'implicit'] }],
      ['response_types with token', { response_types: ['token'] }],
      ['a client_name that is not a string', { client_name: 42 }],
    ] as const) {
      test(`${name} is refused with invalid_client_metadata`, async () => {
        await expectError(
          await register({ redirect_uris: [REDIRECT], ...meta }),
          400,
          'invalid_client_metadata',
        );
      });
    }

    test('a blank client_name registers and the connection is named "MCP Client"', async () => {
      const client = await newClient({ client_name: '   ' });
      const { tokens } = await connect(client);
      const res = await mcp(
        tokens.access_token,
        {},
        { jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'whoami', arguments: {} } },
      );
      assert.equal(res.status, 200);
      const body = (await res.json()) as { result: { structuredContent: { clientName: string } } };
      assert.equal(body.result.structuredContent.clientName, 'MCP Client');
    });
  });

  describe('GET /authorize', () => {
    let client: RegisteredClient;
    before(async () => {
      client = await newClient();
    });
    const get = (url: string) => browser.fetch(url);

    test('a request without code_challenge is redirected back with invalid_request', async () => {
      expectRedirectError(
        await get(authorizeUrl(client.client_id, { code_challenge: undefined })),
        'invalid_request',
      );
    });

    test('code_challenge_method=plain is redirected back with invalid_request', async () => {
      const res = await get(authorizeUrl(client.client_id, { code_challenge_method: 'plain' }));
      expectRedirectError(res, 'invalid_request');
    });

    test('a missing code_challenge_method is redirected back with invalid_request', async () => {
      const res = await get(authorizeUrl(client.client_id, { code_challenge_method: undefined }));
      expectRedirectError(res, 'invalid_request');
    });

    test('a malformed code_challenge is redirected back with invalid_request', async () => {
      expectRedirectError(
        await get(authorizeUrl(client.client_id, { code_challenge: 'short!' })),
        'invalid_request',
      );
    });

    test('a redirect_uri that was not registered is shown on a page, never redirected', async () => {
      await expectPage(
        await get(authorizeUrl(client.client_id, { redirect_uri: 'https://evil.example/cb' })),
      );
    });

    test('a loopback redirect URI registered without a port matches any port', async () => {
      const portless = await newClient({ redirect_uris: ['http://127.0.0.1/callback'] });
      const res = await get(
        authorizeUrl(portless.client_id, { redirect_uri: 'http://127.0.0.1:54321/callback' }),
      );
      assert.ok(res.status === 200 || res.status === 302, `status ${res.status}`);
      const location = res.headers.get('location');
      if (res.status === 302) assert.ok(location?.startsWith('/signin'), `redirected to ${location}`);
      await res.text();
    });

    test('a loopback redirect URI with a different path is shown on a page, never redirected', async () => {
      await expectPage(
        await get(authorizeUrl(client.client_id, { redirect_uri: 'http://127.0.0.1:8976/other' })),
      );
    });

    for (const [name, uri] of [
      ['userinfo', 'http://evil@127.0.0.1:8976/callback'],
      ['a dot-segment path', 'http://127.0.0.1:8976/x/../callback'],
      ['a hex-encoded loopback host', 'http://0x7f.0.0.1:8976/callback'],
      ['a different loopback host', 'http://localhost:8976/callback'],
    ] as const) {
      test(`a loopback redirect URI differing by ${name} (not only the port) is shown on a page`, async () => {
        await expectPage(await get(authorizeUrl(client.client_id, { redirect_uri: uri })));
      });
    }

    test('a wrong resource is redirected back with invalid_target, iss and the state', async () => {
      const res = await get(authorizeUrl(client.client_id, { resource: 'https://other.example/mcp' }));
      expectRedirectError(res, 'invalid_target');
    });

    test('an unknown scope is redirected back with invalid_scope', async () => {
      expectRedirectError(await get(authorizeUrl(client.client_id, { scope: 'mcp root' })), 'invalid_scope');
    });

    test('response_type=token is redirected back with unsupported_response_type', async () => {
      const res = await get(authorizeUrl(client.client_id, { response_type: 'token' }));
      expectRedirectError(res, 'unsupported_response_type');
    });

    test('a missing response_type is redirected back with invalid_request', async () => {
      expectRedirectError(
        await get(authorizeUrl(client.client_id, { response_type: undefined })),
        'invalid_request',
      );
    });

    test('an unknown client_id is shown on a page, never redirected', async () => {
      await expectPage(await get(authorizeUrl('no-such-client')));
    });

    test('a missing client_id is shown on a page, never redirected', async () => {
      await expectPage(await get(authorizeUrl(client.client_id, { client_id: undefined })));
    });

    test('a duplicated client_id is shown on a page, never redirected', async () => {
      await expectPage(await get(`${authorizeUrl(client.client_id)}&client_id=${client.client_id}`));
    });

    test('a duplicated code_challenge is redirected back with invalid_request', async () => {
      const res = await get(`${authorizeUrl(client.client_id)}&code_challenge=${pkce().challenge}`);
      expectRedirectError(res, 'invalid_request');
    });

    test('an omitted redirect_uri with several registered is shown on a page, never redirected', async () => {
      const two = await newClient({ redirect_uris: [REDIRECT, 'https://app.example.com/cb'] });
      await expectPage(await get(authorizeUrl(two.client_id, { redirect_uri: undefined })));
    });

    test('an empty resource is redirected back with invalid_target', async () => {
      expectRedirectError(await get(authorizeUrl(client.client_id, { resource: '' })), 'invalid_target');
    });
  });

  describe('sign-in and consent', () => {
    for (const next of ['/\\evil.example', '/\t/evil.example', '\\\\evil.example']) {
      test(`sign-in with next=${JSON.stringify(next)} stays on this origin`, async () => {
        const res = await new Browser(server.base).signIn(user.email, user.password, next);
        assert.equal(res.status, 303);
        assert.equal(new URL(res.headers.get('location') as string, server.base).origin, server.base);
      });
    }

    for (const next of ['//evil.example', 'https://evil.example']) {
      test(`sign-in with next=${next} returns to "/" (no open redirect)`, async () => {
        const fresh = new Browser(server.base);
        const page = await fresh.fetch(`/signin?next=${encodeURIComponent(next)}`);
        assert.equal(page.status, 200);
        assert.equal(hiddenField(await page.text(), 'next'), '/');
        const res = await fresh.signIn(user.email, user.password, next);
        assert.equal(res.status, 303);
        assert.equal(res.headers.get('location'), '/');
      });
    }

    async function consentPage(client: RegisteredClient): Promise<string> {
      const res = await browser.fetch(authorizeUrl(client.client_id));
      if (res.status === 302) {
        await browser.signIn(user.email, user.password);
        return consentPage(client);
      }
      assert.equal(res.status, 200);
      return res.text();
    }

    test('a consent POST with a wrong csrf token is refused on a 400 page', async () => {
      const page = await consentPage(await newClient());
      const res = await browser.postForm('/authorize/decision', {
        request: hiddenField(page, 'request'),
        csrf: 'not-the-csrf-token',
        decision: 'allow',
      });
      await expectPage(res);
    });

    test('a consent form answered twice is refused on a 400 page the second time', async () => {
      const page = await consentPage(await newClient());
      const form = {
        request: hiddenField(page, 'request'),
        csrf: hiddenField(page, 'csrf'),
        decision: 'allow',
      };
      const first = await browser.postForm('/authorize/decision', form);
      assert.equal(first.status, 303);
      await expectPage(await browser.postForm('/authorize/decision', form));
    });

    test('a consent form posted from another signed-in session is refused on a 400 page', async () => {
      const page = await consentPage(await newClient());
      const other = new Browser(server.base);
      assert.equal((await other.signIn(user.email, user.password)).status, 303);
      const res = await other.postForm('/authorize/decision', {
        request: hiddenField(page, 'request'),
        csrf: hiddenField(page, 'csrf'),
        decision: 'allow',
      });
      await expectPage(res);
    });

    test('a consent form posted from a foreign Origin is refused with 403', async () => {
      const page = await consentPage(await newClient());
      const res = await browser.postForm(
        '/authorize/decision',
        { request: hiddenField(page, 'request'), csrf: hiddenField(page, 'csrf'), decision: 'allow' },
        { origin: 'https://evil.example' },
      );
      assert.equal(res.status, 403);
      assert.equal(res.headers.get('location'), null);
      await res.text();
    });

    test('Deny redirects back with error=access_denied, the state and iss', async () => {
      const client = await newClient();
      const back = await authorizeInBrowser(browser, authorizeUrl(client.client_id), user, 'deny');
      assert.equal(back.searchParams.get('error'), 'access_denied');
      assert.equal(back.searchParams.get('state'), 'st-123');
      assert.equal(back.searchParams.get('iss'), server.base);
      assert.equal(back.searchParams.get('code'), null);
    });
  });
});
