import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import {
  type ClientCapabilities,
  type JSONRPCNotification,
  LATEST_PROTOCOL_VERSION,
} from '@modelcontextprotocol/sdk/types.js';
import type { UpstreamKeys } from './bound-keys.js';
import type { HttpUpstream } from './config.js';
import { upstreamFetch } from './credential.js';
import { type Forward, sourceClient } from './forwarding.js';
import { type Guard, UpstreamLost } from './guard.js';
import type { Lease } from './local.js';
import type { SessionStore } from './sessions.js';

export interface OpenOptions {
  connectionId: string;
  capabilities: ClientCapabilities;
  forward: Forward;
  guard: Guard;
  /** What the upstream sends that is not about the request (list changes, log messages, resource updates). */
  notify(message: JSONRPCNotification): void;
}

/** A lease on an HTTP upstream; `resumed` is the stored session it continues, if any. */
export interface HttpLease extends Lease {
  resumed?: string;
}

/** The SDK's own request timeout stays out of the way: the Guard keeps time. */
export const NO_SDK_TIMEOUT = 24 * 3_600_000;

/**
 * Streamable HTTP upstreams. Every downstream operation gets its own SDK
 * Client and transport, so whatever the upstream sends on that request's
 * stream (progress, sampling, elicitation) belongs to exactly that operation.
 * The upstream's session outlives them: its Mcp-Session-Id is stored per
 * connection and upstream, and any instance resumes it (the transport's
 * `sessionId` option; the SDK Client then skips initialize).
 */
export class HttpUpstreams {
  /** Sessions being opened on this instance, so concurrent requests share one. */
  private readonly opening = new Map<string, Promise<void>>();

  constructor(
    private readonly keys: UpstreamKeys,
    private readonly sessions: SessionStore,
  ) {}

  async open(upstream: HttpUpstream, o: OpenOptions): Promise<HttpLease> {
    const key = `${o.connectionId}\u0000${upstream.name}`;
    for (;;) {
      await this.opening.get(key);
      const stored = await this.sessions.get(o.connectionId, upstream.name);
      if (stored) {
        const client = this.client(o);
        const transport = this.transport(upstream, o.connectionId, stored.sessionId);
        transport.setProtocolVersion(stored.protocolVersion);
        await client.connect(transport);
        return { client, resumed: stored.sessionId, end: () => client.close() };
      }
      if (!this.opening.has(key)) break;
    }
    const opened = this.initialize(upstream, o);
    const settled = opened.then(
      () => undefined,
      () => undefined,
    );
    this.opening.set(key, settled);
    void settled.then(() => {
      if (this.opening.get(key) === settled) this.opening.delete(key);
    });
    return opened;
  }

  /** Ends a session at the upstream (DELETE), e.g. after the client started a new one. */
  async terminate(upstream: HttpUpstream, connectionId: string, sessionId: string): Promise<void> {
    const transport = this.transport(upstream, connectionId, sessionId);
    await transport.start();
    try {
      await transport.terminateSession();
    } finally {
      await transport.close();
    }
  }

  private async initialize(upstream: HttpUpstream, o: OpenOptions): Promise<HttpLease> {
    const client = this.client(o);
    const transport = this.transport(upstream, o.connectionId);
    await o.guard.race(client.connect(transport, { signal: o.guard.signal, timeout: NO_SDK_TIMEOUT }));
    if (transport.sessionId) {
      await this.sessions.save(o.connectionId, upstream.name, {
        sessionId: transport.sessionId,
        protocolVersion: transport.protocolVersion ?? LATEST_PROTOCOL_VERSION,
      });
    }
    return { client, end: () => client.close() };
  }

  private client(o: OpenOptions) {
    const client = sourceClient(o.capabilities, o.forward);
    client.fallbackNotificationHandler = async (n) => o.notify({ jsonrpc: '2.0', ...n });
    // A request's SSE stream that breaks (upstream killed, network gone) fails
    // its operation at once instead of at the timeout.
    client.onerror = (err) => {
      if (/SSE stream disconnected/.test(err.message))
        o.guard.stop(new UpstreamLost('the connection was lost'));
    };
    return client;
  }

  private transport(upstream: HttpUpstream, connectionId: string, sessionId?: string) {
    const fetch = upstreamFetch(this.keys, upstream, connectionId);
    return new StreamableHTTPClientTransport(new URL(upstream.url), {
      sessionId,
      // The session's own GET stream is held by upstream-streams.ts on the instance with the
      // client's stream (SPEC §11); an operation's client must not take it (the upstream allows one).
      fetch: (url, init) =>
        init?.method === 'GET' ? Promise.resolve(new Response(null, { status: 405 })) : fetch(url, init),
    });
  }
}
