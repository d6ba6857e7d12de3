import { Readable } from 'node:stream';
import { mediaTypeEssence } from '@modelcontextprotocol/sdk/shared/mediaType.js';
import type { FetchLike } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { JSONRPCResultResponse } from '@modelcontextprotocol/sdk/types.js';
import { Agent, type Dispatcher } from 'undici';
import { plainResult } from '../domain/jsonrpc.js';
import { tracedCall, tracedFetch } from '../telemetry/upstream-call.js';
import type { UpstreamKeys } from './bound-keys.js';
import type { HttpUpstream } from './config.js';
import { Stop, type Stoppable } from './stop.js';

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
  signal?: Stoppable,
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

/**
 * Keep-alive connections to the upstreams, shared by every request of the
 * process: undici's pools, one per origin. No header or body timeout here:
 * each call's deadline is its Guard's (upstreams/guard.ts), connecting
 * included, and a listening GET stream may be quiet for as long as the
 * upstream likes.
 */
const dispatcher = new Agent({ headersTimeout: 0, bodyTimeout: 0, connect: { timeout: 0 } });

const PROTOCOLS = new Set(['http:', 'https:']);

type Body = Dispatcher.ResponseData['body'];

/** What is kept of an upstream's answer once its body is read: status line and headers. */
export interface AnswerHead {
  statusCode: number;
  statusText: string;
  headers: Dispatcher.ResponseData['headers'];
}

const NULL_BODY = new Set([101, 103, 204, 205, 304]);

/** The end of an SSE event (searched from `lastIndex`, so the text read so far is never copied). */
const EVENT_END = /\r?\n\r?\n/g;

/**
 * What a POST of one JSON-RPC request got back: its response, read inline when
 * the answer was nothing but that (a 200 with the JSON, or an SSE stream whose
 * only message is it); otherwise the HTTP response as fetch would give it, for
 * the SDK's transport to handle (errors, 202, real streams).
 */
export type PostAnswer =
  | { status: number; message: JSONRPCResultResponse; source: AnswerHead }
  | { status: number; response: Response };

/** Headers as fetch gives them, made only when a Response is. */
function headersOf(head: AnswerHead): Headers {
  const headers = new Headers();
  for (const [name, value] of Object.entries(head.headers)) {
    if (Array.isArray(value)) for (const v of value) headers.append(name, v);
    else if (value !== undefined) headers.append(name, value);
  }
  return headers;
}

function metaOf(head: AnswerHead): ResponseInit {
  return { status: head.statusCode, statusText: head.statusText, headers: headersOf(head) };
}

/**
 * An SSE answer to a POST that is nothing but the final JSON-RPC response (a
 * tool call without progress, the common case) is given as that message,
 * sparing a text decoder and an event parser in web streams per call; the
 * SDK's JSON and SSE paths deliver the same messages. Anything else first
 * (progress, a request to the client, a priming event with an id) makes it a
 * stream after all, starting with the bytes already read.
 */
function answerOrStream(
  head: AnswerHead,
  res: Body,
  settle: { resolve: (a: PostAnswer) => void; reject: (err: unknown) => void },
  peek: boolean,
  signal?: Stoppable,
): void {
  const { resolve } = settle;
  const status = head.statusCode;
  const chunks: Buffer[] = [];
  let text = '';
  let settled = false;
  // An error after the answer (the rest is drained) concerns nobody; before it, the stream carries
  // it, unless the request was aborted: then the call fails with the signal's reason, as fetch's would.
  res.on('error', () => {
    if (settled) return;
    if (signal?.aborted) {
      settled = true;
      settle.reject(signal.reason);
    } else stream();
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
      response: new Response(Readable.toWeb(body) as ReadableStream<Uint8Array>, metaOf(head)),
    });
  };
  let seen = 0;
  const onData = (chunk: Buffer) => {
    chunks.push(chunk);
    text += chunk.toString('utf8');
    for (;;) {
      EVENT_END.lastIndex = seen;
      const end = EVENT_END.exec(text);
      if (!end) return;
      const event = text.slice(seen, end.index);
      seen = end.index + end[0].length;
      const only = singleResponse(event);
      // A priming event (an id, no data) only matters if the stream breaks before the answer.
      if (only === '') continue;
      if (only === null) return stream();
      settled = true;
      res.off('data', onData);
      res.off('end', onEnd);
      res.resume();
      resolve({ status, message: only, source: head });
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
  for (const raw of event.split('\n')) {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
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
  method: Dispatcher.HttpMethod;
  headers: Record<string, string>;
  body?: string;
  signal?: Stoppable;
  /** A POST whose one response may be read inline (PostAnswer.message). */
  inline: boolean;
}

/**
 * One request on undici's keep-alive pools (issue 13). Node's fetch streams
 * every body through web streams and writes the request in several syscalls,
 * and node:http's client costs about half as much again as undici's per
 * request (docs/benchmarks.md, step 7); a proxied call paid that twice. An
 * aborted signal rejects, or errors the body, with its reason, as fetch does
 * (undici aborts with the signal's reason).
 */
async function exchange(url: URL, x: Exchange): Promise<PostAnswer> {
  const { signal, body } = x;
  if (signal?.aborted) throw signal.reason;
  // A user and password in the URL become Basic credentials, unless the request has its own (as node:http did).
  if ((url.username || url.password) && x.headers.authorization === undefined) {
    const user = `${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`;
    x.headers.authorization = `Basic ${Buffer.from(user).toString('base64')}`;
  }
  let res: Dispatcher.ResponseData;
  try {
    res = await dispatcher.request({
      origin: url.origin,
      path: url.pathname + url.search,
      method: x.method,
      headers: x.headers,
      body,
      signal,
    });
  } catch (err) {
    throw signal?.aborted ? signal.reason : new TypeError('fetch failed', { cause: err });
  }
  const head: AnswerHead = { statusCode: res.statusCode, statusText: res.statusText, headers: res.headers };
  const status = res.statusCode;
  if (NULL_BODY.has(status)) {
    res.body.resume();
    return { status, response: new Response(null, metaOf(head)) };
  }
  const type = String(res.headers['content-type'] ?? '');
  if (type.includes('text/event-stream')) {
    // Inline (the transport hands the message to the SDK Client itself) only for what the SDK
    // would read as a successful answer; for nodeFetch the status travels in the Response.
    const peek =
      x.method === 'POST' &&
      (!x.inline || (status === 200 && mediaTypeEssence(type) === 'text/event-stream'));
    return new Promise((resolve, reject) =>
      answerOrStream(head, res.body, { resolve, reject }, peek, signal),
    );
  }
  // A whole answer: read it at once, no stream to pipe.
  const all = await wholeBody(res.body, signal);
  const message =
    x.inline && status === 200 && mediaTypeEssence(type) === 'application/json' ? parsedResponse(all) : null;
  if (message) return { status, message, source: head };
  return {
    status,
    response: new Response(all.length === 0 ? null : (all as Uint8Array<ArrayBuffer>), metaOf(head)),
  };
}

function wholeBody(body: Body, signal?: Stoppable): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    body.on('data', (c: Buffer) => chunks.push(c));
    body.once('end', () => resolve(chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks)));
    body.once('error', (err) =>
      reject(signal?.aborted ? signal.reason : new TypeError('fetch failed', { cause: err })),
    );
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
  signal?: Stoppable,
): Promise<PostAnswer> {
  if (!PROTOCOLS.has(url.protocol)) {
    const abort = signal instanceof Stop ? signal.signal : signal;
    return fetch(url, { method: 'POST', headers, body, signal: abort }).then((response) => ({
      status: response.status,
      response,
    }));
  }
  return exchange(url, { method: 'POST', headers, body, signal, inline: true });
}

/**
 * `fetch` for what the SDK's client transport sends (a string body or none),
 * on the keep-alive pools (`exchange`). Redirects are never followed
 * here (the SDK asks for `redirect: 'manual'` and follows within the origin
 * itself). Any other body type goes to the global fetch.
 */
export function nodeFetch(input: string | URL, init: RequestInit = {}): Promise<Response> {
  const body = init.body;
  if (body !== undefined && body !== null && typeof body !== 'string') return fetch(input, init);
  const url = typeof input === 'string' ? new URL(input) : input;
  if (!PROTOCOLS.has(url.protocol)) return fetch(input, init);
  const headers: Record<string, string> = {};
  for (const [name, value] of new Headers(init.headers)) headers[name] = value;
  const answer = exchange(url, {
    method: (init.method ?? 'GET') as Dispatcher.HttpMethod,
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
