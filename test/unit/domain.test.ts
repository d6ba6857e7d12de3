import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ConfigError, loadConfig } from '../../src/config.js';
import { can, PERMISSIONS, permissionsOf } from '../../src/domain/permissions.js';
import { matchesRegistered, redirectUriProblem } from '../../src/domain/redirect-uris.js';
import { rotationFor } from '../../src/domain/rotation.js';
import { parseScopes } from '../../src/domain/scopes.js';
import {
  apiKeyDisplayPrefix,
  base62,
  deriveApiKey,
  hashPassword,
  seal,
  unseal,
  verifyPassword,
} from '../../src/domain/secrets.js';

describe('SPEC §1 configuration', () => {
  test('defaults give localhost:3000 on SQLite with the wax_sk_ prefix', () => {
    const c = loadConfig({});
    assert.equal(c.port, 3000);
    assert.equal(c.host, '127.0.0.1');
    assert.equal(c.publicUrl, 'http://localhost:3000');
    assert.equal(c.mcpUrl, 'http://localhost:3000/mcp');
    assert.equal(c.databaseUrl, 'sqlite:./data/waxseal.db');
    assert.equal(c.apiKeyPrefix, 'wax_sk_');
    assert.equal(c.logLevel, 'info');
  });

  test('PUBLIC_URL derives the issuer and resource, without a trailing slash', () => {
    const c = loadConfig({ PUBLIC_URL: 'https://mcp.example.com/' });
    assert.equal(c.publicUrl, 'https://mcp.example.com');
    assert.equal(c.mcpUrl, 'https://mcp.example.com/mcp');
    assert.equal(c.secureCookies, true);
  });

  const bad: [Record<string, string>, RegExp][] = [
    [{ PORT: 'eighty' }, /^PORT: /],
    [{ PORT: '70000' }, /^PORT: must be 1-65535/],
    [{ PUBLIC_URL: 'not a url' }, /^PUBLIC_URL: must be an absolute URL/],
    [{ PUBLIC_URL: 'ftp://x.example' }, /^PUBLIC_URL: must start with http/],
    [{ PUBLIC_URL: 'https://x.example/sub' }, /^PUBLIC_URL: must be an origin/],
    [{ DATABASE_URL: 'mysql://x' }, /^DATABASE_URL: must be sqlite:/],
    [{ LOG_LEVEL: 'loud' }, /^LOG_LEVEL: /],
    [{ API_KEY_PREFIX: 'has space' }, /^API_KEY_PREFIX: /],
    [{ WAXSEAL_ADMIN_EMAIL: 'a@b.co' }, /must be set together/],
    [{ WAXSEAL_SECRET: 'short' }, /^WAXSEAL_SECRET: must be at least 32/],
    // SPEC §13 audit stream.
    [{ AUDIT_WEBHOOK_URL: 'ftp://siem.example' }, /^AUDIT_WEBHOOK_URL: must start with http/],
    [{ AUDIT_WEBHOOK_URL: 'http://siem.example/in' }, /^AUDIT_WEBHOOK_URL: must be an https/],
    [{ AUDIT_WEBHOOK_URL: 'https://siem.example/in' }, /^AUDIT_WEBHOOK_URL and AUDIT_WEBHOOK_SECRET/],
    [{ AUDIT_WEBHOOK_SECRET: 'x'.repeat(40) }, /^AUDIT_WEBHOOK_URL and AUDIT_WEBHOOK_SECRET/],
    [
      { AUDIT_WEBHOOK_SECRET: 'short', AUDIT_WEBHOOK_URL: 'https://siem.example/in' },
      /^AUDIT_WEBHOOK_SECRET: must be at least 32 characters \(value hidden\)$/,
    ],
    // SPEC §12 maximum age.
    [{ CONNECTION_MAX_AGE_DAYS: '0' }, /^CONNECTION_MAX_AGE_DAYS: must be 1-36500/],
    [{ CONNECTION_MAX_AGE_DAYS: '1.5' }, /^CONNECTION_MAX_AGE_DAYS: must be a whole number/],
  ];
  test('the audit stream and maximum age are off by default; loopback http and 32-character secrets pass', () => {
    const off = loadConfig({});
    assert.equal(off.auditWebhook, undefined);
    assert.equal(off.connectionMaxAgeMs, undefined);
    const on = loadConfig({
      AUDIT_WEBHOOK_URL: 'http://127.0.0.1:9999/audit',
      AUDIT_WEBHOOK_SECRET: 's'.repeat(32),
      CONNECTION_MAX_AGE_DAYS: '90',
    });
    assert.deepEqual(on.auditWebhook, { url: 'http://127.0.0.1:9999/audit', secret: 's'.repeat(32) });
    assert.equal(on.connectionMaxAgeMs, 90 * 86_400_000);
  });

  for (const [env, message] of bad) {
    test(`a bad ${Object.keys(env)[0]} (${Object.values(env)[0]}) stops start-up with one line naming it`, () => {
      assert.throws(
        () => loadConfig(env),
        (err: unknown) =>
          err instanceof ConfigError && message.test(err.message) && !err.message.includes('\n'),
      );
    });
  }
});

describe('SPEC §5 permissions', () => {
  test('owner and admin may read and revoke; viewer may read; member neither', () => {
    assert.deepEqual(
      (['owner', 'admin', 'viewer', 'member'] as const).map((r) => [
        can(r, PERMISSIONS.MCP_CONNECTIONS_READ),
        can(r, PERMISSIONS.MCP_CONNECTIONS_REVOKE),
      ]),
      [
        [true, true],
        [true, true],
        [true, false],
        [false, false],
      ],
    );
    assert.equal(PERMISSIONS.MCP_CONNECTIONS_READ, 'api-keys:read');
    assert.equal(PERMISSIONS.MCP_CONNECTIONS_REVOKE, 'api-keys:revoke');
    assert.ok(permissionsOf('owner').includes('members:manage'));
    assert.ok(!permissionsOf('admin').includes('members:manage'));
  });
});

describe('SPEC §2 redirect URIs (RFC 8252, RFC 9700)', () => {
  const allowed = [
    'https://claude.ai/api/mcp/auth_callback',
    'http://127.0.0.1:5173/callback',
    'http://[::1]/cb',
    'http://localhost/callback',
    'com.example.app:/oauth2redirect',
    'cursor://anysphere.cursor-retrieval/oauth/callback',
  ];
  for (const uri of allowed)
    test(`${uri} may be registered`, () => assert.equal(redirectUriProblem(uri), null));
  const refused = [
    'http://example.com/cb',
    'https://example.com/cb#frag',
    'javascript:alert(1)',
    'data:text/html,hi',
    'file:///etc/passwd',
    'relative/path',
    'https://user:pw@example.com/cb',
  ];
  for (const uri of refused) test(`${uri} is refused`, () => assert.notEqual(redirectUriProblem(uri), null));

  test('a loopback redirect matches on any port, nothing else does', () => {
    const reg = ['http://localhost/callback', 'http://127.0.0.1/callback', 'https://app.example/cb'];
    assert.ok(matchesRegistered('http://localhost:61234/callback', reg));
    assert.ok(matchesRegistered('http://127.0.0.1:9/callback', reg));
    assert.ok(!matchesRegistered('http://localhost:61234/other', reg));
    assert.ok(!matchesRegistered('http://127.0.0.2:80/callback', reg));
    assert.ok(!matchesRegistered('https://app.example:444/cb', reg));
    assert.ok(matchesRegistered('https://app.example/cb', reg));
  });
});

describe('SPEC §2 scopes', () => {
  test('no scope means mcp; unknown scopes are invalid_scope', () => {
    assert.deepEqual(parseScopes(undefined), ['mcp']);
    assert.deepEqual(parseScopes('mcp offline_access'), ['mcp', 'offline_access']);
    assert.throws(() => parseScopes('mcp admin'), { code: 'invalid_scope' });
  });
});

describe('SPEC §2 refresh rotation states', () => {
  test('current rotates, grace retries, spent and discarded are reuse, revoked is dead', () => {
    assert.equal(rotationFor('current', true).kind, 'rotate');
    assert.equal(rotationFor('grace', false).kind, 'retry');
    assert.equal(rotationFor('spent', false).kind, 'reuse');
    assert.equal(rotationFor('discarded', false).kind, 'reuse');
    assert.equal(rotationFor('revoked', false).kind, 'dead');
  });
});

describe('secrets', () => {
  test('API keys are the prefix plus 43 base62 characters, derived and stable per ref', () => {
    const secret = Buffer.from('s'.repeat(32));
    const key = deriveApiKey(secret, 'wax_sk_', 'ref-1');
    assert.match(key, /^wax_sk_[0-9A-Za-z]{43}$/);
    assert.equal(deriveApiKey(secret, 'wax_sk_', 'ref-1'), key);
    assert.notEqual(deriveApiKey(secret, 'wax_sk_', 'ref-2'), key);
    assert.notEqual(deriveApiKey(Buffer.from('t'.repeat(32)), 'wax_sk_', 'ref-1'), key);
    assert.equal(apiKeyDisplayPrefix(key, 'wax_sk_'), key.slice(0, 13));
  });

  test('base62 keeps a fixed width for a byte count', () => {
    assert.equal(base62(Buffer.alloc(32)).length, 43);
    assert.equal(base62(Buffer.alloc(32, 0xff)).length, 43);
  });

  test('passwords are scrypt hashes that verify only the right password', async () => {
    const hash = await hashPassword('hunter2hunter2');
    assert.match(hash, /^scrypt\$32768\$8\$1\$/);
    assert.ok(!hash.includes('hunter2'));
    assert.equal(await verifyPassword('hunter2hunter2', hash), true);
    assert.equal(await verifyPassword('hunter3hunter3', hash), false);
  });

  test('sealed values open only with the same secret', () => {
    const a = Buffer.from('a'.repeat(32));
    const sealed = seal(a, 'totp', 'JBSWY3DPEHPK3PXP');
    assert.ok(!sealed.includes('JBSWY3DPEHPK3PXP'));
    assert.equal(unseal(a, 'totp', sealed), 'JBSWY3DPEHPK3PXP');
    assert.throws(() => unseal(Buffer.from('b'.repeat(32)), 'totp', sealed));
  });
});
