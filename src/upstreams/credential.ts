import { Readable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import { mediaTypeEssence } from '@modelcontextprotocol/sdk/shared/mediaType.js';
import type { FetchLike } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { JSONRPCResultResponse } from '@modelcontextprotocol/sdk/types.js';
import { Agent, type Dispatcher, errors, util } from 'undici';
import { plainResult } from '../domain/jsonrpc.js';
import { tracedCall, tracedFetch } from '../telemetry/upstream-call.js';
import type { UpstreamKeys } from './bound-keys.js';
import type { HttpUpstream } from './config.js';
import { onStop, Stop, type Stoppable } from './stop.js';

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
  const send = (key: string, url: URL, headers: Record<string, string>, body: string, signal?: Stoppable) => {
    addUpstreamHeaders(upstream, key, (name, value) => {
      headers[name.toLowerCase()] = value;
    });
    return tracedCall(call, url, 'POST', body, headers, () => postMessage(url, headers, body, signal));
  };
  return (url, headers, body, signal) => {
    // The key known at once in steady state; else read (and recorded) first.
    const key = keys.cached(connectionId, upstream.name);
    if (key !== undefined) return send(key, url, headers, body, signal);
    return keys.current(connectionId, upstream.name).then((k) => send(k, url, headers, body, signal));
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

/** What is kept of an upstream's answer once its body is read: status line and headers. */
export interface AnswerHead {
  statusCode: number;
  statusText: string;
  /** The Content-Type header's value, '' without one. */
  contentType: string;
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
 * The answer to one request, as undici's dispatch handler (issue 13). undici's
 * `request()` made an AsyncResource, a parsed header object and a Readable per
 * response, and the hot path then listened to that Readable: some 8 µs of CPU
 * per call against this handler, which gets the raw headers and the body's
 * chunks as they come.
 *
 * An SSE answer to a POST that is nothing but the final JSON-RPC response (a
 * tool call without progress, the common case) is given as that message,
 * sparing a text decoder and an event parser in web streams per call; the
 * SDK's JSON and SSE paths deliver the same messages. Anything else first
 * (progress, a request to the client, a priming event with an id) makes it a
 * stream after all, starting with the bytes already read. A whole JSON answer
 * is read at once and given inline when it is a plain response.
 *
 * An abort (the request's `signal`) rejects, or errors the body, with its
 * reason, as fetch does; any other failure before the answer is fetch's
 * `TypeError('fetch failed')` with the cause.
 */
class Answering implements Dispatcher.DispatchHandler {
  private abortRequest?: (reason: Error) => void;
  private readonly forgetStop?: () => void;
  private head: AnswerHead | undefined;
  /** What the body is read for: `whole` (all, then answer), `peek` (the first SSE events), `stream`, `drain` (answered). */
  private mode: 'whole' | 'peek' | 'stream' | 'drain' = 'whole';
  private chunks: Buffer[] = [];
  private text = '';
  private seen = 0;
  private decoder: StringDecoder | undefined;
  private settled = false;
  /** undici's resume, for a stream whose reader caught up. */
  private resume: (() => void) | undefined;
  /** Stream mode: the chunks not yet read, and how the reader is woken. */
  private flow?: {
    wake?: () => void;
    resume?: () => void;
    paused: boolean;
    complete: boolean;
    failure?: unknown;
  };

  constructor(
    private readonly x: Exchange,
    private readonly resolve: (a: PostAnswer) => void,
    private readonly reject: (err: unknown) => void,
  ) {
    if (x.signal) this.forgetStop = onStop(x.signal, () => this.abortRequest?.(x.signal?.reason as Error));
  }

  private failure(err: unknown): unknown {
    return this.x.signal?.aborted ? this.x.signal.reason : new TypeError('fetch failed', { cause: err });
  }

  onConnect(abort: (err?: Error) => void): void {
    const signal = this.x.signal;
    if (signal?.aborted) abort(signal.reason as Error);
    else this.abortRequest = abort;
  }

  onHeaders(statusCode: number, rawHeaders: Buffer[], resume: () => void, statusText: string): boolean {
    if (statusCode < 200) return true;
    const head = new Head(statusCode, statusText, rawHeaders);
    this.head = head;
    this.resume = resume;
    if (NULL_BODY.has(statusCode)) {
      this.settle({ status: statusCode, response: new Response(null, metaOf(head)) });
      this.mode = 'drain';
      return true;
    }
    const type = head.contentType;
    if (type.includes('text/event-stream')) {
      // Inline (the transport hands the message to the SDK Client itself) only for what the SDK
      // would read as a successful answer; for nodeFetch the status travels in the Response.
      const peek =
        this.x.method === 'POST' &&
        (!this.x.inline || (statusCode === 200 && mediaTypeEssence(type) === 'text/event-stream'));
      if (!peek) return this.stream();
      this.mode = 'peek';
      this.decoder = new StringDecoder('utf8');
    }
    return true;
  }

  onData(chunk: Buffer): boolean {
    switch (this.mode) {
      case 'whole':
        this.chunks.push(chunk);
        return true;
      case 'peek':
        this.chunks.push(chunk);
        return this.peek(chunk);
      case 'stream':
        return this.push(chunk);
      default:
        return true;
    }
  }

  onComplete(): void {
    this.forgetStop?.();
    const head = this.head as AnswerHead;
    if (this.mode === 'whole') {
      const all = this.chunks.length === 1 ? (this.chunks[0] as Buffer) : Buffer.concat(this.chunks);
      const message =
        this.x.inline && head.statusCode === 200 && mediaTypeEssence(head.contentType) === 'application/json'
          ? parsedResponse(all)
          : null;
      this.settle(
        message
          ? { status: head.statusCode, message, source: head }
          : {
              status: head.statusCode,
              response: new Response(
                all.length === 0 ? null : (all as Uint8Array<ArrayBuffer>),
                metaOf(head),
              ),
            },
      );
    } else if (this.mode === 'peek') {
      // The stream ended before an answer: its reader sees what there was.
      this.stream();
      this.end();
    } else if (this.mode === 'stream') {
      this.end();
    }
    this.release();
  }

  onError(err: Error): void {
    this.forgetStop?.();
    // An error after the answer (the rest was being drained) concerns nobody; before it, the
    // stream carries it, unless the request was aborted: then the call fails with the abort's reason.
    if (this.mode === 'peek' && !this.x.signal?.aborted) this.stream();
    if (this.mode === 'stream') {
      const flow = this.flow as NonNullable<Answering['flow']>;
      flow.failure = this.x.signal?.aborted ? this.x.signal.reason : err;
      flow.wake?.();
    } else if (!this.settled) {
      this.settle(undefined, this.failure(err));
    }
    this.release();
  }

  /**
   * Lets go of what the answer was read into. This handler outlives the answer
   * in the scavenger's view (something in the old generation still points at
   * it): a head kept here kept its header buffers through every scavenge until
   * a full collection, and a third of the young generation survived each
   * scavenge (issue 13, docs/benchmarks.md step 14).
   */
  private release(): void {
    this.head = undefined;
    this.chunks = [];
    this.text = '';
    this.decoder = undefined;
    this.resume = undefined;
  }

  private settle(answer: PostAnswer | undefined, err?: unknown): void {
    if (this.settled) return;
    this.settled = true;
    if (answer) this.resolve(answer);
    else this.reject(err);
  }

  /** Peek mode: the SSE events read so far; a lone plain response is the answer, anything else a stream. */
  private peek(chunk: Buffer): boolean {
    this.text += (this.decoder as StringDecoder).write(chunk);
    for (;;) {
      EVENT_END.lastIndex = this.seen;
      const end = EVENT_END.exec(this.text);
      if (!end) return true;
      const event = this.text.slice(this.seen, end.index);
      this.seen = end.index + end[0].length;
      const only = singleResponse(event);
      // A priming event (an id, no data) only matters if the stream breaks before the answer.
      if (only === '') continue;
      if (only === null) return this.stream();
      this.mode = 'drain';
      const head = this.head as AnswerHead;
      this.release();
      this.settle({ status: head.statusCode, message: only, source: head });
      return true;
    }
  }

  /**
   * From now on the body is a stream, starting with what was read: the answer
   * is a Response over it. undici is paused while its reader is behind, and
   * the request is aborted when the reader gives up early.
   */
  private stream(): boolean {
    this.mode = 'stream';
    const flow: NonNullable<Answering['flow']> = { resume: this.resume, paused: false, complete: false };
    this.flow = flow;
    const queue = this.chunks;
    const abort = () => this.abortRequest?.(new errors.RequestAbortedError());
    async function* read(): AsyncGenerator<Buffer> {
      try {
        for (;;) {
          const chunk = queue.shift();
          if (chunk) {
            if (flow.paused && queue.length === 0) {
              flow.paused = false;
              flow.resume?.();
            }
            yield chunk;
          } else if (flow.failure !== undefined) {
            throw flow.failure;
          } else if (flow.complete) {
            return;
          } else {
            await new Promise<void>((wake) => {
              flow.wake = wake;
            });
            flow.wake = undefined;
          }
        }
      } finally {
        if (!flow.complete && flow.failure === undefined) abort();
      }
    }
    const body = Readable.from(read());
    const head = this.head as AnswerHead;
    this.settle({
      status: head.statusCode,
      response: new Response(Readable.toWeb(body) as ReadableStream<Uint8Array>, metaOf(head)),
    });
    return true;
  }

  /** Stream mode: one more chunk for the reader; false (pause) while it is behind. */
  private push(chunk: Buffer): boolean {
    const flow = this.flow as NonNullable<Answering['flow']>;
    this.chunks.push(chunk);
    flow.wake?.();
    if (this.chunks.length < STREAM_QUEUE) return true;
    flow.paused = true;
    return false;
  }

  private end(): void {
    const flow = this.flow as NonNullable<Answering['flow']>;
    flow.complete = true;
    flow.wake?.();
  }
}

/** Chunks a stream's reader may be behind before undici stops reading the upstream. */
const STREAM_QUEUE = 16;

/** The status line and headers; the headers as an object only when something asks (rarely). */
class Head implements AnswerHead {
  private parsed: AnswerHead['headers'] | undefined;
  readonly contentType: string;

  constructor(
    readonly statusCode: number,
    readonly statusText: string,
    private readonly raw: Buffer[],
  ) {
    let contentType = '';
    for (let i = 0; i < raw.length; i += 2) {
      const name = raw[i] as Buffer;
      if (name.length === 12 && name.toString('latin1').toLowerCase() === 'content-type') {
        contentType = (raw[i + 1] as Buffer).toString('latin1');
        break;
      }
    }
    this.contentType = contentType;
  }

  get headers(): AnswerHead['headers'] {
    this.parsed ??= util.parseHeaders(this.raw) as AnswerHead['headers'];
    return this.parsed;
  }
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
 * request (docs/benchmarks.md, step 7); a proxied call paid that twice.
 * The answer is read by `Answering`.
 */
function exchange(url: URL, x: Exchange): Promise<PostAnswer> {
  const { signal } = x;
  if (signal?.aborted) return Promise.reject(signal.reason);
  // A user and password in the URL become Basic credentials, unless the request has its own (as node:http did).
  if ((url.username || url.password) && x.headers.authorization === undefined) {
    const user = `${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`;
    x.headers.authorization = `Basic ${Buffer.from(user).toString('base64')}`;
  }
  return new Promise((resolve, reject) => {
    dispatcher.dispatch(
      {
        origin: url.origin,
        path: url.pathname + url.search,
        method: x.method,
        headers: x.headers,
        body: x.body,
      },
      new Answering(x, resolve, reject),
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
