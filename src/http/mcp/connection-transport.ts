import type { AuthInfo } from '@modelcontextprotocol/sdk/server/auth/types.js';
import { isJsonContentType } from '@modelcontextprotocol/sdk/shared/mediaType.js';
import type { Transport, TransportSendOptions } from '@modelcontextprotocol/sdk/shared/transport.js';
import {
  ErrorCode,
  isInitializeRequest,
  type JSONRPCMessage,
  JSONRPCMessageSchema,
  type JSONRPCNotification,
  type JSONRPCRequest,
  type MessageExtraInfo,
  type RequestId,
  SUPPORTED_PROTOCOL_VERSIONS,
} from '@modelcontextprotocol/sdk/types.js';
import type { Request, Response } from 'express';
import {
  invalidParams,
  isRequest,
  isResponse,
  paramsMayBeInvalid,
  plainRequest,
} from '../../domain/jsonrpc.js';
import type { DirectCall } from '../../upstreams/direct-call.js';
import { Stop } from '../../upstreams/stop.js';

/** The SDK transport's limit on a batch (server/requestBody.js). */
const MAX_BATCH_SIZE = 100;

/** Requests that may carry progress and requests to the client before their answer (issue #7). */
const STREAMED_METHODS = new Set(['tools/call', 'prompts/get', 'resources/read']);

/**
 * A streamable request not answered within this long gets its stream opened
 * anyway: the client sees the response begin (and can hang up on it, which
 * cancels the request upstream), and a quick answer still comes as plain JSON.
 */
const STREAM_AFTER_MS = 100;
/** How often the waiting exchanges are looked at: a stream opens within this long past STREAM_AFTER_MS. */
const STREAM_CHECK_MS = 20;

/**
 * The exchanges whose answer may still have to become a stream, looked at
 * together on one timer that runs only while there are some (issue 13: a timer
 * per POST, set and cleared, cost more than the rest of its bookkeeping).
 */
class Waiting {
  private readonly since = new Map<Exchange, number>();
  private timer: NodeJS.Timeout | undefined;

  add(exchange: Exchange): void {
    this.since.set(exchange, performance.now());
    if (!this.timer) {
      this.timer = setInterval(() => this.check(), STREAM_CHECK_MS);
      this.timer.unref();
    }
  }

  delete(exchange: Exchange): void {
    this.since.delete(exchange);
  }

  private check(): void {
    const now = performance.now();
    for (const [exchange, since] of this.since) {
      // In the order they were added: the first that is not due yet ends the look.
      if (now - since < STREAM_AFTER_MS) break;
      this.since.delete(exchange);
      exchange.stream(null);
    }
    if (this.since.size === 0) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }
}

const waiting = new Waiting();

/** One POST's requests, waiting for their answers. */
class Exchange {
  /** Internal id → the id the client gave the request. */
  readonly ids = new Map<number, RequestId>();
  private readonly answers: JSONRPCMessage[] = [];
  private streaming = false;
  done = false;

  constructor(
    private readonly res: Response,
    private readonly batch: boolean,
  ) {}

  /** A message for the client before the answers (progress, a request to it): the answer becomes a stream. */
  stream(message: JSONRPCMessage | null): void {
    if (this.done || this.res.writableEnded || this.res.destroyed) return;
    if (!this.streaming) {
      this.streaming = true;
      this.res.writeHead(200, {
        'content-type': 'text/event-stream',
        'cache-control': 'no-cache, no-transform',
        connection: 'keep-alive',
        'x-accel-buffering': 'no',
      });
      this.res.flushHeaders();
    }
    if (message) this.res.write(`event: message\ndata: ${JSON.stringify(message)}\n\n`);
  }

  /** An answer; true once every request of the POST has one (the response is then finished). */
  answer(internal: number, message: JSONRPCMessage): boolean {
    const original = this.ids.get(internal);
    if (original === undefined) return this.done;
    this.ids.delete(internal);
    const answer = { ...message, id: original } as JSONRPCMessage;
    if (this.streaming) this.stream(answer);
    else this.answers.push(answer);
    if (this.ids.size > 0) return false;
    this.done = true;
    waiting.delete(this);
    if (this.res.writableEnded) return true;
    if (this.streaming) {
      this.res.end();
    } else {
      // Headers not yet written: Node sends a Content-Length and the body in one piece, not chunks.
      this.res.statusCode = 200;
      this.res.setHeader('content-type', 'application/json');
      this.res.end(JSON.stringify(this.batch ? this.answers : this.answers[0]));
    }
    return true;
  }
}

/** A client's `notifications/cancelled`. */
function isCancellation(m: JSONRPCMessage): m is JSONRPCNotification {
  return 'method' in m && m.method === 'notifications/cancelled' && !('id' in m);
}

const errorBody = (code: number, message: string) => ({ jsonrpc: '2.0', error: { code, message }, id: null });

/**
 * The transport between one long-lived MCP server (a connection's, see
 * servers.ts) and the POSTs that reach it: Streamable HTTP without sessions,
 * over Node's own request and response (issue 13). It checks each POST as the
 * SDK's StreamableHTTPServerTransport does (Accept, Content-Type, batch size,
 * JSON-RPC shape, one initialize alone, protocol version), gives each request
 * an id unique on this server (clients number their requests per session, and
 * one server serves all the connection's POSTs at once) and restores the
 * client's id in the answer. The answer is plain JSON unless something must
 * reach the client before it — progress, or a request to the client — and
 * only then an SSE stream. A POST whose client goes away has its requests
 * cancelled (the handlers' signals fire, as when the SDK's transport closed).
 */
export class ConnectionTransport implements Transport {
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: <T extends JSONRPCMessage>(message: T, extra?: MessageExtraInfo) => void;

  private next = 0;
  private readonly byId = new Map<number, Exchange>();
  /** Requests in flight whose params are not known to be valid (their answer may be a failed parse). */
  private readonly unchecked = new Map<number, JSONRPCRequest>();
  private closed = false;
  /** Requests in flight served by `direct`, and what stops each. */
  private readonly directly = new Map<number, Stop>();

  /**
   * `streams`: tool calls, prompts and reads may answer over SSE (gateway and
   * library mode). `unrelated`: where a message that belongs to no request goes
   * (the connection's stream, SPEC §11).
   */
  constructor(
    private readonly streams: boolean,
    private readonly unrelated: (message: JSONRPCMessage) => void = () => undefined,
    /** Serves the common call without the server's Protocol, or declines it (upstreams/direct-call.ts). */
    private readonly direct?: DirectCall,
  ) {}

  /** How many requests in flight here a client's `notifications/cancelled` names (0 for another message). */
  matches(message: JSONRPCMessage): number {
    return this.matching(message)?.length ?? 0;
  }

  /** A client's `notifications/cancelled` POSTed on its own: true when it named a request in flight here. */
  cancel(message: JSONRPCMessage): boolean {
    const translated = this.translateCancel(message);
    if (!translated || translated === message) return false;
    this.toServer(translated);
    return true;
  }

  /** Requests in flight. */
  get busy(): number {
    return this.byId.size;
  }

  async start(): Promise<void> {}

  /**
   * Serves one POST whose JSON body express has parsed, or refuses it as the
   * SDK would (false). `relayed`: the body's cancellations reach their
   * requests another way (the stream bus, to every server of the connection),
   * so here they are checked with the rest and then left out.
   */
  handle(
    req: Request,
    res: Response,
    body: unknown,
    authInfo: AuthInfo | undefined,
    relayed = false,
  ): boolean {
    const refuse = (status: number, code: number, message: string) => {
      res.status(status).json(errorBody(code, message));
      return false;
    };
    const accept = req.headers.accept;
    if (!accept?.includes('application/json') || !accept.includes('text/event-stream')) {
      return refuse(
        406,
        -32000,
        'Not Acceptable: Client must accept both application/json and text/event-stream',
      );
    }
    if (!isJsonContentType(req.headers['content-type'])) {
      return refuse(415, -32000, 'Unsupported Media Type: Content-Type must be application/json');
    }
    if (Array.isArray(body) && body.length > MAX_BATCH_SIZE) {
      return refuse(400, -32600, `Invalid Request: Batch must not exceed ${MAX_BATCH_SIZE} messages`);
    }
    const raw = Array.isArray(body) ? body : [body];
    const messages: JSONRPCMessage[] = [];
    for (const m of raw) {
      // The plain request every call is needs no zod parse (domain/jsonrpc.ts); anything else does.
      if (plainRequest(m)) {
        messages.push(m);
        continue;
      }
      const parsed = JSONRPCMessageSchema.safeParse(m);
      if (!parsed.success) return refuse(400, -32700, 'Parse error: Invalid JSON-RPC message');
      messages.push(parsed.data);
    }
    const initializing = messages.some(
      (m) => isRequest(m) && m.method === 'initialize' && isInitializeRequest(m),
    );
    if (initializing && messages.length > 1) {
      return refuse(400, -32600, 'Invalid Request: Only one initialization request is allowed');
    }
    if (!initializing) {
      const version = req.headers['mcp-protocol-version'];
      if (typeof version === 'string' && !SUPPORTED_PROTOCOL_VERSIONS.includes(version)) {
        return refuse(
          400,
          -32000,
          `Bad Request: Unsupported protocol version: ${version} (supported versions: ${SUPPORTED_PROTOCOL_VERSIONS.join(', ')})`,
        );
      }
    }
    const requestInfo = { headers: req.headers };
    const extra: MessageExtraInfo = { authInfo, requestInfo };
    const deliver = (m: JSONRPCMessage) => (relayed && isCancellation(m) ? null : this.translateCancel(m));
    if (!messages.some(isRequest)) {
      for (const m of messages) {
        const translated = deliver(m);
        if (translated) this.toServer(translated, extra);
      }
      res.status(202).end();
      return true;
    }
    const exchange = new Exchange(res, Array.isArray(body));
    const inbound: JSONRPCMessage[] = messages.flatMap((m) => {
      if (!isRequest(m)) {
        const translated = deliver(m);
        return translated ? [translated] : [];
      }
      const internal = ++this.next;
      exchange.ids.set(internal, m.id);
      this.byId.set(internal, exchange);
      if (paramsMayBeInvalid(m)) this.unchecked.set(internal, m);
      return [{ ...m, id: internal }];
    });
    if (this.streams && messages.some((m) => STREAMED_METHODS.has((m as { method?: string }).method ?? ''))) {
      waiting.add(exchange);
    }
    res.on('close', () => {
      waiting.delete(exchange);
      if (exchange.done) return;
      exchange.done = true;
      // The client went away before its answers: stop what it asked for.
      for (const internal of exchange.ids.keys()) {
        this.byId.delete(internal);
        this.unchecked.delete(internal);
        this.toServer(
          {
            jsonrpc: '2.0',
            method: 'notifications/cancelled',
            params: { requestId: internal, reason: 'the client closed the request' },
          },
          extra,
        );
      }
    });
    for (const m of inbound) {
      if (this.direct && isRequest(m)) this.serveDirectly(m, extra);
      else this.toServer(m, extra);
    }
    return true;
  }

  /** To the server's Protocol; a cancellation of a request served directly stops that one instead. */
  private toServer(m: JSONRPCMessage, extra?: MessageExtraInfo): void {
    if (isCancellation(m)) {
      const id = (m.params as { requestId?: RequestId } | undefined)?.requestId;
      const stop = typeof id === 'number' ? this.directly.get(id) : undefined;
      if (stop) {
        this.directly.delete(id as number);
        stop.abort();
        return;
      }
    }
    this.onmessage?.(m, extra);
  }

  /** A request `direct` may serve; what it declines, now or once it looked, goes to the Protocol. */
  private serveDirectly(m: JSONRPCRequest, extra: MessageExtraInfo): void {
    const internal = m.id as number;
    const stop = new Stop();
    const served = this.direct?.(m, stop);
    if (!served) {
      this.onmessage?.(m, extra);
      return;
    }
    this.directly.set(internal, stop);
    void served.then(
      (outcome) => {
        const stopped = !this.directly.delete(internal);
        if (outcome === 'fallback') {
          // Nothing went upstream: the Protocol serves it, unless the client stopped it meanwhile.
          if (!stopped) this.onmessage?.(m, extra);
        } else if (outcome !== 'cancelled' && !stopped) {
          void this.send(outcome.answer);
        }
      },
      (err) => {
        this.directly.delete(internal);
        void this.send({
          jsonrpc: '2.0',
          id: internal,
          error: { code: ErrorCode.InternalError, message: String((err as Error)?.message ?? err) },
        });
      },
    );
  }

  /**
   * A `notifications/cancelled` the client POSTs names its own id: it reaches
   * the request in flight with that id, and nothing when the id is not in
   * flight here or is ambiguous (two POSTs reusing one id). Other messages pass.
   */
  private translateCancel(m: JSONRPCMessage): JSONRPCMessage | null {
    const matches = this.matching(m);
    if (!matches) return m;
    if (matches.length !== 1) return null;
    const params = (m as { params?: Record<string, unknown> }).params;
    return { ...m, params: { ...params, requestId: matches[0] } } as JSONRPCMessage;
  }

  /** The internal ids of the requests in flight a cancellation names; null when `m` is not one. */
  private matching(m: JSONRPCMessage): number[] | null {
    if (!isCancellation(m)) return null;
    const wanted = (m.params as { requestId?: RequestId } | undefined)?.requestId;
    const matches: number[] = [];
    for (const [internal, exchange] of this.byId) {
      if (exchange.ids.get(internal) === wanted) matches.push(internal);
    }
    return matches;
  }

  async send(message: JSONRPCMessage, options?: TransportSendOptions): Promise<void> {
    if (isResponse(message)) {
      const internal = message.id as number;
      const exchange = this.byId.get(internal);
      if (!exchange) return;
      this.byId.delete(internal);
      exchange.answer(internal, this.withInvalidParams(internal, message));
      return;
    }
    const related = options?.relatedRequestId;
    const exchange = related === undefined ? undefined : this.byId.get(related as number);
    // Outside a request it goes to the connection's stream (GET /mcp, SPEC §11).
    if (!exchange) {
      if (related === undefined) this.unrelated(message);
      return;
    }
    exchange.stream(message);
  }

  /**
   * The SDK's Protocol answers a request its method's schema refuses with an
   * internal error (-32603) whose message is zod's issue list (JSON, an
   * array); the client sent bad params, so it gets Invalid params (-32602)
   * and what is wrong, when the method's schema refuses them indeed. Any other
   * answer (no such method, a capability refused, a handler's own error) is
   * left as it is.
   */
  private withInvalidParams(internal: number, message: JSONRPCMessage): JSONRPCMessage {
    const request = this.unchecked.get(internal);
    if (request === undefined) return message;
    this.unchecked.delete(internal);
    if (!('error' in message) || message.error.code !== ErrorCode.InternalError) return message;
    if (!message.error.message.startsWith('[')) return message;
    const problem = invalidParams(request);
    return problem ? { ...message, error: { code: ErrorCode.InvalidParams, message: problem } } : message;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.onclose?.();
  }
}
