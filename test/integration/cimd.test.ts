import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import pino from 'pino';
import { loadConfig } from '../../src/config.js';
import { openServices } from '../../src/server.js';
import { createUser } from '../../src/services/users.js';
import { connectSdkClient, PASSWORD, pkce, TestOAuthProvider, whoami } from '../helpers/flow.js';
import { type Instance, startInstance } from '../helpers/processes.js';
import {
  createTestDatabase,
  freePort,
  SECRET,
  startTestServer,
  type TestDatabase,
  type TestServer,
} from '../helpers/server.js';

/** Serves client metadata documents over https with a self-signed certificate, as a client's website would. */
async function startDocumentHost(dir: string) {
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-days',
      '1',
      '-subj',
      '/CN=localhost',
      '-addext',
      'subjectAltName=DNS:localhost,IP:127.0.0.1',
      '-keyout',
      join(dir, 'key.pem'),
      '-out',
      join(dir, 'cert.pem'),
    ],
    { stdio: 'ignore' },
  );
  const port = await freePort();
  const base = `https://localhost:${port}`;
  const docs = new Map<string, { status?: number; body: string; cacheControl?: string }>();
  let fetches = 0;
  const server: Server = createServer(
    { key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(join(dir, 'cert.pem')) },
    (req, res) => {
      fetches++;
      const doc = docs.get(req.url ?? '');
      if (!doc) return res.writeHead(404).end();
      res.writeHead(doc.status ?? 200, {
        'content-type': 'application/json',
        'cache-control': doc.cacheControl ?? 'max-age=60',
      });
      res.end(doc.body);
    },
  );
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return {
    base,
    certFile: join(dir, 'cert.pem'),
    docs,
    fetches: () => fetches,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

describe('SPEC §2 Client ID Metadata Documents', () => {
  let db: TestDatabase;
  let host: Awaited<ReturnType<typeof startDocumentHost>>;
  let instance: Instance;
  let publicUrl: string;
  before(async () => {
    db = await createTestDatabase('sqlite');
    host = await startDocumentHost(db.dir);
    const port = await freePort();
    publicUrl = `http://127.0.0.1:${port}`;
    const env = {
      DATABASE_URL: db.url,
      PUBLIC_URL: publicUrl,
      WAXSEAL_SECRET: SECRET,
      NODE_EXTRA_CA_CERTS: host.certFile,
      // The document host is on loopback here; in production private addresses are refused.
      WAXSEAL_CIMD_ALLOW_PRIVATE_HOSTS: '1',
    };
    const admin = await openServices(loadConfig({ ...env, LOG_LEVEL: 'silent' }), {
      log: pino({ level: 'silent' }),
    });
    await createUser(admin, { email: 'dev@example.com', password: PASSWORD, role: 'member' }, 'test');
    await admin.store.close();
    instance = await startInstance(env, port);
  });
  after(async () => {
    await instance?.kill();
    await host?.close();
    await db?.drop();
  });

  const authorizeStatus = async (clientId: string, redirectUri: string) => {
    const url = new URL('/authorize', publicUrl);
    url.search = new URLSearchParams({
      client_id: clientId,
      redirect_uri: redirectUri,
      response_type: 'code',
      code_challenge: pkce().challenge,
      code_challenge_method: 'S256',
    }).toString();
    const res = await fetch(url, { redirect: 'manual' });
    return { status: res.status, location: res.headers.get('location'), body: await res.text() };
  };

  test('the authorization-server metadata advertises client_id_metadata_document_supported', async () => {
    const meta = (await (
      await fetch(`${publicUrl}/.well-known/oauth-authorization-server`)
    ).json()) as Record<string, unknown>;
    assert.equal(meta.client_id_metadata_document_supported, true);
  });

  test('the SDK client connects with a URL client_id, and a portless loopback redirect matches its ephemeral port', async () => {
    const clientId = `${host.base}/oauth/claude-code-client-metadata`;
    host.docs.set('/oauth/claude-code-client-metadata', {
      body: JSON.stringify({
        client_id: clientId,
        client_name: 'Claude Code',
        redirect_uris: ['http://localhost/callback', 'http://127.0.0.1/callback'],
        token_endpoint_auth_method: 'none',
      }),
    });
    const server = { base: publicUrl } as TestServer;
    const provider = new TestOAuthProvider(
      server,
      { email: 'dev@example.com', password: PASSWORD },
      'ignored',
      'http://localhost:53682/callback',
    );
    Object.defineProperty(provider, 'clientMetadataUrl', { value: clientId });
    const client = await connectSdkClient(server, provider);
    const me = await whoami(client);
    assert.equal(me.clientName, 'Claude Code');
    assert.equal(provider.info?.client_id, clientId, 'no dynamic registration happened');
    await client.close();
  });

  test('a document whose client_id differs from its URL is refused on a page, not redirected', async () => {
    host.docs.set('/liar', {
      body: JSON.stringify({
        client_id: 'https://other.example/doc',
        redirect_uris: ['https://app.example/cb'],
      }),
    });
    const res = await authorizeStatus(`${host.base}/liar`, 'https://app.example/cb');
    assert.equal(res.status, 400);
    assert.equal(res.location, null);
    assert.match(res.body, /names another client_id/);
  });

  test('a redirect URI the document does not list is refused on a page', async () => {
    const id = `${host.base}/strict`;
    host.docs.set('/strict', {
      body: JSON.stringify({ client_id: id, redirect_uris: ['https://app.example/cb'] }),
    });
    const res = await authorizeStatus(id, 'https://evil.example/cb');
    assert.equal(res.status, 400);
    assert.equal(res.location, null);
  });

  test('an oversized, missing or non-JSON document is refused', async () => {
    host.docs.set('/huge', { body: JSON.stringify({ client_id: 'x', pad: 'x'.repeat(70_000) }) });
    host.docs.set('/notjson', { body: '<html>hi</html>' });
    assert.match(
      (await authorizeStatus(`${host.base}/huge`, 'https://app.example/cb')).body,
      /larger than 64 KiB/,
    );
    assert.match((await authorizeStatus(`${host.base}/notjson`, 'https://app.example/cb')).body, /not JSON/);
    assert.match((await authorizeStatus(`${host.base}/missing`, 'https://app.example/cb')).body, /HTTP 404/);
  });

  test('a document is cached by its HTTP lifetime', async () => {
    const id = `${host.base}/cached`;
    host.docs.set('/cached', {
      body: JSON.stringify({ client_id: id, redirect_uris: ['https://app.example/cb'] }),
      cacheControl: 'max-age=300',
    });
    const before = host.fetches();
    for (let i = 0; i < 3; i++)
      assert.equal((await authorizeStatus(id, 'https://app.example/cb')).status, 302);
    assert.equal(host.fetches() - before, 1);
  });
});

describe('SPEC §2 metadata documents are not an SSRF door', () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer('sqlite');
  });
  after(async () => server?.stop());

  for (const clientId of [
    'https://127.0.0.1:1/client.json',
    'https://localhost:1/client.json',
    'https://[::1]:1/client.json',
    'https://10.1.2.3/client.json',
    'https://169.254.169.254/latest/meta-data',
    'http://app.example/client.json',
    'https://app.example/',
  ]) {
    test(`client_id ${clientId} is refused without any request to it`, async () => {
      const url = new URL('/authorize', server.base);
      url.search = new URLSearchParams({
        client_id: clientId,
        redirect_uri: 'https://app.example/cb',
        response_type: 'code',
        code_challenge: pkce().challenge,
        code_challenge_method: 'S256',
      }).toString();
      const res = await fetch(url, { redirect: 'manual' });
      assert.equal(res.status, 400);
      assert.equal(res.headers.get('location'), null);
      assert.match(await res.text(), /private address|must use https|must have a path/);
    });
  }
});
