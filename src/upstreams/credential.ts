import http from 'node:http';
import https from 'node:https';
import { Readable } from 'node:stream';
import type { FetchLike } from '@modelcontextprotocol/sdk/shared/transport.js';
import { tracedFetch } from '../telemetry/upstream-call.js';
import type { UpstreamKeys } from './bound-keys.js';
import type { HttpUpstream } from './config.js';

/** The credential header's value: `Bearer <key>` for Authorization, the bare key for any other header. */
export function credentialValue(upstream: HttpUpstream, key: string): string {
  return upstream.credentialHeader.toLowerCase() === 'authorization' ? `Bearer ${key}` : key;
}

/**
 * The fetch an HTTP upstream's transport uses: configured headers plus the
 * connection's API key bound to this upstream, read per request so that a
 * request sent after a regenerate carries the new key and nothing is sent
 * after a revoke. The client's OAuth token is never among them (no token
 * passthrough).
 */
export function upstreamFetch(keys: UpstreamKeys, upstream: HttpUpstream, connectionId: string): FetchLike {
  return async (url, init) => {
    const key = await keys.current(connectionId, upstream.name);
    const headers = new Headers(init?.headers);
    for (const [name, value] of Object.entries(upstream.headers)) headers.set(name, value);
    headers.set(upstream.credentialHeader, credentialValue(upstream, key));
    return tracedFetch({ upstream: upstream.name, connectionId }, url, { ...init, headers }, nodeFetch);
  };
}

/** Keep-alive connections to the upstreams, shared by every request of the process. */
const agents = {
  'http:': new http.Agent({ keepAlive: true, scheduling: 'lifo' }),
  'https:': new https.Agent({ keepAlive: true, scheduling: 'lifo' }),
};

const NULL_BODY = new Set([101, 103, 204, 205, 304]);

/**
 * `fetch` for what the SDK's client transport sends (a string body or none),
 * over node:http with keep-alive (issue 13). Node's fetch streams every body
 * through web streams and writes the request in several syscalls; a proxied
 * call paid that twice. Redirects are never followed here (the SDK asks for
 * `redirect: 'manual'` and follows within the origin itself); an aborted
 * signal rejects, or errors the body, with its reason, as fetch does. Any
 * other body type goes to the global fetch.
 */
export function nodeFetch(input: string | URL, init: RequestInit = {}): Promise<Response> {
  const body = init.body;
  if (body !== undefined && body !== null && typeof body !== 'string') return fetch(input, init);
  const url = typeof input === 'string' ? new URL(input) : input;
  const agent = agents[url.protocol as keyof typeof agents];
  if (!agent) return fetch(input, init);
  const signal = init.signal ?? undefined;
  if (signal?.aborted) return Promise.reject(signal.reason);
  const headers: Record<string, string> = {};
  for (const [name, value] of new Headers(init.headers)) headers[name] = value;
  if (typeof body === 'string') headers['content-length'] = String(Buffer.byteLength(body));
  const request = url.protocol === 'https:' ? https.request : http.request;
  return new Promise((resolve, reject) => {
    const req = request(url, { method: init.method ?? 'GET', headers, agent });
    const onAbort = () => req.destroy(signal?.reason);
    signal?.addEventListener('abort', onAbort, { once: true });
    const done = () => signal?.removeEventListener('abort', onAbort);
    req.once('error', (err) => {
      done();
      reject(signal?.aborted ? signal.reason : new TypeError('fetch failed', { cause: err }));
    });
    req.once('response', (res) => {
      const responseHeaders = new Headers();
      const raw = res.rawHeaders;
      for (let i = 0; i + 1 < raw.length; i += 2)
        responseHeaders.append(raw[i] as string, raw[i + 1] as string);
      const status = res.statusCode ?? 500;
      const meta = { status, statusText: res.statusMessage, headers: responseHeaders };
      if (NULL_BODY.has(status)) {
        res.resume();
        res.once('end', done);
        resolve(new Response(null, meta));
        return;
      }
      const type = responseHeaders.get('content-type') ?? '';
      if (!type.includes('text/event-stream')) {
        // A whole answer: read it at once, no stream to pipe.
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.once('end', () => {
          done();
          resolve(new Response(chunks.length === 0 ? null : Buffer.concat(chunks), meta));
        });
        res.once('error', (err) => {
          done();
          reject(signal?.aborted ? signal.reason : new TypeError('fetch failed', { cause: err }));
        });
        return;
      }
      res.once('close', done);
      resolve(new Response(Readable.toWeb(res) as ReadableStream<Uint8Array>, meta));
    });
    req.end(body ?? undefined);
  });
}
