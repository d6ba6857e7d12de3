import { randomBytes } from 'node:crypto';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPError } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { Server } from '@modelcontextprotocol/sdk/server/index.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import {
  type CallToolResult,
  CallToolResultSchema,
  ErrorCode,
  type JSONRPCMessage,
  type JSONRPCNotification,
  type JSONRPCRequest,
  type JSONRPCResponse,
  McpError,
  ProgressNotificationSchema,
  type ProgressToken,
  type RequestId,
} from '@modelcontextprotocol/sdk/types.js';
import {
  isNotification,
  isRequest,
  isResponse,
  plainMeta,
  plainObject,
  plainToolResult,
} from '../domain/jsonrpc.js';
import type { GatewayCaller } from './caller.js';
import type { NameIndex, Naming, Target } from './catalog.js';
import type { HttpUpstream } from './config.js';
import type { PostAnswer, UpstreamPost } from './credential.js';
import { isSessionGone, upstreamOutcome } from './errors.js';
import { type DownstreamExtra, forwardProgress, forwardToClient, sourceClient } from './forwarding.js';
import { DownstreamCancelled, Guard, UpstreamLost } from './guard.js';
import type { ListKind } from './lists.js';
import type { ToolPermissions } from './permissions.js';
import type { SourceParts } from './runner.js';
import type { UpstreamSession } from './sessions.js';
import type { Stop } from './stop.js';
import { sseMessages } from './upstream-streams.js';

/**
 * What a direct call came to: the answer for the client; `fallback`, nothing
 * was sent upstream and the SDK's Protocol is to serve the request after all;
 * `cancelled`, no answer is due (as the Protocol sends none for a request
 * cancelled while it ran).
 */
export type DirectOutcome = { answer: JSONRPCResponse } | 'fallback' | 'cancelled';

/**
 * Serves one request without the SDK's Protocol, or declines it at once
 * (null). `stop` fires when the client cancels the request or hangs up.
 */
export type DirectCall = (request: JSONRPCRequest, stop: Stop) => Promise<DirectOutcome> | null;

export interface DirectParts extends SourceParts {
  names: NameIndex;
  naming: Naming;
  permissions: ToolPermissions;
}

/**
 * The caller's MCP server, for what an upstream asks the client during a call
 * (sampling, elicitation, roots): it goes out on the call's own stream.
 * `streaming`: the server's tool calls may stream (gateway.ts's serverFor).
 */
export interface Downstream {
  server: Server;
  streaming: boolean;
}

/** A call's link to its client, as a request handler's extra would be (forwarding.ts). */
type Link = Pick<DownstreamExtra, 'signal' | 'sendRequest' | 'sendNotification'>;

interface PlainCall {
  name: string;
  arguments?: Record<string, unknown>;
  _meta?: { progressToken?: ProgressToken; [key: string]: unknown };
}

/**
 * The params of a tools/call this path takes: a name, plain arguments, and
 * `_meta` in its plain shape (passed on; a progress token is relayed), nothing
 * else (a task, say).
 */
function plainCall(request: JSONRPCRequest): PlainCall | null {
  if (request.method !== 'tools/call') return null;
  const params = request.params as Record<string, unknown> | undefined;
  if (!params || typeof params.name !== 'string') return null;
  for (const key in params) if (key !== 'name' && key !== 'arguments' && key !== '_meta') return null;
  if (params.arguments !== undefined && !plainObject(params.arguments)) return null;
  if (!plainMeta(params._meta)) return null;
  return params as unknown as PlainCall;
}

/** An error as the SDK's Protocol answers a handler's error with it. */
function failed(id: RequestId, err: unknown): JSONRPCResponse {
  const e = err as { code?: unknown; message?: string; data?: unknown };
  return {
    jsonrpc: '2.0',
    id,
    error: {
      code: Number.isSafeInteger(e.code) ? (e.code as number) : ErrorCode.InternalError,
      message: e.message ?? 'Internal error',
      ...(e.data !== undefined && { data: e.data }),
    },
  } as JSONRPCResponse;
}

/**
 * The common call, a tools/call to a Streamable HTTP upstream, served
 * without either SDK Protocol (issue 13: the server's Protocol, the Client's
 * and the pooled Client's lease were a third of a proxied call's CPU; see
 * docs/architecture.md). It takes only a call the Protocol path would serve
 * no differently:
 * - plain params (a name, arguments and `_meta`; no task);
 * - a name the upstream listed lately (the routing index) and the session
 *   the connection already has with it (no initialize).
 *
 * Progress is relayed under the client's token (forwardProgress, as on the
 * Protocol path). What the upstream asks the client meanwhile (sampling,
 * elicitation, roots, ping) is answered by the SDK Client the Protocol path
 * would have used, made for the call only when the upstream asks
 * (`Call.answering`).
 *
 * Anything else is declined before anything is sent, and the Protocol serves
 * it. What it keeps of the Protocol path: the allow-list and role check with
 * its audit event, the Guard (timeout; the client's cancellation or hang-up,
 * which sends `notifications/cancelled` upstream), a session the upstream has
 * forgotten (forgotten here too, and the call goes the Protocol's way, which
 * opens a new one), the bound key and the span (upstreamPost), upstream
 * health, the result checked with CallToolResultSchema, notifications
 * passed to the connection's stream, and errors worded as upstreamOutcome
 * and the Protocol word them.
 */
export function directCalls(
  parts: DirectParts,
  caller: GatewayCaller,
  /** The caller's server's local names, once listed (gateway.ts). */
  localNames: Map<ListKind, Promise<Set<string>>>,
  downstream: Downstream,
): DirectCall {
  const connectionId = caller.connection.id;
  // Unique within the upstream session, beside the pooled Clients' ids (http-transport.ts).
  const prefix = `${randomBytes(9).toString('base64url')}.d`;
  let count = 0;

  /** The upstream item a name stands for, if the index knows it now; else the Protocol path lists. */
  const target = (exposed: string, local: ReadonlySet<string>): Target | undefined => {
    for (const t of parts.naming.candidates(exposed, local)) {
      if (parts.names.lookup(connectionId, 'tools', t.source)?.has(t.name)) return t;
    }
    return undefined;
  };

  /** The local names' set, once their promise settled: read without awaiting it again (issue 13). */
  const settled = new WeakMap<Promise<Set<string>>, Set<string> | null>();
  const localOf = (locals: Promise<Set<string>>): Promise<Set<string> | null> =>
    locals.then(
      (names) => {
        settled.set(locals, names);
        return names;
      },
      () => null,
    );

  /** The session the connection has with the upstream, or the version of one that keeps none. */
  const sessionOf = (stored: UpstreamSession | null, upstream: HttpUpstream) => {
    const stateless = stored ? undefined : parts.http.statelessVersion(connectionId, upstream.name);
    return stored ?? (stateless ? { protocolVersion: stateless } : undefined);
  };

  const start = (
    request: JSONRPCRequest,
    stop: Stop,
    params: PlainCall,
    to: Target,
    upstream: HttpUpstream,
    session: { sessionId?: string; protocolVersion: string },
  ) => {
    const call = new Call(
      parts,
      upstream,
      connectionId,
      session,
      `${prefix}${++count}`,
      request.id,
      stop,
      downstream,
    );
    return call.run(params, to.name);
  };

  /** The HTTP upstream's tool a name stands for; undefined for a local tool or one this path leaves to the Protocol. */
  const routeOf = (name: string, local: ReadonlySet<string>) => {
    if (local.has(name)) return undefined;
    const to = target(name, local);
    const upstream = to && parts.byName.get(to.source);
    return to && upstream?.kind === 'http' ? { to, upstream } : undefined;
  };

  /** The call when something must be awaited first: the local names, the session, a refusal's audit. */
  const slow = async (
    request: JSONRPCRequest,
    stop: Stop,
    params: PlainCall,
    locals: Promise<Set<string>>,
  ) => {
    const local = settled.get(locals) ?? (await localOf(locals));
    const route = local ? routeOf(params.name, local) : undefined;
    if (!route) return 'fallback';
    const { to, upstream } = route;
    const session = sessionOf(await parts.sessions.get(connectionId, upstream.name), upstream);
    if (!session) return 'fallback';
    try {
      await parts.permissions.check(caller, upstream, to.name, params.name);
    } catch (err) {
      return { answer: failed(request.id, err) };
    }
    return start(request, stop, params, to, upstream, session);
  };

  return (request, stop) => {
    const params = plainCall(request);
    if (!params) return null;
    const locals = localNames.get('tools');
    if (!locals) return null;
    // The steady state: everything known at once, the call starts without a promise in between.
    const local = settled.get(locals);
    const route = local ? routeOf(params.name, local) : undefined;
    const stored = route ? parts.sessions.peek(connectionId, route.upstream.name) : undefined;
    if (route && stored !== undefined) {
      const { to, upstream } = route;
      const session = sessionOf(stored, upstream);
      if (session && parts.permissions.allows(caller, upstream, to.name, params.name)) {
        return start(request, stop, params, to, upstream, session);
      }
    }
    return slow(request, stop, params, locals);
  };
}

/** Each upstream's URL, parsed once (it is never changed: the POST only reads it). */
const urls = new WeakMap<HttpUpstream, URL>();
function urlOf(upstream: HttpUpstream): URL {
  let url = urls.get(upstream);
  if (!url) {
    url = new URL(upstream.url);
    urls.set(upstream, url);
  }
  return url;
}

/** One call on the wire: its POST, its answer, its cancellation. */
class Call {
  private readonly guard: Guard;
  private readonly post: UpstreamPost;
  private readonly url: URL;
  /** What answers the upstream's requests during the call, once it sent one. */
  private responder?: Promise<{ client: Client; transport: Transport }>;
  /** The client's progress, relayed (forwarding.ts), when it asked for it. */
  private progress?: ReturnType<typeof forwardProgress>;

  constructor(
    private readonly parts: DirectParts,
    private readonly upstream: HttpUpstream,
    private readonly connectionId: string,
    private readonly session: { sessionId?: string; protocolVersion: string },
    private readonly wireId: string,
    /** The client's request: its id here, and what stops it. */
    private readonly id: RequestId,
    private readonly stop: Stop,
    private readonly downstream: Downstream,
  ) {
    this.guard = new Guard(upstream.timeoutMs, stop);
    this.post = parts.http.post(upstream, connectionId);
    this.url = urlOf(upstream);
  }

  private headers(): Record<string, string> {
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      'mcp-protocol-version': this.session.protocolVersion,
    };
    if (this.session.sessionId) headers['mcp-session-id'] = this.session.sessionId;
    return headers;
  }

  /**
   * The way to the client during the call, as a request handler's extra is
   * (forwarding.ts): what is sent goes on the stream of this request's POST.
   */
  private link(): Link {
    const related = { relatedRequestId: this.id };
    const { server } = this.downstream;
    return {
      signal: this.stop.signal,
      sendRequest: ((r, schema, options) =>
        server.request(r, schema, { ...options, ...related })) as DownstreamExtra['sendRequest'],
      sendNotification: (n) => server.notification(n, related),
    };
  }

  /** A message of ours to the upstream that needs no answer (a cancellation, an answer to its request). */
  private tell(message: JSONRPCMessage): void {
    void this.post(this.url, this.headers(), JSON.stringify(message))
      .then((a) => ('response' in a ? a.response.body?.cancel() : undefined))
      .catch(() => undefined);
  }

  async run(params: PlainCall, name: string): Promise<DirectOutcome> {
    const { guard, upstream, id } = this;
    // The client's progress token is relayed as the pooled Client relays it: ours upstream, the client's back.
    const token = params._meta?.progressToken;
    let meta = params._meta;
    if (token !== undefined) {
      this.progress = forwardProgress(this.link(), token, guard);
      meta = { ...meta, progressToken: this.wireId };
    }
    const source = upstream.name;
    // As the SDK's Client does when a request's signal fires: the upstream is told.
    const onStop = () =>
      this.tell({
        jsonrpc: '2.0',
        method: 'notifications/cancelled',
        params: { requestId: this.wireId, reason: String(guard.halt.reason) },
      });
    const stopListening = guard.halt.listen(onStop);
    try {
      const body = JSON.stringify({
        jsonrpc: '2.0',
        id: this.wireId,
        method: 'tools/call',
        params: { ...params, name, ...(meta && { _meta: meta }) },
      });
      // One race for the POST and its answer: what the upstream sends after a stop is read and dropped.
      const message = await guard.race(
        this.post(this.url, this.headers(), body, guard.halt).then((answer) => this.answerOf(answer)),
      );
      if (message === 'session gone') {
        if (this.session.sessionId) {
          await this.parts.sessions.forget(this.connectionId, source, this.session.sessionId);
        }
        return 'fallback';
      }
      if ('error' in message) {
        const { code, message: text, data } = message.error;
        throw new McpError(code, text, data);
      }
      // A plain result is what the schema would yield; anything else is parsed (domain/jsonrpc.ts).
      const result = plainToolResult(message.result)
        ? (message.result as CallToolResult)
        : CallToolResultSchema.parse(message.result);
      this.parts.health.succeeded(source);
      if (this.progress) await this.progress.sent();
      return { answer: { jsonrpc: '2.0', id, result } };
    } catch (err) {
      const outcome = upstreamOutcome(source, err, guard.halt);
      if (outcome.upstreamDown) {
        this.parts.health.failed(source, outcome.error.message);
        this.parts.s.log.warn({ upstream: source, err: outcome.error.message }, 'upstream request failed');
      }
      // The client cancelled or hung up: the Protocol answers such a request with nothing.
      if (guard.halt.reason instanceof DownstreamCancelled) return 'cancelled';
      return { answer: failed(id, outcome.error) };
    } finally {
      stopListening();
      guard.done();
      // What it still forwards concerns nobody now (the SDK aborts its handlers on close).
      void this.responder?.then(({ client }) => client.close()).catch(() => undefined);
    }
  }

  /**
   * The upstream's answer to the call: read inline when it is all there is
   * (credential.ts); otherwise the messages of its JSON or SSE body in order,
   * notifications passed on and its requests answered as the SDK's Client
   * would (ping; anything else is a method it does not have).
   */
  private async answerOf(answer: PostAnswer): Promise<JSONRPCResponse | 'session gone'> {
    if ('message' in answer) return answer.message;
    const response = answer.response;
    if (!response.ok) {
      const text = await response.text().catch(() => '');
      const err = new StreamableHTTPError(response.status, `Error POSTing to endpoint: ${text}`);
      // Only a resumed session can be gone; a stateless upstream's 400 or 404 is its answer.
      if (this.session.sessionId && isSessionGone(err)) return 'session gone';
      throw err;
    }
    const type = response.headers.get('content-type') ?? '';
    if (type.includes('text/event-stream') && response.body) {
      for await (const message of sseMessages(response.body)) {
        const mine = this.take(message);
        if (mine) return mine;
      }
      throw new UpstreamLost('the connection was lost');
    }
    if (type.includes('application/json')) {
      const parsed: unknown = await response.json();
      for (const message of (Array.isArray(parsed) ? parsed : [parsed]) as JSONRPCMessage[]) {
        const mine = this.take(message);
        if (mine) return mine;
      }
    }
    await response.body?.cancel();
    throw new UpstreamLost('the upstream answered without a response to the call');
  }

  /**
   * This call's response; anything else the upstream sent is dealt with here
   * as the pooled Client deals with it: its requests, and their
   * cancellations, by the responder; progress for this call to the client,
   * other progress dropped; other notifications to the connection's stream
   * (the pooled Client's fallback handler).
   */
  private take(message: JSONRPCMessage): JSONRPCResponse | undefined {
    if (isResponse(message)) return message.id === this.wireId ? message : undefined;
    if (isRequest(message)) {
      void this.answering().then(({ transport }) => transport.onmessage?.(message));
    } else if (isNotification(message)) {
      if (message.method === 'notifications/cancelled') {
        void this.responder?.then(({ transport }) => transport.onmessage?.(message));
      } else if (message.method === 'notifications/progress') {
        const parsed = ProgressNotificationSchema.safeParse(message);
        if (!parsed.success || parsed.data.params.progressToken !== this.wireId) return undefined;
        const { progressToken: _, ...progress } = parsed.data.params;
        this.progress?.onprogress?.(progress);
      } else {
        this.parts.notify(this.connectionId, message as JSONRPCNotification);
      }
    }
    return undefined;
  }

  /**
   * The upstream asks the client something (sampling, elicitation, roots) or
   * pings: an SDK Client answers, made as the Protocol path makes its pooled
   * one (forwarding.ts's sourceClient, declaring what the client declared) and
   * fed the upstream's messages; its answers are POSTed to the upstream. Its
   * transport has a session id, so connecting sends no initialize.
   */
  private answering(): Promise<{ client: Client; transport: Transport }> {
    this.responder ??= this.parts.sessions
      .clientCapabilities(this.connectionId)
      .then(async (capabilities) => {
        const transport: Transport = {
          sessionId: this.session.sessionId ?? 'stateless',
          start: async () => undefined,
          send: async (message) => this.tell(message),
          close: async () => transport.onclose?.(),
        };
        const forward = forwardToClient(this.link(), this.downstream.streaming, this.guard);
        const client = sourceClient(capabilities, forward);
        await client.connect(transport);
        return { client, transport };
      });
    return this.responder;
  }
}
