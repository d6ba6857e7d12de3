/**
 * G1's context row: the thinnest HTTP proxy in front of server-everything.
 * It reads a POST's bytes, forwards them unparsed on undici's keep-alive
 * pool (as Waxseal's upstream requests go, src/upstreams/credential.ts) with
 * the MCP headers, and answers with the upstream's status, type and bytes.
 * No authentication, no JSON, no MCP: what any proxy between the client and
 * this upstream costs on this machine, so G1's ratio can be read against it.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { Agent, request } from 'undici';
import { serve } from './serve.js';

const upstream = process.env.UPSTREAM_URL;
if (!upstream) throw new Error('UPSTREAM_URL is required');

const dispatcher = new Agent({ headersTimeout: 0, bodyTimeout: 0, connect: { timeout: 0 } });
const FORWARDED = ['content-type', 'accept', 'mcp-session-id', 'mcp-protocol-version'] as const;
const RETURNED = ['content-type', 'mcp-session-id'] as const;

function pick(
  from: IncomingHttpHeaders | Record<string, string | string[] | undefined>,
  names: readonly string[],
) {
  const out: Record<string, string> = {};
  for (const name of names) {
    const value = from[name];
    if (typeof value === 'string') out[name] = value;
  }
  return out;
}

serve((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (chunk: Buffer) => chunks.push(chunk));
  req.on('end', async () => {
    try {
      const answer = await request(upstream, {
        method: req.method as 'POST',
        headers: pick(req.headers, FORWARDED),
        body: chunks.length > 0 ? Buffer.concat(chunks) : undefined,
        dispatcher,
      });
      const body = Buffer.from(await answer.body.arrayBuffer());
      res.writeHead(answer.statusCode, { ...pick(answer.headers, RETURNED), 'content-length': body.length });
      res.end(body);
    } catch (err) {
      res.writeHead(502, { 'content-type': 'text/plain' });
      res.end((err as Error).message);
    }
  });
});
