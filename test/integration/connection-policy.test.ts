import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { z } from 'zod';
import type { RegisterTools } from '../../src/http/mcp/endpoint.js';
import { listAuditEvents } from '../../src/services/audit-events.js';
import { addUser, Browser, connectSdkClient, PASSWORD, TestOAuthProvider, whoami } from '../helpers/flow.js';
import { postgresSkip, startTestServer, TestClock, type TestServer } from '../helpers/server.js';
import {
  type RecordingUpstream,
  startRecordingUpstream,
  text,
  writeUpstreamsFile,
} from '../helpers/upstreams.js';

/** Two library tools beside the built-in whoami (SPEC §9 library mode). */
const libraryTools: RegisterTools = (server) => {
  for (const name of ['alpha', 'beta']) {
    server.registerTool(name, { inputSchema: { x: z.string().optional() } }, async () => ({
      content: [{ type: 'text', text: `${name} ran` }],
    }));
  }
};

async function signedIn(server: TestServer, email: string, role: string): Promise<Browser> {
  await addUser(server, email, role);
  const browser = new Browser(server.base);
  assert.equal((await browser.signIn(email, PASSWORD)).status, 303);
  return browser;
}

async function connect(server: TestServer, email: string, name: string) {
  const provider = new TestOAuthProvider(server, { email, password: PASSWORD }, name);
  const client = await connectSdkClient(server, provider);
  const me = await whoami(client);
  return { client, id: me.connectionId as string, token: provider.saved?.access_token as string };
}

/** One JSON-RPC request to /mcp, as any client sends it. */
function mcp(base: string, token: string, body: unknown, headers: Record<string, string> = {}) {
  return fetch(new URL('/mcp', base), {
    method: 'POST',
    headers: {
      authorization: `Bearer ${token}`,
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      ...headers,
    },
    body: JSON.stringify(body),
  });
}
const whoamiCall = { jsonrpc: '2.0', id: 7, method: 'tools/call', params: { name: 'whoami', arguments: {} } };

async function connectionJson(browser: Browser, id: string) {
  const res = await browser.fetch('/api/mcp-connections?limit=100');
  assert.equal(res.status, 200);
  const body = (await res.json()) as { items: Array<Record<string, unknown>> };
  const found = body.items.find((c) => c.id === id);
  assert.ok(found, `connection ${id} listed`);
  return found;
}

async function until<T>(read: () => Promise<T>, ok: (v: T) => boolean, withinMs = 5000): Promise<T> {
  const start = Date.now();
  for (;;) {
    const v = await read();
    if (ok(v) || Date.now() - start > withinMs) return v;
    await new Promise((r) => setTimeout(r, 50));
  }
}

const putTools = (b: Browser, id: string, body: unknown, origin = new URL(b.base).origin) =>
  b.fetch(`/api/mcp-connections/${id}/tools`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json', origin },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });

const names = async (client: Client) => (await client.listTools()).tools.map((t) => t.name).sort();

for (const kind of ['sqlite', 'postgres'] as const) {
  describe(`SPEC §12 last used (${kind})`, async () => {
    const skip = kind === 'postgres' ? await postgresSkip() : false;
    const clock = new TestClock();
    let server: TestServer;
    let behindProxy: TestServer;
    let admin: Browser;
    before(async () => {
      if (skip) return;
      server = await startTestServer(kind, { clock });
      behindProxy = await startTestServer(kind, { env: { TRUST_PROXY_HOPS: '1' } });
      admin = await signedIn(server, 'ops@example.com', 'admin');
    });
    after(async () => {
      await server?.stop();
      await behindProxy?.stop();
    });

    test('the connection JSON shows the last request’s time and IP, written at most once a minute', {
      skip,
    }, async () => {
      const { client, id } = await connect(server, 'ops@example.com', 'Last used');
      const first = await until(
        () => connectionJson(admin, id),
        (c) => c.lastUsedAt !== null,
      );
      assert.equal(first.lastUsedIp, '127.0.0.1');
      assert.equal(first.lastUsedAt, new Date(clock.now()).toISOString());
      // Within the minute: more requests, several flush ticks, and the row stays as it was.
      clock.advance(30_000);
      for (let i = 0; i < 5; i++) await whoami(client);
      await new Promise((r) => setTimeout(r, 1500));
      assert.equal((await connectionJson(admin, id)).lastUsedAt, first.lastUsedAt);
      // A minute after the write, the newest use is written.
      clock.advance(31_000);
      await whoami(client);
      const later = await until(
        () => connectionJson(admin, id),
        (c) => c.lastUsedAt !== first.lastUsedAt,
      );
      assert.equal(later.lastUsedAt, new Date(clock.now()).toISOString());
      await client.close();
    });

    test('a connection never used says null; shutdown writes what is still buffered', { skip }, async () => {
      const { client, id } = await connect(server, 'ops@example.com', 'Buffered');
      await until(
        () => connectionJson(admin, id),
        (c) => c.lastUsedAt !== null,
      );
      clock.advance(10_000);
      await whoami(client);
      // Not yet due (less than a minute since the write); flushing as shutdown does writes it.
      await server.services.lastUsed.flush();
      assert.equal((await connectionJson(admin, id)).lastUsedAt, new Date(clock.now()).toISOString());
      await client.close();
    });

    test('X-Forwarded-For is honoured only with TRUST_PROXY_HOPS', { skip }, async () => {
      const direct = await connect(server, 'ops@example.com', 'Direct');
      assert.equal(
        (await mcp(server.base, direct.token, whoamiCall, { 'x-forwarded-for': '203.0.113.7' })).status,
        200,
      );
      await server.services.lastUsed.flush();
      assert.equal((await connectionJson(admin, direct.id)).lastUsedIp, '127.0.0.1');

      await addUser(behindProxy, 'ops@example.com', 'admin');
      const proxied = await connect(behindProxy, 'ops@example.com', 'Proxied');
      const proxyAdmin = new Browser(behindProxy.base);
      await proxyAdmin.signIn('ops@example.com', PASSWORD);
      assert.equal(
        (await mcp(behindProxy.base, proxied.token, whoamiCall, { 'x-forwarded-for': '203.0.113.7' })).status,
        200,
      );
      await behindProxy.services.lastUsed.flush();
      assert.equal((await connectionJson(proxyAdmin, proxied.id)).lastUsedIp, '203.0.113.7');
      await direct.client.close();
      await proxied.client.close();
    });
  });

  describe(`SPEC §12 tools per connection, built-in and library tools (${kind})`, async () => {
    const skip = kind === 'postgres' ? await postgresSkip() : false;
    let server: TestServer;
    let admin: Browser;
    before(async () => {
      if (skip) return;
      server = await startTestServer(kind, { tools: [libraryTools] });
      admin = await signedIn(server, 'ops@example.com', 'admin');
    });
    after(async () => server?.stop());

    test('GET lists what the role may use; PUT narrows tools/list and tools/call; null restores', {
      skip,
    }, async () => {
      const { client, id } = await connect(server, 'ops@example.com', 'Narrowed');
      const listed = await admin.fetch(`/api/mcp-connections/${id}/tools`);
      assert.equal(listed.status, 200);
      assert.deepEqual(await listed.json(), { allow: null, available: ['whoami', 'alpha', 'beta'] });

      const put = await putTools(admin, id, { allow: ['alpha', 'whoami'] });
      assert.equal(put.status, 200);
      assert.deepEqual(await put.json(), { allow: ['alpha', 'whoami'] });
      assert.deepEqual(await names(client), ['alpha', 'whoami']);
      assert.equal(text(await client.callTool({ name: 'alpha', arguments: {} })), 'alpha ran');
      // Outside the list: exactly what a tool that does not exist gets.
      const refused = await client.callTool({ name: 'beta', arguments: {} });
      const unknown = await client.callTool({ name: 'gamma', arguments: {} });
      assert.equal(refused.isError, true);
      assert.equal(text(refused).replace('beta', 'X'), text(unknown).replace('gamma', 'X'));
      assert.match(text(refused), /Tool beta not found/);
      assert.deepEqual(await (await admin.fetch(`/api/mcp-connections/${id}/tools`)).json(), {
        allow: ['alpha', 'whoami'],
        available: ['whoami', 'alpha', 'beta'],
      });

      assert.equal((await putTools(admin, id, { allow: null })).status, 200);
      assert.deepEqual(await names(client), ['alpha', 'beta', 'whoami']);
      assert.equal(text(await client.callTool({ name: 'beta', arguments: {} })), 'beta ran');

      const audited = await listAuditEvents(server.services, { connectionId: id, limit: 50 });
      const changes = audited.items.filter((e) => e.action === 'connection.tools_changed');
      assert.equal(changes.length, 2);
      assert.deepEqual(
        changes.map((e) => e.detail.allow),
        [null, ['alpha', 'whoami']],
      );
      assert.ok(changes.every((e) => e.actor === 'ops@example.com'));
      await client.close();
    });

    test('an empty list leaves no tool at all', { skip }, async () => {
      const { client, id } = await connect(server, 'ops@example.com', 'Nothing');
      assert.equal((await putTools(admin, id, { allow: [] })).status, 200);
      assert.deepEqual(await names(client), []);
      await client.close();
    });

    test('permissions, same origin, bad input and unknown ids', { skip }, async () => {
      const { client, id } = await connect(server, 'ops@example.com', 'Guarded');
      const member = await signedIn(server, 'mo@example.com', 'member');
      const viewer = await signedIn(server, 'vi@example.com', 'viewer');
      assert.equal((await member.fetch(`/api/mcp-connections/${id}/tools`)).status, 403);
      assert.equal((await putTools(member, id, { allow: [] })).status, 403);
      assert.equal((await viewer.fetch(`/api/mcp-connections/${id}/tools`)).status, 200);
      assert.equal((await putTools(viewer, id, { allow: [] })).status, 403);
      assert.equal((await putTools(admin, id, { allow: [] }, 'https://evil.example')).status, 403);
      assert.equal((await new Browser(server.base).fetch(`/api/mcp-connections/${id}/tools`)).status, 401);
      for (const bad of [
        {},
        { allow: 'alpha' },
        { allow: [1] },
        { allow: [''] },
        { allow: ['a\u0000b'] },
        '{"allow":',
        '[]',
      ]) {
        const res = await putTools(admin, id, bad);
        assert.equal(res.status, 400, JSON.stringify(bad));
        assert.equal(typeof ((await res.json()) as { error?: unknown }).error, 'string');
      }
      assert.equal(
        (await putTools(admin, id, { allow: Array.from({ length: 501 }, (_, i) => `t${i}`) })).status,
        400,
      );
      assert.equal((await putTools(admin, 'no-such-connection', { allow: [] })).status, 404);
      assert.equal((await admin.fetch('/api/mcp-connections/no-such-connection/tools')).status, 404);
      // Nothing above changed the connection.
      assert.deepEqual(await names(client), ['alpha', 'beta', 'whoami']);
      await client.close();
    });
  });

  describe(`SPEC §12 tools per connection in gateway mode (${kind})`, async () => {
    const skip = kind === 'postgres' ? await postgresSkip() : false;
    let alpha: RecordingUpstream;
    let beta: RecordingUpstream;
    let server: TestServer;
    let admin: Browser;
    before(async () => {
      if (skip) return;
      alpha = await startRecordingUpstream({ label: 'alpha' });
      beta = await startRecordingUpstream({ label: 'beta' });
      const file = writeUpstreamsFile({
        upstreams: {
          alpha: { url: alpha.url, tools: { 'alpha-danger': ['owner'] } },
          beta: { url: beta.url },
        },
      });
      server = await startTestServer(kind, { env: { WAXSEAL_CONFIG: file } });
      admin = await signedIn(server, 'ops@example.com', 'admin');
    });
    after(async () => {
      await server?.stop();
      await alpha?.close();
      await beta?.close();
    });

    test('the allow-list names tools as the client sees them; others are unknown tools', {
      skip,
    }, async () => {
      const { client, id } = await connect(server, 'ops@example.com', 'Gateway narrowed');
      const all = await names(client);
      const available = (
        (await (await admin.fetch(`/api/mcp-connections/${id}/tools`)).json()) as {
          available: string[];
        }
      ).available;
      // What the role may use: alpha-danger is for owners only.
      assert.deepEqual([...available].sort(), all);
      assert.ok(!available.includes('alpha__alpha-danger'));

      assert.equal((await putTools(admin, id, { allow: ['alpha__search', 'whoami'] })).status, 200);
      assert.deepEqual(await names(client), ['alpha__search', 'whoami']);
      assert.equal(
        text(await client.callTool({ name: 'alpha__search', arguments: { q: 'x' } })),
        'alpha found x',
      );
      const calls = beta.seen.filter((r) => r.tool === 'search').length;
      const refused = await client.callTool({ name: 'beta__search', arguments: { q: 'x' } }).then(
        () => 'answered',
        (e: Error) => e.message,
      );
      const unknown = await client.callTool({ name: 'beta__nothing', arguments: {} }).then(
        () => 'answered',
        (e: Error) => e.message,
      );
      assert.equal(refused.replace('beta__search', 'X'), unknown.replace('beta__nothing', 'X'));
      assert.match(refused, /Tool beta__search not found/);
      assert.equal(beta.seen.filter((r) => r.tool === 'search').length, calls, 'never forwarded');

      assert.equal((await putTools(admin, id, { allow: null })).status, 200);
      assert.deepEqual(await names(client), all);
      await client.close();
    });
  });

  describe(`SPEC §12 rate limit per connection (${kind})`, async () => {
    const skip = kind === 'postgres' ? await postgresSkip() : false;
    const clock = new TestClock();
    let server: TestServer;
    before(async () => {
      if (skip) return;
      server = await startTestServer(kind, { clock, env: { MCP_REQUESTS_PER_MINUTE_PER_CONNECTION: '5' } });
      await addUser(server, 'ops@example.com', 'admin');
    });
    after(async () => server?.stop());

    test('over the limit: 429, Retry-After and a JSON-RPC error; the next window lets it through', {
      skip,
    }, async () => {
      const { client, token } = await connect(server, 'ops@example.com', 'Limited');
      await client.close();
      // connect() made some of the 5 requests of this minute; spend the rest.
      let ok = 0;
      let refused: Response | undefined;
      for (let i = 0; i < 10 && !refused; i++) {
        const res = await mcp(server.base, token, whoamiCall);
        if (res.status === 200) ok++;
        else refused = res;
        if (res.status === 200) await res.arrayBuffer();
      }
      assert.ok(refused, 'refused within 10 requests');
      assert.ok(ok < 5);
      assert.equal(refused.status, 429);
      const retry = Number(refused.headers.get('retry-after'));
      assert.ok(retry >= 1 && retry <= 60, `Retry-After ${retry}`);
      const body = (await refused.json()) as {
        jsonrpc: string;
        error: { code: number; message: string };
        id: null;
      };
      assert.equal(body.jsonrpc, '2.0');
      assert.equal(body.error.code, -32000);
      assert.match(body.error.message, /^Rate limit exceeded/);
      assert.equal(body.id, null);
      // Another connection has its own budget.
      const other = await connect(server, 'ops@example.com', 'Other');
      assert.equal((await mcp(server.base, other.token, whoamiCall)).status, 200);
      await other.client.close();
      // The window resets.
      clock.advance(61_000);
      assert.equal((await mcp(server.base, token, whoamiCall)).status, 200);
    });
  });
}
