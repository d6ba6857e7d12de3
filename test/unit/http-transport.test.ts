import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { LATEST_PROTOCOL_VERSION } from '@modelcontextprotocol/sdk/types.js';
import { nodeFetch, postMessage } from '../../src/upstreams/credential.js';
import { UpstreamHttpTransport } from '../../src/upstreams/http-transport.js';

/**
 * upstreams/http-transport.ts reads a plain answer itself; every other answer
 * must reach the SDK Client as the SDK's own transport would deliver it. The
 * upstream here is a real HTTP server answering each tool with a different
 * wire shape.
 */
describe('UpstreamHttpTransport answers as the SDK transport would', () => {
  let server: Server;
  let url: URL;
  before(async () => {
    server = createServer((req, res) => {
      let text = '';
      req.on('data', (c) => {
        text += c;
      });
      req.on('end', () => {
        const m = JSON.parse(text || '{}') as { id?: number; method?: string; params?: { name?: string } };
        if (m.id === undefined) return void res.writeHead(202).end();
        const json = (status: number, body: unknown) =>
          res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
        const sse = (status: number, body: unknown) =>
          res
            .writeHead(status, { 'content-type': 'text/event-stream' })
            .end(`event: message\ndata: ${JSON.stringify(body)}\n\n`);
        if (m.method === 'initialize') {
          return json(200, {
            jsonrpc: '2.0',
            id: m.id,
            result: {
              protocolVersion: LATEST_PROTOCOL_VERSION,
              capabilities: { tools: {} },
              serverInfo: { name: 'shapes', version: '1' },
            },
          });
        }
        const ok = { jsonrpc: '2.0', id: m.id, result: { content: [{ type: 'text', text: 'fine' }] } };
        switch (m.params?.name) {
          case 'json':
            return json(200, ok);
          case 'sse':
            return sse(200, ok);
          case 'sse-500':
            return sse(500, ok);
          case 'null-result':
            return json(200, { jsonrpc: '2.0', id: m.id, result: null });
          case 'error':
            return json(200, { jsonrpc: '2.0', id: m.id, error: { code: -32602, message: 'no such tool' } });
          default:
            return json(404, {
              jsonrpc: '2.0',
              id: m.id,
              error: { code: -32001, message: 'Session not found' },
            });
        }
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}/mcp`);
  });
  after(() => new Promise<void>((r) => server.close(() => r())));

  const connect = async () => {
    const transport = UpstreamHttpTransport.create(
      url,
      (u, headers, body, signal) => postMessage(u, headers, body, signal),
      nodeFetch,
    );
    const client = new Client({ name: 'test', version: '1' });
    await client.connect(transport);
    return client;
  };
  const call = (client: Client, name: string) =>
    client.callTool({ name, arguments: {} }, undefined, { timeout: 5000 });

  test('a plain result, as JSON or as a one-event stream, is the answer', async () => {
    const client = await connect();
    for (const name of ['json', 'sse']) {
      const result = await call(client, name);
      assert.deepEqual(result.content, [{ type: 'text', text: 'fine' }], name);
    }
    await client.close();
  });

  test('anything else fails as with the SDK transport, at once', async () => {
    const client = await connect();
    const started = Date.now();
    const status = (code: number) => (err: unknown) => (err as { code?: number }).code === code;
    await assert.rejects(
      call(client, 'sse-500'),
      status(500),
      'an HTTP error is an error, whatever its body',
    );
    await assert.rejects(call(client, 'lost'), status(404), 'a lost session is the SDK’s 404 error');
    await assert.rejects(call(client, 'null-result'), 'a malformed result is refused');
    await assert.rejects(call(client, 'error'), /no such tool/);
    assert.ok(Date.now() - started < 4000, `every refusal came at once (${Date.now() - started} ms)`);
    await client.close();
  });
});

/** credential.ts's requests on undici: what node:http's client did that a user relies on. */
describe('postMessage on undici', () => {
  let server: Server;
  let base: string;
  const seen: Array<{ path?: string; authorization?: string }> = [];
  before(async () => {
    server = createServer((req, res) => {
      seen.push({ path: req.url, authorization: req.headers.authorization });
      req.resume();
      if (req.url === '/primed') {
        // A priming event, then nothing: the answer is still to come.
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.write('id: 1\ndata: \n\n');
        return;
      }
      if (req.url === '/silent') return; // no answer at all
      req.on('end', () =>
        res
          .writeHead(200, { 'content-type': 'application/json' })
          .end(JSON.stringify({ jsonrpc: '2.0', id: 1, result: {} })),
      );
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => {
    server.closeAllConnections();
    return new Promise<void>((r) => server.close(() => r()));
  });
  const body = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' });
  const headers = () => ({
    'content-type': 'application/json',
    accept: 'application/json, text/event-stream',
  });

  test('a user and password in the URL are sent as Basic credentials, unless the request has its own', async () => {
    const answer = await postMessage(new URL(`http://svc%40acme:p%3Ass@${base}/mcp`), headers(), body);
    assert.equal(answer.status, 200);
    assert.ok('message' in answer, 'the JSON answer is read inline');
    assert.equal(seen.at(-1)?.authorization, `Basic ${Buffer.from('svc@acme:p:ss').toString('base64')}`);
    await postMessage(
      new URL(`http://svc:pw@${base}/mcp`),
      { ...headers(), authorization: 'Bearer k' },
      body,
    );
    assert.equal(seen.at(-1)?.authorization, 'Bearer k');
  });

  test('an abort rejects with its reason, before the answer and while its stream has begun', async () => {
    for (const path of ['/silent', '/primed']) {
      const stop = new AbortController();
      const before = seen.length;
      const answer = postMessage(new URL(`http://${base}${path}`), headers(), body, stop.signal);
      while (seen.length === before) await new Promise((r) => setTimeout(r, 5));
      await new Promise((r) => setTimeout(r, 50));
      const reason = new DOMException('The transport was closed', 'AbortError');
      stop.abort(reason);
      await assert.rejects(answer, (err) => err === reason, path);
    }
  });
});
