import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { FetchLike } from '@modelcontextprotocol/sdk/shared/transport.js';
import {
  LoggingMessageNotificationSchema,
  ToolListChangedNotificationSchema,
} from '@modelcontextprotocol/sdk/types.js';
import { revokeConnection } from '../../src/services/connections.js';
import type { Services } from '../../src/services/context.js';
import { createUser, disableUser } from '../../src/services/users.js';
import { PASSWORD, whoami } from '../helpers/flow.js';
import type { Instance } from '../helpers/processes.js';
import { postgresSkip } from '../helpers/server.js';
import { startTwoInstances, type TwoInstances } from '../helpers/two-instances.js';
import {
  type StreamingProcess,
  signedInClient,
  startStreamingHttp,
  streamingStdio,
  writeUpstreamsFile,
} from '../helpers/upstreams.js';

const skip = await postgresSkip();

/** One log message of the streaming upstream's `burst`, as the client received it. */
interface Received {
  i: number;
  sentAt: number;
  receivedAt: number;
  padBytes: number;
  pad: string;
}

const percentile = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] as number;

async function until(what: string, ok: () => boolean, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!ok()) {
    assert.ok(Date.now() < deadline, what);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** A raw GET /mcp: resolves `ended` (with the time) when the stream ends. */
async function openStream(base: string, token: string) {
  const res = await fetch(`${base}/mcp`, {
    headers: { authorization: `Bearer ${token}`, accept: 'text/event-stream' },
  });
  assert.equal(res.status, 200);
  const ended = (async () => {
    try {
      for await (const _ of res.body as unknown as AsyncIterable<Uint8Array>);
    } catch {
      // cut: ended as well
    }
    return performance.now();
  })();
  return { ended };
}

/**
 * SPEC §11 across instances (issue #14): two `waxseal serve` processes, A and B,
 * on one PostgreSQL database, PUBLIC_URL a balancer. The official SDK client's
 * own fetch sends its GET /mcp (the connection's stream) to A and every POST to
 * B, so what the upstreams send outside a request starts on B (the stdio
 * upstream runs there) or on A (which holds the HTTP upstream's GET stream) and
 * must reach the client's stream on A.
 */
describe('SPEC §11: the client stream on instance A, the calls through B (PostgreSQL)', { skip }, () => {
  let two: TwoInstances;
  let a: Instance;
  let b: Instance;
  let upstream: StreamingProcess;
  let admin: Services;
  let client: Client;
  /** Where the client's GET /mcp goes; B once A is gone. */
  let streamTo: () => string;
  /** Each GET /mcp the client opened that was answered 200, by the instance it went to. */
  const streamsOpened: string[] = [];
  let received: Received[] = [];
  let listChanged = 0;

  const route: FetchLike = async (url, init) => {
    const target = new URL(url);
    if (target.pathname === '/mcp') {
      const to = new URL((init?.method ?? 'GET') === 'GET' ? streamTo() : b.url);
      target.protocol = to.protocol;
      target.host = to.host;
    }
    const res = await fetch(target, init);
    if (target.pathname === '/mcp' && (init?.method ?? 'GET') === 'GET' && res.ok)
      streamsOpened.push(target.origin);
    return res;
  };

  /** Calls `burst` on an upstream through B and waits for all its messages on the client's stream. */
  async function burst(tool: string, args: { count: number; bytes?: number; everyMs?: number }, ms = 15_000) {
    received = [];
    await client.callTool({ name: tool, arguments: args });
    await until(
      `all ${args.count} messages arrived (got ${received.length})`,
      () => received.length >= args.count,
      ms,
    );
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(received.length, args.count, 'each message arrived once');
    return received;
  }

  before(async () => {
    upstream = await startStreamingHttp();
    const file = writeUpstreamsFile({ upstreams: { local: streamingStdio, remote: { url: upstream.url } } });
    two = await startTwoInstances({ env: { WAXSEAL_CONFIG: file }, balanced: 'b' });
    ({ a, b, admin } = two);
    streamTo = () => a.url;
    for (const email of ['ada@example.com', 'revoked@example.com', 'leaver@example.com'])
      await createUser(admin, { email, password: PASSWORD, role: 'member' }, 'test');
    ({ client } = await signedInClient(
      { base: two.balancer.url },
      { email: 'ada@example.com', password: PASSWORD },
      'Ada',
      {
        fetch: route,
      },
    ));
    client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => {
      const data = n.params.data as { i: number; sentAt: number; pad: string };
      received.push({
        i: data.i,
        sentAt: data.sentAt,
        receivedAt: Date.now(),
        padBytes: data.pad.length,
        pad: data.pad,
      });
    });
    client.setNotificationHandler(ToolListChangedNotificationSchema, () => {
      listChanged++;
    });
    await until('the SDK client opened its stream on A', () => streamsOpened.includes(a.url));
  });
  after(async () => {
    await client?.close().catch(() => undefined);
    await two?.stop();
    await upstream?.kill();
  });

  test('a stdio upstream on B: 300 log messages reach the stream on A, in order (delivery delay measured)', async (t) => {
    const got = await burst('local__burst', { count: 300, everyMs: 5 });
    assert.deepEqual(
      got.map((m) => m.i),
      Array.from({ length: 300 }, (_, i) => i),
      'in the order the upstream sent them',
    );
    const delays = got.map((m) => m.receivedAt - m.sentAt).sort((x, y) => x - y);
    t.diagnostic(
      `stdio on B → stream on A, ${delays.length} messages: p50 ${percentile(delays, 50)} ms, p99 ${percentile(delays, 99)} ms, max ${delays.at(-1)} ms`,
    );
    assert.ok(!b.output().includes('could not be passed on'), b.output());
  });

  test("an HTTP upstream: its session's GET stream held by A, list_changed and a burst reach the client", async (t) => {
    // The upstream session was opened through B; A, which holds the client's stream, listens to it.
    await whoami(client);
    await client.callTool({ name: 'remote__burst', arguments: { count: 0 } });
    await until(`A opened the upstream's GET stream: ${upstream.output()}`, () =>
      upstream.output().includes('get '),
    );
    const before = listChanged;
    await client.callTool({ name: 'remote__add-tool', arguments: {} });
    await until('tools/list_changed reached the client', () => listChanged > before, 5000);
    const tools = (await client.listTools()).tools.map((x) => x.name);
    assert.ok(tools.includes('remote__added-1'), tools.join(', '));
    const got = await burst('remote__burst', { count: 200, everyMs: 5 });
    assert.deepEqual(
      got.map((m) => m.i),
      Array.from({ length: 200 }, (_, i) => i),
    );
    const delays = got.map((m) => m.receivedAt - m.sentAt).sort((x, y) => x - y);
    t.diagnostic(
      `HTTP upstream → A's upstream stream → client stream on A, ${delays.length} messages: p50 ${percentile(delays, 50)} ms, p99 ${percentile(delays, 99)} ms, max ${delays.at(-1)} ms`,
    );
  });

  test('messages larger than a NOTIFY payload (20 000 bytes) cross from B to A intact', async () => {
    const got = await burst('local__burst', { count: 5, bytes: 20_000 });
    assert.deepEqual(
      got.map((m) => m.i),
      [0, 1, 2, 3, 4],
    );
    for (const m of got) {
      assert.equal(m.padBytes, 20_000);
      assert.equal(m.pad, 'x'.repeat(20_000));
    }
  });

  test('Revoke and Disable (in another process) close streams held by A within 100 ms', async (t) => {
    const open = async (email: string) => {
      const { client: c, provider } = await signedInClient(
        { base: two.balancer.url },
        { email, password: PASSWORD },
        'Raw stream',
        // This client's own stream is not wanted here: the raw one below is measured.
        {
          fetch: async (url, init) =>
            (init?.method ?? 'GET') === 'GET' && new URL(url).pathname === '/mcp'
              ? new Response(null, { status: 405 })
              : fetch(url, init),
        },
      );
      const { connectionId } = await whoami(c);
      await c.close();
      return {
        connectionId: connectionId as string,
        stream: await openStream(a.url, provider.saved?.access_token as string),
      };
    };
    const revoked = await open('revoked@example.com');
    const leaver = await open('leaver@example.com');
    await new Promise((r) => setTimeout(r, 100));

    // Measured from the commit (when the call returns, the connection is revoked), as in
    // offboarding-multi.test.ts; the time the commit itself took is printed beside it.
    const timed = async (change: () => Promise<unknown>, stream: { ended: Promise<number> }) => {
      const start = performance.now();
      await change();
      const committed = performance.now();
      const ended = await stream.ended;
      return { commit: committed - start, close: ended - committed };
    };
    const revoke = await timed(
      () => revokeConnection(admin, revoked.connectionId, { label: 'owner@example.com' }),
      revoked.stream,
    );
    const disable = await timed(
      () => disableUser(admin, 'leaver@example.com', 'owner@example.com'),
      leaver.stream,
    );
    t.diagnostic(
      `stream on A closed ${revoke.close.toFixed(1)} ms after the Revoke's commit (the commit took ${revoke.commit.toFixed(1)} ms), ${disable.close.toFixed(1)} ms after the Disable's (${disable.commit.toFixed(1)} ms)`,
    );
    assert.ok(revoke.close < 100, `Revoke closed the stream after ${revoke.close} ms`);
    assert.ok(disable.close < 100, `Disable closed the stream after ${disable.close} ms`);
    // Ada's stream is another connection's: still open, still delivering.
    await burst('local__burst', { count: 3 });
  });

  test('A killed: the SDK client reconnects its stream to B and keeps receiving from both upstreams', async (t) => {
    streamTo = () => b.url;
    const killedAt = performance.now();
    await a.kill('SIGKILL');
    await until('the SDK client reopened its stream, on B', () => streamsOpened.includes(b.url), 15_000);
    t.diagnostic(`stream reopened on B ${(performance.now() - killedAt).toFixed(0)} ms after A was killed`);
    // The stdio upstream runs on B, which now holds the stream too.
    const local = await burst('local__burst', { count: 100, everyMs: 2 });
    assert.deepEqual(
      local.map((m) => m.i),
      Array.from({ length: 100 }, (_, i) => i),
    );
    // B takes over the HTTP upstream's GET stream (asking again while the upstream still says 409).
    // Until it holds it, the upstream has nowhere to send, so probe with single messages.
    const deadline = Date.now() + 10_000;
    for (;;) {
      received = [];
      await client.callTool({ name: 'remote__burst', arguments: { count: 1 } });
      await new Promise((r) => setTimeout(r, 300));
      if (received.length > 0) break;
      assert.ok(Date.now() < deadline, `B took over the upstream's GET stream: ${b.output()}`);
    }
    t.diagnostic(
      `HTTP upstream delivering through B ${(performance.now() - killedAt).toFixed(0)} ms after A was killed`,
    );
    const remote = await burst('remote__burst', { count: 100, everyMs: 2 });
    assert.deepEqual(
      remote.map((m) => m.i),
      Array.from({ length: 100 }, (_, i) => i),
    );
    const before = listChanged;
    await client.callTool({ name: 'remote__add-tool', arguments: {} });
    await until('tools/list_changed reached the client through B', () => listChanged > before, 5000);
  });
});
