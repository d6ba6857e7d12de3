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
