import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { addUser, connectSdkClient, TestOAuthProvider } from '../helpers/flow.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

interface Answer {
  jsonrpc?: string;
  id?: unknown;
  result?: unknown;
  error?: { code: number; message: string };
}

/**
 * POST /mcp refuses what the SDK's own transport refuses, with the same
 * statuses and JSON-RPC errors (docs/architecture.md, ConnectionTransport),
 * whether a message takes the hot path's plain-request check or the SDK's
 * schema (issue 13).
 */
describe('/mcp message checks', () => {
  let server: TestServer;
  let token: string;
  before(async () => {
    server = await startTestServer('sqlite');
    await addUser(server, 'ops@example.com', 'admin');
    const provider = new TestOAuthProvider(server, {
      email: 'ops@example.com',
      password: 'correct horse battery staple',
    });
    const client = await connectSdkClient(server, provider);
    token = provider.saved?.access_token as string;
    await client.close();
  });
  after(() => server?.stop());

  const post = async (body: string, headers: Record<string, string> = {}) => {
    const res = await fetch(new URL('/mcp', server.base), {
      method: 'POST',
      headers: {
        authorization: `Bearer ${token}`,
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        ...headers,
      },
      body,
    });
    const text = await res.text();
    return { status: res.status, body: text ? (JSON.parse(text) as Answer) : null };
  };
  const whoami = (extra: Record<string, unknown> = {}, params: Record<string, unknown> = {}) =>
    JSON.stringify({
      jsonrpc: '2.0',
      id: 1,
      method: 'tools/call',
      params: { name: 'whoami', arguments: {}, ...params },
      ...extra,
    });

  test('plain requests are answered, with or without a progress token', async () => {
    for (const body of [
      whoami(),
      whoami({}, { _meta: { progressToken: 'p-1' } }),
      whoami({ id: 'str-id' }),
    ]) {
      const res = await post(body);
      assert.equal(res.status, 200, body);
      assert.equal(res.body?.jsonrpc, '2.0');
      assert.ok(res.body?.result, body);
      assert.equal(res.body?.id, JSON.parse(body).id, 'the client’s own id comes back');
    }
  });

  test('a message the SDK schema refuses is a 400 Parse error, whichever check it met first', async () => {
    for (const body of [
      whoami({ id: 1.5 }),
      whoami({ id: null }),
      whoami({ extra: true }),
      whoami({ jsonrpc: '1.0' }),
      whoami({ method: 7 }),
      JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list', params: [] }),
      JSON.stringify({
        jsonrpc: '2.0',
        id: 1,
        method: 'tools/list',
        params: { _meta: { progressToken: 1.5 } },
      }),
      JSON.stringify({ id: 1, method: 'tools/list' }),
    ]) {
      const res = await post(body);
      assert.equal(res.status, 400, body);
      assert.deepEqual(
        res.body?.error,
        { code: -32700, message: 'Parse error: Invalid JSON-RPC message' },
        body,
      );
    }
  });

  test('a well-formed message with params its method refuses is Invalid params (-32602), saying what is wrong', async () => {
    const rpc = (method: string, params: unknown, id: unknown = 7) =>
      JSON.stringify({ jsonrpc: '2.0', id, method, params });
    const cases: Array<[string, RegExp]> = [
      [
        rpc('tools/call', { arguments: {} }),
        /^Invalid params for tools\/call: params\.name: .*expected string/,
      ],
      [
        rpc('tools/call', { name: 'whoami', arguments: [1] }),
        /^Invalid params for tools\/call: params\.arguments: /,
      ],
      [rpc('tools/call', { name: 42 }, 'sid'), /params\.name: .*expected string, received number/],
      [rpc('tools/list', { cursor: 5 }), /^Invalid params for tools\/list: params\.cursor: /],
      [rpc('initialize', { protocolVersion: 1 }), /^Invalid params for initialize: params\./],
    ];
    for (const [body, message] of cases) {
      const res = await post(body);
      assert.equal(res.status, 200, body);
      assert.equal(res.body?.id, JSON.parse(body).id, 'the client’s own id comes back');
      assert.equal(res.body?.error?.code, -32602, body);
      assert.match(res.body?.error?.message ?? '', message, body);
    }
    // In a batch, only the bad request is refused; the good one is answered.
    const batch = await post(`[${rpc('tools/call', { arguments: {} }, 1)},${whoami({ id: 2 })}]`);
    const answers = batch.body as unknown as Answer[];
    assert.equal(answers.find((a) => a.id === 1)?.error?.code, -32602);
    assert.ok(answers.find((a) => a.id === 2)?.result, 'the good request of the batch is answered');
    // A method nobody serves stays Method not found, whatever its params; a refusal before the
    // parse (this server runs no tasks) keeps its own words.
    const unknown = await post(rpc('tasks/get', { taskId: 5 }));
    assert.equal(unknown.body?.error?.code, -32601);
    const task = await post(rpc('tools/list', { cursor: 5, task: { ttl: 1000 } }));
    assert.equal(task.body?.error?.code, -32603, JSON.stringify(task.body));
    assert.match(task.body?.error?.message ?? '', /task/i);
    assert.doesNotMatch(task.body?.error?.message ?? '', /Invalid params/);
    // Many problems: the first few are said, and how many more there are.
    const many = await post(
      rpc('initialize', {
        protocolVersion: '2025-06-18',
        clientInfo: { name: 'c', version: '1' },
        capabilities: {
          experimental: Object.fromEntries(Array.from({ length: 50 }, (_, i) => [`k${i}`, i])),
        },
      }),
    );
    assert.equal(many.body?.error?.code, -32602);
    assert.match(many.body?.error?.message ?? '', /; and 45 more$/);
  });

  test('the transport’s other refusals: Accept, Content-Type, batch size', async () => {
    const accept = await post(whoami(), { accept: 'application/json' });
    assert.equal(accept.status, 406);
    assert.equal(accept.body?.error?.code, -32000);
    const type = await post(whoami(), { 'content-type': 'text/plain' });
    assert.equal(type.status, 415);
    const batch = await post(
      JSON.stringify(Array.from({ length: 101 }, (_, i) => JSON.parse(whoami({ id: i })))),
    );
    assert.equal(batch.status, 400);
    assert.equal(batch.body?.error?.code, -32600);
    const two = await post(JSON.stringify([JSON.parse(whoami({ id: 1 })), JSON.parse(whoami({ id: 2 }))]));
    assert.equal(two.status, 200);
    assert.deepEqual(
      (two.body as unknown as { id: number }[]).map((m) => m.id).sort(),
      [1, 2],
      'a batch is answered per message, with the client’s ids',
    );
  });

  test('POST /mcp, served before the router, answers as the router does for /mcp/, /MCP and with a query', async () => {
    const full = async (path: string, headers: Record<string, string>, body: string) => {
      const res = await fetch(new URL(path, server.base), {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          accept: 'application/json, text/event-stream',
          ...headers,
        },
        body,
      });
      return { res, text: await res.text() };
    };
    const auth = { authorization: `Bearer ${token}` };
    const shapeOf = async (path: string) => {
      const answered = await full(path, auth, whoami());
      const unauthenticated = await full(path, {}, whoami());
      const malformed = await full(path, auth, '{"jsonrpc":');
      return {
        answered: [answered.res.status, (JSON.parse(answered.text) as Answer).result !== undefined],
        type: answered.res.headers.get('content-type'),
        length: answered.res.headers.get('content-length') === String(Buffer.byteLength(answered.text)),
        headers: [
          'content-security-policy',
          'x-frame-options',
          'x-content-type-options',
          'referrer-policy',
        ].map((h) => answered.res.headers.get(h)),
        unauthenticated: [unauthenticated.res.status, unauthenticated.res.headers.get('www-authenticate')],
        malformed: [malformed.res.status, (JSON.parse(malformed.text) as Answer).error?.code],
      };
    };
    const first = await shapeOf('/mcp');
    assert.deepEqual(first.answered, [200, true]);
    assert.equal(first.type, 'application/json');
    assert.equal(first.length, true, 'a JSON answer comes with its Content-Length, not chunked');
    assert.ok(
      first.headers.every((h) => typeof h === 'string'),
      'the security headers are set',
    );
    assert.equal(first.unauthenticated[0], 401);
    assert.match(String(first.unauthenticated[1]), /^Bearer resource_metadata=/);
    assert.deepEqual(first.malformed, [400, -32700]);
    // `/mcp?x=1` is served first too; the others take the router.
    for (const path of ['/mcp?x=1', '/mcp/', '/MCP', '/mcp/?x=1']) {
      assert.deepEqual(await shapeOf(path), first, path);
    }
    const metrics = await (await fetch(new URL('/metrics', server.base))).text();
    assert.match(
      metrics,
      /waxseal_http_request_duration_seconds_count\{[^}]*route="\/mcp"[^}]*status="200"[^}]*\} [1-9]/,
      'the requests served first are measured under the /mcp route',
    );
  });
});
