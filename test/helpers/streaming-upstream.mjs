// A test upstream that sends things outside any request (SPEC §11), run as its own process:
//   node test/helpers/streaming-upstream.mjs stdio
//   node test/helpers/streaming-upstream.mjs http <port>   (prints "listening" on stderr)
// Tools: `add-tool` registers a new tool (the SDK then sends tools/list_changed);
// `burst` sends `count` log messages (each with the time it was sent and `bytes` of padding);
// `wait` runs until it is cancelled, then logs "cancelled" to stderr. Over HTTP, every received
// JSON-RPC method is also printed to stderr as "method <name> <id>".
import { createServer } from 'node:http';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { z } from 'zod';

function build() {
  const server = new McpServer({ name: 'streaming', version: '1.0.0' }, { capabilities: { logging: {} } });
  let added = 0;
  server.registerTool('add-tool', {}, async () => {
    added++;
    server.registerTool(`added-${added}`, {}, async () => ({ content: [{ type: 'text', text: 'added' }] }));
    return { content: [{ type: 'text', text: `added-${added}` }] };
  });
  server.registerTool(
    'burst',
    { inputSchema: { count: z.number(), bytes: z.number().optional(), everyMs: z.number().optional() } },
    async ({ count, bytes, everyMs }) => {
      const pad = 'x'.repeat(bytes ?? 0);
      // After the answer, outside the request: over HTTP they go to the session's GET stream.
      setTimeout(async () => {
        for (let i = 0; i < count; i++) {
          if (everyMs) await new Promise((r) => setTimeout(r, everyMs));
          await server.server
            .notification({
              method: 'notifications/message',
              params: { level: 'info', data: { i, sentAt: Date.now(), pad } },
            })
            .catch(() => undefined);
        }
      }, 20);
      return { content: [{ type: 'text', text: `sending ${count}` }] };
    },
  );
  server.registerTool('wait', {}, async (extra) => {
    await new Promise((resolve) => extra.signal.addEventListener('abort', resolve));
    process.stderr.write('cancelled\n');
    return { content: [{ type: 'text', text: 'cancelled' }] };
  });
  return server;
}

if (process.argv[2] === 'stdio') {
  await build().connect(new StdioServerTransport());
} else {
  const transports = new Map();
  const http = createServer(async (req, res) => {
    const chunks = [];
    for await (const c of req) chunks.push(c);
    const text = Buffer.concat(chunks).toString('utf8');
    const body = text ? JSON.parse(text) : undefined;
    for (const m of Array.isArray(body) ? body : body ? [body] : [])
      process.stderr.write(`method ${m.method ?? 'response'} ${m.id ?? ''}\n`);
    const sessionId = req.headers['mcp-session-id'];
    if (req.method === 'GET') process.stderr.write(`get ${sessionId}\n`);
    let transport = sessionId ? transports.get(sessionId) : undefined;
    if (!transport) {
      if (sessionId) {
        res.writeHead(404).end();
        return;
      }
      const created = new StreamableHTTPServerTransport({
        sessionIdGenerator: () => crypto.randomUUID(),
        onsessioninitialized: (id) => transports.set(id, created),
      });
      created.onclose = () => created.sessionId && transports.delete(created.sessionId);
      await build().connect(created);
      transport = created;
    }
    await transport.handleRequest(req, res, body);
  });
  http.listen(Number(process.argv[3]), '127.0.0.1', () => process.stderr.write('listening\n'));
}
