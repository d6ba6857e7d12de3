import http from 'node:http';
import https from 'node:https';
import { Readable } from 'node:stream';
import { mediaTypeEssence } from '@modelcontextprotocol/sdk/shared/mediaType.js';
import type { FetchLike } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { JSONRPCResultResponse } from '@modelcontextprotocol/sdk/types.js';
import { plainResult } from '../domain/jsonrpc.js';
import { tracedCall, tracedFetch } from '../telemetry/upstream-call.js';
import type { UpstreamKeys } from './bound-keys.js';
import type { HttpUpstream } from './config.js';

/** The credential header's value: `Bearer <key>` for Authorization, the bare key for any other header. */
export function credentialValue(upstream: HttpUpstream, key: string): string {
  return upstream.credentialHeader.toLowerCase() === 'authorization' ? `Bearer ${key}` : key;
}

/** What Waxseal adds to an upstream request: the configured headers, then the credential. */
function addUpstreamHeaders(upstream: HttpUpstream, key: string, set: (name: string, value: string) => void) {
  for (const [name, value] of Object.entries(upstream.headers)) set(name, value);
  set(upstream.credentialHeader, credentialValue(upstream, key));
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
    const headers = new Headers(init?.headers);
    addUpstreamHeaders(upstream, await keys.current(connectionId, upstream.name), (name, value) =>
      headers.set(name, value),
    );
    return tracedFetch({ upstream: upstream.name, connectionId }, url, { ...init, headers }, nodeFetch);
  };
}

/** POSTs one JSON-RPC request to the upstream with its headers and credential (see `postMessage`). */
export type UpstreamPost = (
  url: URL,
  headers: Record<string, string>,
  body: string,
  signal?: AbortSignal,
) => Promise<PostAnswer>;

/** `upstreamFetch` for the hot path (issue 13): the same headers and span, no Headers or Response in between. */
export function upstreamPost(keys: UpstreamKeys, upstream: HttpUpstream, connectionId: string): UpstreamPost {
  const call = { upstream: upstream.name, connectionId };
  return async (url, headers, body, signal) => {
    addUpstreamHeaders(upstream, await keys.current(connectionId, upstream.name), (name, value) => {
      headers[name.toLowerCase()] = value;
    });
    return tracedCall(call, url, 'POST', body, headers, () => postMessage(url, headers, body, signal));
  };
}

/** Keep-alive connections to the upstreams, shared by every request of the process. */
const agents = {
  'http:': new http.Agent({ keepAlive: true, scheduling: 'lifo' }),
  'https:': new https.Agent({ keepAlive: true, scheduling: 'lifo' }),
};

const NULL_BODY = new Set([101, 103, 204, 205, 304]);

/** The end of an SSE event. */
const EVENT_END = /\r?\n\r?\n/;

/**
 * What a POST of one JSON-RPC request got back: its response, read inline when
 * the answer was nothing but that (a 200 with the JSON, or an SSE stream whose
 * only message is it); otherwise the HTTP response as fetch would give it, for
 * the SDK's transport to handle (errors, 202, real streams).
 */
export type PostAnswer =
  | { status: number; message: JSONRPCResultResponse; source: http.IncomingMessage }
  | { status: number; response: Response };

/** Headers as fetch gives them, made only when a Response is. */
function headersOf(res: http.IncomingMessage): Headers {
  const headers = new Headers();
  const raw = res.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2) headers.append(raw[i] as string, raw[i + 1] as string);
  return headers;
}

function metaOf(res: http.IncomingMessage): ResponseInit {
  return { status: res.statusCode ?? 500, statusText: res.statusMessage, headers: headersOf(res) };
}

/**
 * An SSE answer to a POST that is nothing but the final JSON-RPC response (a
 * tool call without progress, the common case) is given as that message,
 * sparing a text decoder and an event parser in web streams per call; the
 * SDK's JSON and SSE paths deliver the same messages. Anything else first
 * (progress, a request to the client, a priming event with an id) makes it a
 * stream after all, starting with the bytes already read.
 */
function answerOrStream(res: http.IncomingMessage, resolve: (a: PostAnswer) => void, peek: boolean): void {
  const status = res.statusCode ?? 500;
  const chunks: Buffer[] = [];
  let text = '';
  let settled = false;
  // An error after the answer (the rest is drained) concerns nobody; before it, the stream carries it.
  res.on('error', () => {
    if (!settled) stream();
  });
  const stream = () => {
    settled = true;
    res.off('data', onData);
    res.off('end', onEnd);
    res.pause();
    const body = Readable.from(
      (async function* () {
        for (const c of chunks) yield c;
        for await (const c of res) yield c as Buffer;
      })(),
    );
    resolve({
      status,
      response: new Response(Readable.toWeb(body) as ReadableStream<Uint8Array>, metaOf(res)),
    });
  };
  let seen = 0;
  const onData = (chunk: Buffer) => {
    chunks.push(chunk);
    text += chunk.toString('utf8');
    for (;;) {
      const end = EVENT_END.exec(text.slice(seen));
      if (!end) return;
      const event = text.slice(seen, seen + end.index);
      seen += end.index + end[0].length;
      const only = singleResponse(event);
      // A priming event (an id, no data) only matters if the stream breaks before the answer.
      if (only === '') continue;
      if (only === null) return stream();
      settled = true;
      res.off('data', onData);
      res.off('end', onEnd);
      res.resume();
      resolve({ status, message: only, source: res });
      return;
    }
  };
  const onEnd = () => {
    if (!settled) stream();
  };
  if (!peek) {
    stream();
    return;
  }
  res.on('data', onData);
  res.once('end', onEnd);
}

/**
 * The JSON-RPC result of one SSE event if it is a message event holding one
 * in its plain shape (domain/jsonrpc.ts); '' for an event without data (a
 * priming event); else null (an error response or anything unusual is left to
 * the SDK's own parsing).
 */
function singleResponse(event: string): JSONRPCResultResponse | '' | null {
  let data = '';
  let lines = 0;
  for (const line of event.split(/\r?\n/)) {
    if (line.startsWith('data:')) {
      data += (lines++ > 0 ? '\n' : '') + line.slice(line[5] === ' ' ? 6 : 5);
    } else if (line.startsWith('event:') && line.slice(6).trim() !== 'message') return null;
    else if (line.startsWith('retry:')) return null;
  }
  if (data === '') return '';
  try {
    const m: unknown = JSON.parse(data);
    return plainResult(m) ? m : null;
  } catch {
    return null;
  }
}

interface Exchange {
  method: string;
  headers: Record<string, string>;
  body?: string;
  signal?: AbortSignal;
  /** A POST whose one response may be read inline (PostAnswer.message). */
  inline: boolean;
}

/**
 * One request over node:http with keep-alive (issue 13). Node's fetch streams
 * every body through web streams and writes the request in several syscalls;
 * a proxied call paid that twice. An aborted signal rejects, or errors the
 * body, with its reason, as fetch does.
 */
function exchange(url: URL, x: Exchange): Promise<PostAnswer> {
  const agent = agents[url.protocol as keyof typeof agents];
  const { signal, body } = x;
  if (signal?.aborted) return Promise.reject(signal.reason);
  if (typeof body === 'string') x.headers['content-length'] = String(Buffer.byteLength(body));
  const request = url.protocol === 'https:' ? https.request : http.request;
  return new Promise((resolve, reject) => {
    const req = request(url, { method: x.method, headers: x.headers, agent });
    const onAbort = () => req.destroy(signal?.reason);
    signal?.addEventListener('abort', onAbort, { once: true });
    const done = () => signal?.removeEventListener('abort', onAbort);
    const failed = (err: Error) => {
      done();
      reject(signal?.aborted ? signal.reason : new TypeError('fetch failed', { cause: err }));
    };
    req.once('error', failed);
    req.once('response', (res) => {
      const status = res.statusCode ?? 500;
      if (NULL_BODY.has(status)) {
        res.resume();
        res.once('end', done);
        resolve({ status, response: new Response(null, metaOf(res)) });
        return;
      }
      const type = res.headers['content-type'] ?? '';
      if (!type.includes('text/event-stream')) {
        // A whole answer: read it at once, no stream to pipe.
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.once('end', () => {
          done();
          const all = chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks);
          const message =
            x.inline && status === 200 && mediaTypeEssence(type) === 'application/json'
              ? parsedResponse(all)
              : null;
          resolve(
            message
              ? { status, message, source: res }
              : {
                  status,
                  response: new Response(
                    chunks.length === 0 ? null : (all as Uint8Array<ArrayBuffer>),
                    metaOf(res),
                  ),
                },
          );
        });
        res.once('error', failed);
        return;
      }
      res.once('close', done);
      // Inline (the transport hands the message to the SDK Client itself) only for what the SDK
      // would read as a successful answer; for nodeFetch the status travels in the Response.
      const peek =
        x.method === 'POST' &&
        (!x.inline || (status === 200 && mediaTypeEssence(type) === 'text/event-stream'));
      answerOrStream(res, resolve, peek);
    });
    req.end(body ?? undefined);
  });
}

function parsedResponse(body: Buffer): JSONRPCResultResponse | null {
  try {
    const m: unknown = JSON.parse(body.toString('utf8'));
    return plainResult(m) ? m : null;
  } catch {
    return null;
  }
}

/**
 * POSTs one JSON-RPC request (`headers` complete, names in lower case) and
 * reads its response inline when it is all there is (`PostAnswer`).
 */
export function postMessage(
  url: URL,
  headers: Record<string, string>,
  body: string,
  signal?: AbortSignal,
): Promise<PostAnswer> {
  if (!agents[url.protocol as keyof typeof agents]) {
    return fetch(url, { method: 'POST', headers, body, signal }).then((response) => ({
      status: response.status,
      response,
    }));
  }
  return exchange(url, { method: 'POST', headers, body, signal, inline: true });
}

/**
 * `fetch` for what the SDK's client transport sends (a string body or none),
 * over node:http with keep-alive (`exchange`). Redirects are never followed
 * here (the SDK asks for `redirect: 'manual'` and follows within the origin
 * itself). Any other body type goes to the global fetch.
 */
export function nodeFetch(input: string | URL, init: RequestInit = {}): Promise<Response> {
  const body = init.body;
  if (body !== undefined && body !== null && typeof body !== 'string') return fetch(input, init);
  const url = typeof input === 'string' ? new URL(input) : input;
  if (!agents[url.protocol as keyof typeof agents]) return fetch(input, init);
  const headers: Record<string, string> = {};
  for (const [name, value] of new Headers(init.headers)) headers[name] = value;
  const answer = exchange(url, {
    method: init.method ?? 'GET',
    headers,
    body: body ?? undefined,
    signal: init.signal ?? undefined,
    inline: false,
  });
  return answer.then(asFetchResponse);
}

/** The answer as fetch would have given it (a message read inline becomes its JSON). */
export function asFetchResponse(a: PostAnswer): Response {
  if ('response' in a) return a.response;
  const meta = metaOf(a.source);
  (meta.headers as Headers).set('content-type', 'application/json');
  return new Response(JSON.stringify(a.message), meta);
}
