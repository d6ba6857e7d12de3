import { randomBytes } from 'node:crypto';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { FetchLike, TransportSendOptions } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { JSONRPCMessage, MessageExtraInfo, RequestId } from '@modelcontextprotocol/sdk/types.js';
import { isNotification, isRequest, isResponse } from '../domain/jsonrpc.js';
import { asFetchResponse, type UpstreamPost } from './credential.js';
import { WrappedTransport } from './transports.js';

/**
 * The SDK's Streamable HTTP client transport with a short way for the common
 * answer (issue 13). A request (not `initialize`, which sets up the session)
 * is POSTed here with the headers the SDK would send (session id, protocol
 * version, content type, accept); when its answer is nothing but its JSON-RPC
 * response, as JSON or as an SSE stream holding only that, the response goes
 * straight to the SDK Client, as the SDK's JSON path would pass it. Anything
 * else (an HTTP error, a stream with progress or requests to the client, a
 * redirect) is handed to the SDK transport as the very HTTP response it would
 * have fetched itself, so session loss, auth errors and streams behave as
 * before. What this skips per call: a Headers and a Response object, undici's
 * body reading and the SDK's zod parse of the message (the Client still parses
 * the result with the request's own schema).
 *
 * Request ids are made unique within the upstream session. Several SDK
 * Clients share one session (http-upstream.ts pools them, and other instances
 * resume it too), and each numbers its requests from 0; the upstream keys
 * cancellation (and progress tokens, and its own bookkeeping) by request id
 * within the session, so two clients' `7`s made one's cancel stop nothing, or
 * the other's call. On the wire each id, and each progress token and
 * cancelled `requestId` that names one, carries this transport's random
 * prefix (`<prefix>.<id>`); what comes back is restored before the SDK sees it.
 */
export class UpstreamHttpTransport extends WrappedTransport {
  declare protected readonly inner: StreamableHTTPClientTransport;
  /** Answers already fetched, by request body, for the SDK transport's next fetch of that body. */
  private readonly handoffs: Map<string, Response>;
  private readonly stopped = new AbortController();
  /** What makes this client's request ids its own within the session. */
  private readonly idPrefix = `${randomBytes(9).toString('base64url')}.`;

  private constructor(
    inner: StreamableHTTPClientTransport,
    handoffs: Map<string, Response>,
    private readonly url: URL,
    private readonly post: UpstreamPost,
  ) {
    super(inner);
    this.handoffs = handoffs;
  }

  /** `fetch` serves everything the SDK transport sends itself (initialize, notifications, DELETE). */
  static create(url: URL, post: UpstreamPost, fetch: FetchLike, sessionId?: string): UpstreamHttpTransport {
    const handoffs = new Map<string, Response>();
    const inner = new StreamableHTTPClientTransport(url, {
      sessionId,
      fetch: (input, init) => {
        const body = init?.body;
        const fetched = typeof body === 'string' ? handoffs.get(body) : undefined;
        if (fetched) {
          handoffs.delete(body as string);
          return Promise.resolve(fetched);
        }
        return fetch(input, init);
      },
    });
    return new UpstreamHttpTransport(inner, handoffs, url, post);
  }

  get protocolVersion(): string | undefined {
    return this.inner.protocolVersion;
  }

  setProtocolVersion(version: string): void {
    this.inner.setProtocolVersion(version);
  }

  terminateSession(): Promise<void> {
    return this.inner.terminateSession();
  }

  override async send(original: JSONRPCMessage, options?: TransportSendOptions): Promise<void> {
    const message = this.outbound(original);
    if (options?.resumptionToken || !isRequest(message) || message.method === 'initialize') {
      return this.inner.send(message, options);
    }
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
    };
    const session = this.inner.sessionId;
    if (session) headers['mcp-session-id'] = session;
    const version = this.inner.protocolVersion;
    if (version) headers['mcp-protocol-version'] = version;
    const body = JSON.stringify(message);
    let answer: Awaited<ReturnType<UpstreamPost>>;
    try {
      answer = await this.post(this.url, headers, body, this.stopped.signal);
    } catch (err) {
      // As the SDK transport does with a failed fetch.
      this.onerror?.(err as Error);
      throw err;
    }
    if ('message' in answer) {
      // A new session id is the SDK transport's to take up.
      const issued = answer.source.headers['mcp-session-id'];
      if (issued === undefined || issued === session) {
        this.onmessage?.(this.inbound(answer.message));
        return;
      }
    }
    this.handoffs.set(body, asFetchResponse(answer));
    try {
      await this.inner.send(message, options);
    } finally {
      this.handoffs.delete(body);
    }
  }

  protected override receive(message: JSONRPCMessage, extra?: MessageExtraInfo): void {
    this.onmessage?.(this.inbound(message), extra);
  }

  private wire(id: RequestId): string {
    return `${this.idPrefix}${typeof id === 'number' ? 'n' : 's'}${id}`;
  }

  /** The id as this client made it, if `id` is one of its wire ids. */
  private own(id: unknown): RequestId | undefined {
    if (typeof id !== 'string' || !id.startsWith(this.idPrefix)) return undefined;
    const rest = id.slice(this.idPrefix.length + 1);
    if (id[this.idPrefix.length] === 's') return rest;
    const n = Number(rest);
    return Number.isSafeInteger(n) && String(n) === rest ? n : undefined;
  }

  /** A request's id and progress token, and a cancellation's `requestId`, in their wire form. */
  private outbound(m: JSONRPCMessage): JSONRPCMessage {
    if (isRequest(m)) {
      const meta = m.params?._meta;
      const token = meta?.progressToken;
      const params =
        token === undefined ? m.params : { ...m.params, _meta: { ...meta, progressToken: this.wire(token) } };
      return { ...m, id: this.wire(m.id), ...(params === undefined ? {} : { params }) };
    }
    if (isNotification(m) && m.method === 'notifications/cancelled') {
      const requestId = (m.params as { requestId?: RequestId } | undefined)?.requestId;
      if (requestId !== undefined) return { ...m, params: { ...m.params, requestId: this.wire(requestId) } };
    }
    return m;
  }

  /** A response to one of this client's requests, or progress on one, with the client's own id. */
  private inbound<T extends JSONRPCMessage>(m: T): T {
    if (isResponse(m)) {
      const id = this.own(m.id);
      return id === undefined ? m : { ...m, id };
    }
    if (isNotification(m) && m.method === 'notifications/progress') {
      const token = this.own((m.params as { progressToken?: unknown } | undefined)?.progressToken);
      if (token !== undefined) return { ...m, params: { ...m.params, progressToken: token } };
    }
    return m;
  }

  override async close(): Promise<void> {
    this.stopped.abort(new DOMException('The transport was closed', 'AbortError'));
    await super.close();
  }
}
