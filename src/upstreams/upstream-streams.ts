import { setTimeout as delay } from 'node:timers/promises';
import {
  isJSONRPCNotification,
  isJSONRPCRequest,
  type JSONRPCMessage,
  JSONRPCMessageSchema,
} from '@modelcontextprotocol/sdk/types.js';
import type { Services } from '../services/context.js';
import type { UpstreamKeys } from './bound-keys.js';
import type { HttpUpstream } from './config.js';
import { upstreamFetch } from './credential.js';
import type { SessionStore, UpstreamSession } from './sessions.js';

/** What an upstream may send outside a request that reaches the client's stream (SPEC §11). */
export const STREAMED_NOTIFICATIONS = new Set([
  'notifications/tools/list_changed',
  'notifications/prompts/list_changed',
  'notifications/resources/list_changed',
  'notifications/resources/updated',
  'notifications/message',
]);

/** Another instance still holds the upstream's stream (409): how often and how long to ask again. */
const CONFLICT_RETRY_MS = 250;
const CONFLICT_RETRIES = 20;
const RECONNECT_MS = 1000;

interface Listening {
  sessionId: string;
  abort: AbortController;
}

export interface UpstreamStreamsParts {
  s: Services;
  keys: UpstreamKeys;
  sessions: SessionStore;
  upstreams: readonly HttpUpstream[];
  /** Where an upstream's notification for a connection goes (the stream bus). */
  deliver(connectionId: string, message: JSONRPCMessage): void;
}

/**
 * The upstream side of a connection's stream (SPEC §11, issue #14): while
 * this instance holds a connection's client stream, it also holds the GET
 * stream of each of that connection's upstream sessions over Streamable HTTP,
 * and passes on what arrives there. One instance at a time: a Streamable HTTP
 * server allows one GET stream per session (the SDK's answers 409 to a
 * second), so the holder of the client's stream is the one that listens, and
 * when the client's stream moves to another instance, the old holder lets go
 * and the new one takes over (asking again while the upstream still answers 409).
 *
 * Sessions are opened by requests, on any instance; `sessionOpened` (sent over
 * the stream bus) tells the holder to start listening to a new one.
 */
export class UpstreamStreams {
  private readonly listening = new Map<string, Listening>();
  /** Bumped by every unfollow: a follow still reading the sessions when it comes starts nothing. */
  private readonly generation = new Map<string, number>();
  private closed = false;

  constructor(private readonly parts: UpstreamStreamsParts) {}

  /** This instance now holds the connection's client stream, or learned of a new upstream session. */
  async follow(connectionId: string): Promise<void> {
    if (this.closed) return;
    const generation = this.generation.get(connectionId) ?? 0;
    for (const upstream of this.parts.upstreams) {
      const session = await this.parts.sessions.get(connectionId, upstream.name);
      if (this.closed || (this.generation.get(connectionId) ?? 0) !== generation) return;
      const key = keyOf(connectionId, upstream.name);
      const current = this.listening.get(key);
      if (current && current.sessionId === session?.sessionId) continue;
      current?.abort.abort();
      this.listening.delete(key);
      if (!session) continue;
      const listening = { sessionId: session.sessionId, abort: new AbortController() };
      this.listening.set(key, listening);
      void this.listen(upstream, connectionId, session, listening).finally(() => {
        if (this.listening.get(key) === listening) this.listening.delete(key);
      });
    }
  }

  /** The connection's client stream is no longer here: let go of its upstream streams. */
  unfollow(connectionId: string): void {
    this.generation.set(connectionId, (this.generation.get(connectionId) ?? 0) + 1);
    if (this.generation.size > 10_000) this.generation.clear();
    for (const upstream of this.parts.upstreams) {
      const key = keyOf(connectionId, upstream.name);
      this.listening.get(key)?.abort.abort();
      this.listening.delete(key);
    }
  }

  close(): void {
    this.closed = true;
    for (const l of this.listening.values()) l.abort.abort();
    this.listening.clear();
  }

  private async listen(
    upstream: HttpUpstream,
    connectionId: string,
    session: UpstreamSession,
    listening: Listening,
  ): Promise<void> {
    const { s } = this.parts;
    const fetch = upstreamFetch(this.parts.keys, upstream, connectionId);
    const signal = listening.abort.signal;
    let conflicts = 0;
    while (!signal.aborted) {
      let response: Response;
      try {
        response = await fetch(upstream.url, {
          method: 'GET',
          headers: {
            accept: 'text/event-stream',
            'mcp-session-id': session.sessionId,
            'mcp-protocol-version': session.protocolVersion,
          },
          signal,
        });
      } catch {
        if (signal.aborted) return;
        await delay(RECONNECT_MS, undefined, { signal }).catch(() => undefined);
        continue;
      }
      if (response.status === 409 && conflicts++ < CONFLICT_RETRIES) {
        await response.body?.cancel();
        await delay(CONFLICT_RETRY_MS, undefined, { signal }).catch(() => undefined);
        continue;
      }
      if (!response.ok || !response.body) {
        // 405: the upstream has no stream of its own; 404: the session is gone; 401/403: the key is.
        await response.body?.cancel();
        if (response.status !== 405) {
          s.log.debug({ upstream: upstream.name, status: response.status }, 'upstream stream refused');
        }
        return;
      }
      conflicts = 0;
      try {
        for await (const message of sseMessages(response.body)) {
          this.received(upstream, connectionId, session, message, fetch);
        }
      } catch {
        // The stream broke (upstream restarted, network): ask again below.
      }
      if (signal.aborted) return;
      await delay(RECONNECT_MS, undefined, { signal }).catch(() => undefined);
    }
  }

  private received(
    upstream: HttpUpstream,
    connectionId: string,
    session: UpstreamSession,
    message: JSONRPCMessage,
    fetch: ReturnType<typeof upstreamFetch>,
  ): void {
    if (isJSONRPCNotification(message)) {
      if (STREAMED_NOTIFICATIONS.has(message.method)) this.parts.deliver(connectionId, message);
      return;
    }
    if (!isJSONRPCRequest(message)) return;
    // Outside a request there is no client request to answer through: pings are answered here,
    // anything else is refused, so the upstream does not wait for ever.
    const answer =
      message.method === 'ping'
        ? { jsonrpc: '2.0', id: message.id, result: {} }
        : {
            jsonrpc: '2.0',
            id: message.id,
            error: { code: -32601, message: `${message.method} is only forwarded during a client request` },
          };
    void fetch(upstream.url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        'mcp-session-id': session.sessionId,
        'mcp-protocol-version': session.protocolVersion,
      },
      body: JSON.stringify(answer),
    })
      .then((r) => r.body?.cancel())
      .catch(() => undefined);
  }
}

const keyOf = (connectionId: string, upstream: string) => `${connectionId}\u0000${upstream}`;

/** The JSON-RPC messages of an SSE body (the `message` events; comments and other events are skipped). */
export async function* sseMessages(body: ReadableStream<Uint8Array>): AsyncGenerator<JSONRPCMessage> {
  const decoder = new TextDecoder();
  let buffered = '';
  for await (const chunk of body as unknown as AsyncIterable<Uint8Array>) {
    buffered += decoder.decode(chunk, { stream: true });
    for (;;) {
      const end = /\r?\n\r?\n/.exec(buffered);
      if (!end) break;
      const block = buffered.slice(0, end.index);
      buffered = buffered.slice(end.index + end[0].length);
      let event = 'message';
      const data: string[] = [];
      for (const line of block.split(/\r?\n/)) {
        if (line.startsWith('event:')) event = line.slice(6).trim();
        else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
      }
      if (event !== 'message' || data.length === 0) continue;
      const parsed = JSONRPCMessageSchema.safeParse(safeJson(data.join('\n')));
      if (parsed.success) yield parsed.data;
    }
  }
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
