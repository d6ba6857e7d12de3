/**
 * Issue 11: a malformed percent-escape in the path (`%FF`, `%C0`, a lone `%`)
 * is the client's mistake. Every router, every method answers a 4xx in its JSON
 * error format — never a 500 — and the server logs no stack for it.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import pino from 'pino';
import { loadConfig } from '../../src/config.js';
import { openServices } from '../../src/server.js';
import { createScimToken } from '../../src/services/scim-tokens.js';
import { PASSWORD } from '../helpers/flow.js';
import { type Instance, startInstance } from '../helpers/processes.js';
import { createTestDatabase, freePort, SECRET, type TestDatabase } from '../helpers/server.js';

const METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'];
/** Under every router: the admin API (routes with parameters), the dashboard, OAuth, metadata, /mcp. */
const PATHS = [
  '/api/%FF',
  '/api/%C0%AF',
  '/api/mcp-connections/%C0',
  '/api/mcp-connections/%FF/revoke',
  '/api/mcp-connections/%E0%80/regenerate-key',
  '/api/members/%FF',
  '/api/audit/%FF',
  '/api/upstreams/%FF',
  '/api/%',
  '/%FF',
  '/settings/%FF',
  '/settings/mcp-connections/%FF',
  '/authorize/%FF',
  '/signin/%FF',
  '/setup/%FF',
  '/.well-known/%FF',
  '/.well-known/oauth-protected-resource/%FF',
  '/.well-known/oauth-authorization-server/%FF',
  '/mcp/%FF',
  '/assets-web/%FF',
];

describe('issue 11 malformed percent-escapes in the path', () => {
  let db: TestDatabase;
  let instance: Instance;
  before(async () => {
    db = await createTestDatabase('sqlite');
    const port = await freePort();
    instance = await startInstance(
      {
        DATABASE_URL: db.url,
        PUBLIC_URL: `http://127.0.0.1:${port}`,
        WAXSEAL_SECRET: SECRET,
        WAXSEAL_ADMIN_EMAIL: 'owner@example.com',
        WAXSEAL_ADMIN_PASSWORD: PASSWORD,
        LOG_LEVEL: 'info',
      },
      port,
    );
  });
  after(async () => {
    await instance?.kill();
    await db?.drop();
  });

  test('every router and method answers a 4xx in the JSON error format, never a 500', async () => {
    for (const method of METHODS) {
      for (const path of PATHS) {
        const res = await fetch(`${instance.url}${path}`, {
          method,
          headers: { origin: instance.url, 'content-type': 'application/json' },
          body: method === 'GET' ? undefined : '{}',
        });
        const what = `${method} ${path}`;
        assert.ok(res.status >= 400 && res.status < 500, `${what} answers 4xx, got ${res.status}`);
        const body = (await res.json()) as { error?: unknown; error_description?: unknown };
        assert.equal(typeof body.error, 'string', `${what} has an error code`);
        assert.equal(typeof body.error_description, 'string', `${what} explains itself`);
      }
    }
  });

  test('under /api a malformed escape is a 400 bad_request, signed out or not', async () => {
    for (const path of ['/api/%FF', '/api/mcp-connections/%C0', '/api/mcp-connections/%C0/revoke']) {
      const res = await fetch(`${instance.url}${path}`);
      assert.equal(res.status, 400, path);
      assert.deepEqual(await res.json(), {
        error: 'bad_request',
        error_description: 'The request path has a malformed percent-escape',
      });
    }
  });

  test('under /scim/v2 a malformed escape is a SCIM error (RFC 7644 §3.12): 401 without a token, 400 with one', async () => {
    const admin = await openServices(
      loadConfig({ DATABASE_URL: db.url, WAXSEAL_SECRET: SECRET, LOG_LEVEL: 'silent' }),
      {
        log: pino({ level: 'silent' }),
      },
    );
    const { token } = await createScimToken(admin, 'malformed', 'test').finally(() => admin.store.close());
    const paths = [
      '/scim/v2/%FF',
      '/scim/v2/Users/%FF',
      '/scim/v2/Groups/%C0%AF',
      '/scim/v2/Schemas/%E0%80',
      '/scim/v2/%',
    ];
    for (const method of METHODS) {
      for (const path of paths) {
        for (const authorization of [undefined, `Bearer ${token}`]) {
          const res = await fetch(`${instance.url}${path}`, {
            method,
            headers: { 'content-type': 'application/scim+json', ...(authorization ? { authorization } : {}) },
            body: method === 'GET' ? undefined : '{}',
          });
          const what = `${method} ${path} ${authorization ? 'with' : 'without'} a token`;
          assert.equal(res.status, authorization ? 400 : 401, what);
          const body = (await res.json()) as { schemas?: unknown; status?: unknown; detail?: unknown };
          assert.deepEqual(body.schemas, ['urn:ietf:params:scim:api:messages:2.0:Error'], what);
          assert.equal(body.status, String(res.status), what);
          assert.equal(typeof body.detail, 'string', what);
        }
      }
    }
  });

  test('the log shows no error and no stack for any of them', async () => {
    const out = instance.output();
    assert.doesNotMatch(out, /unhandled error/);
    assert.doesNotMatch(out, /URIError|\bat .+:\d+:\d+\)?/);
    assert.doesNotMatch(out, /"level":50/);
  });
});
