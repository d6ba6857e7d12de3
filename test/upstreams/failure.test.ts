import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { type TestOAuthProvider, whoami } from '../helpers/flow.js';
import { freePort, startTestServer, type TestServer } from '../helpers/server.js';
import {
  CALL_PATHS,
  type EverythingProcess,
  type RecordingUpstream,
  signIn,
  startEverythingHttp,
  startRecordingUpstream,
  text,
  writeUpstreamsFile,
} from '../helpers/upstreams.js';

interface Readiness {
  status: string;
  database: { status: string };
  upstreams: Record<string, { status: string; transport: string; error?: string }>;
}

async function readyz(server: TestServer): Promise<{ status: number; body: Readiness }> {
  const res = await fetch(`${server.base}/readyz`);
  return { status: res.status, body: (await res.json()) as Readiness };
}

for (const { path, env } of CALL_PATHS) {
  describe(`issue #7: a dead or slow upstream never takes Waxseal down, ${path}`, () => {
    let doomed: EverythingProcess;
    let steady: RecordingUpstream;
    let server: TestServer;
    let client: Client;
    let provider: TestOAuthProvider;

    before(async () => {
      doomed = await startEverythingHttp();
      steady = await startRecordingUpstream({ label: 'steady' });
      const file = writeUpstreamsFile({
        upstreams: {
          doomed: { url: doomed.url, timeoutMs: 3000 },
          steady: { url: steady.url, timeoutMs: 1000 },
        },
      });
      server = await startTestServer('sqlite', { env: { WAXSEAL_CONFIG: file, ...env } });
      ({ client, provider } = await signIn(server, 'linus@example.com', 'member'));
    });
    after(async () => {
      await client?.close();
      await server?.stop();
      await steady?.close();
      await doomed?.kill();
    });

    test('/readyz reports each upstream', async () => {
      const { status, body } = await readyz(server);
      assert.equal(status, 200);
      assert.equal(body.status, 'ready');
      assert.equal(body.database.status, 'up');
      assert.deepEqual(
        Object.fromEntries(Object.entries(body.upstreams).map(([k, v]) => [k, [v.transport, v.status]])),
        { doomed: ['http', 'up'], steady: ['http', 'up'] },
      );
    });

    test('a slow upstream gives its caller an MCP error within its timeout', async () => {
      const started = Date.now();
      await assert.rejects(
        client.callTool({ name: 'steady__slow', arguments: { ms: 5000 } }),
        /Upstream "steady" did not answer within 1000 ms/,
      );
      const took = Date.now() - started;
      assert.ok(took >= 1000 && took < 2500, `answered after ${took} ms`);
    });

    test('a client that hangs up mid-call gets the upstream request cancelled', async () => {
      const token = provider.saved?.access_token as string;
      const hangUp = new AbortController();
      const res = await fetch(`${server.base}/mcp`, {
        method: 'POST',
        signal: hangUp.signal,
        headers: {
          authorization: `Bearer ${token}`,
          'content-type': 'application/json',
          accept: 'application/json, text/event-stream',
        },
        body: JSON.stringify({
          jsonrpc: '2.0',
          id: 77,
          method: 'tools/call',
          params: { name: 'steady__slow', arguments: { ms: 800 } },
        }),
      });
      assert.equal(res.headers.get('content-type'), 'text/event-stream');
      const deadline = Date.now() + 2000;
      while (!steady.seen.some((r) => r.tool === 'slow' && r.method === 'tools/call')) {
        assert.ok(Date.now() < deadline, 'the call reached the upstream');
        await new Promise((r) => setTimeout(r, 10));
      }
      hangUp.abort();
      while (!steady.seen.some((r) => r.method === 'notifications/cancelled')) {
        assert.ok(Date.now() < deadline, 'the upstream was told to cancel');
        await new Promise((r) => setTimeout(r, 10));
      }
    });

    test('an upstream killed mid-call gives an error at once; the others keep working', async () => {
      const namesWhileUp = (await client.listTools()).tools.map((t) => t.name);
      let killedAt = 0;
      const call = client.callTool(
        { name: 'doomed__trigger-long-running-operation', arguments: { duration: 20, steps: 20 } },
        undefined,
        {
          onprogress: () => {
            if (killedAt === 0) {
              killedAt = Date.now();
              void doomed.kill();
            }
          },
        },
      );
      await assert.rejects(call, /Upstream "doomed" (is unavailable|did not answer)/);
      const took = Date.now() - killedAt;
      assert.ok(killedAt > 0 && took < 3000, `error ${took} ms after the kill, within the 3000 ms timeout`);

      assert.equal(
        text(await client.callTool({ name: 'steady__steady-echo', arguments: { text: 'still here' } })),
        'steady: still here',
      );
      assert.equal((await whoami(client)).userEmail, 'linus@example.com');
      const names = (await client.listTools()).tools.map((t) => t.name);
      assert.ok(names.includes('steady__steady-echo') && names.includes('whoami'));
      assert.ok(!names.includes('doomed__echo'), "the dead upstream's tools are left out");
      assert.deepEqual(
        names,
        namesWhileUp.filter((n) => !n.startsWith('doomed__')),
        'the tools left keep the names they had while every upstream was up',
      );
      await assert.rejects(
        client.callTool({ name: 'doomed__echo', arguments: { message: 'x' } }),
        /Upstream "doomed" is unavailable/,
      );
    });

    test('/readyz stays 200, degraded, naming the upstream that is down', async () => {
      const { status, body } = await readyz(server);
      assert.equal(status, 200);
      assert.equal(body.status, 'degraded');
      assert.equal(body.database.status, 'up');
      assert.equal(body.upstreams.doomed?.status, 'down');
      assert.equal(body.upstreams.steady?.status, 'up');
      assert.equal((await fetch(`${server.base}/healthz`)).status, 200);
    });

    test('an upstream that comes back has forgotten its sessions: the next call opens a new one', async () => {
      const stored = await server.services.store.db.selectFrom('upstream_sessions').selectAll().execute();
      const before = stored.find((r) => r.upstream === 'doomed')?.session_id;
      assert.ok(before, 'a session was stored for the connection');
      doomed = await startEverythingHttp(Number(new URL(doomed.url).port));
      assert.equal(
        text(await client.callTool({ name: 'doomed__echo', arguments: { message: 'back' } })),
        'Echo: back',
      );
      const after = await server.services.store.db.selectFrom('upstream_sessions').selectAll().execute();
      const now = after.find((r) => r.upstream === 'doomed')?.session_id;
      assert.ok(now && now !== before, 'a new session replaced the forgotten one');
      assert.equal((await readyz(server)).body.status, 'ready');
    });
  });
}

describe('issue #7: upstreams that cannot be started or reached', () => {
  let server: TestServer;
  let client: Client;

  before(async () => {
    const closed = await freePort();
    const file = writeUpstreamsFile({
      upstreams: {
        missing: { command: '/nonexistent/mcp-server', timeoutMs: 2000 },
        refused: { url: `http://127.0.0.1:${closed}/mcp`, timeoutMs: 2000 },
      },
    });
    server = await startTestServer('sqlite', { env: { WAXSEAL_CONFIG: file } });
    ({ client } = await signIn(server, 'dennis@example.com', 'member'));
  });
  after(async () => {
    await client?.close();
    await server?.stop();
  });

  test('lists still answer with what works, and calls get a clear MCP error naming the upstream', async () => {
    assert.deepEqual(
      (await client.listTools()).tools.map((t) => t.name),
      ['whoami'],
    );
    assert.deepEqual((await client.listPrompts()).prompts, []);
    assert.deepEqual((await client.listResources()).resources, []);
    await assert.rejects(
      client.callTool({ name: 'missing__anything', arguments: {} }),
      /Upstream "missing" is unavailable: .*ENOENT/,
    );
    await assert.rejects(
      client.callTool({ name: 'refused__anything', arguments: {} }),
      /Upstream "refused" is unavailable: .*ECONNREFUSED/,
    );
    assert.equal((await whoami(client)).userEmail, 'dennis@example.com');
    const ready = await readyz(server);
    assert.equal(ready.status, 200);
    assert.equal(ready.body.status, 'degraded');
    assert.equal(ready.body.upstreams.missing?.status, 'down');
    assert.equal(ready.body.upstreams.missing?.transport, 'stdio');
    assert.equal(ready.body.upstreams.refused?.status, 'down');
  });
});
