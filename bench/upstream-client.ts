/**
 * Issue 13, step 7 micro-benchmark: the CPU that sending one proxied call to
 * an HTTP upstream costs Waxseal's side of the socket. `postMessage` (what
 * UpstreamHttpTransport sends every tools/call with, on undici's pools)
 * against the node:http ClientRequest on a keep-alive agent it replaced,
 * both POSTing the same JSON-RPC request with the same headers to one
 * node:http server in a child process that answers the result as JSON.
 * Rounds alternate; the figure is this process's CPU per request.
 *
 *   node --import tsx bench/upstream-client.ts [--rounds N] [--seconds S] [--connections N]
 */
import { fork } from 'node:child_process';
import http from 'node:http';
import { parseArgs } from 'node:util';
import { postMessage } from '../src/upstreams/credential.js';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '3' },
    seconds: { type: 'string', default: '4' },
    connections: { type: 'string', default: '20' },
    serve: { type: 'boolean', default: false },
  },
});

const answer = JSON.stringify({
  jsonrpc: '2.0',
  id: 7,
  result: { content: [{ type: 'text', text: 'Echo: hello' }] },
});

if (values.serve) {
  const server = http.createServer((req, res) => {
    req.resume();
    req.once('end', () => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(answer) });
      res.end(answer);
    });
  });
  server.listen(0, '127.0.0.1', () => {
    const address = server.address();
    process.send?.(typeof address === 'object' && address ? address.port : 0);
  });
} else {
  const child = fork(new URL(import.meta.url).pathname, ['--serve'], { execArgv: ['--import', 'tsx'] });
  const port = await new Promise<number>((resolve) => child.once('message', (m) => resolve(m as number)));
  const url = new URL(`http://127.0.0.1:${port}/mcp`);
  const body = JSON.stringify({
    jsonrpc: '2.0',
    id: 7,
    method: 'tools/call',
    params: { name: 'echo', arguments: { message: 'hello' } },
  });
  const headers = (): Record<string, string> => ({
    'content-type': 'application/json',
    accept: 'application/json, text/event-stream',
    'mcp-session-id': '5f0c1a8e-2b7d-4c1e-9a43-0d6f2e8b1c77',
    'mcp-protocol-version': '2025-11-25',
    authorization: 'Bearer wax_sk_0123456789abcdef0123456789abcdef',
  });

  const agent = new http.Agent({ keepAlive: true, scheduling: 'lifo' });
  /** What credential.ts did before step 7: one ClientRequest per call, the answer read whole. */
  const viaNodeHttp = () =>
    new Promise<unknown>((resolve, reject) => {
      const h = headers();
      h['content-length'] = String(Buffer.byteLength(body));
      const req = http.request(url, { method: 'POST', headers: h, agent });
      req.once('error', reject);
      req.once('response', (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.once('end', () => resolve(JSON.parse(Buffer.concat(chunks).toString('utf8'))));
      });
      req.end(body);
    });
  const viaPostMessage = async () => {
    const a = await postMessage(url, headers(), body);
    if (!('message' in a)) throw new Error(`expected the inline answer, got HTTP ${a.status}`);
    return a.message;
  };

  const seconds = Number(values.seconds);
  const connections = Number(values.connections);
  async function measure(send: () => Promise<unknown>) {
    const end = performance.now() + seconds * 1000;
    let n = 0;
    const cpu = process.cpuUsage();
    const start = performance.now();
    await Promise.all(
      Array.from({ length: connections }, async () => {
        while (performance.now() < end) {
          await send();
          n++;
        }
      }),
    );
    const used = process.cpuUsage(cpu);
    return { rps: n / ((performance.now() - start) / 1000), us: (used.user + used.system) / n };
  }

  const rows: Record<string, { rps: number[]; us: number[] }> = {
    'node:http ClientRequest (before)': { rps: [], us: [] },
    'postMessage on undici (now)': { rps: [], us: [] },
  };
  const sends = [viaNodeHttp, viaPostMessage];
  await measure(viaNodeHttp);
  await measure(viaPostMessage);
  for (let round = 0; round < Number(values.rounds); round++) {
    for (const [i, row] of Object.values(rows).entries()) {
      const r = await measure(sends[i] as () => Promise<unknown>);
      row.rps.push(r.rps);
      row.us.push(r.us);
    }
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
  console.log(`${connections} concurrent requests, ${values.rounds} alternating rounds of ${seconds} s`);
  console.log('| client | req/s (median) | client CPU µs per request (median) | rounds |');
  console.log('|---|---|---|---|');
  for (const [name, row] of Object.entries(rows)) {
    const each = row.us.map((u) => u.toFixed(0)).join(', ');
    console.log(`| ${name} | ${median(row.rps).toFixed(0)} | ${median(row.us).toFixed(1)} | ${each} |`);
  }
  agent.destroy();
  child.kill();
  process.exit(0);
}
