import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import {
  type ClientCapabilities,
  type JSONRPCNotification,
  LATEST_PROTOCOL_VERSION,
} from '@modelcontextprotocol/sdk/types.js';
import type { UpstreamKeys } from './bound-keys.js';
import type { HttpUpstream } from './config.js';
import { type UpstreamPost, upstreamFetch, upstreamPost } from './credential.js';
import { type Forward, sourceClient } from './forwarding.js';
import { type Guard, UpstreamLost } from './guard.js';
import { UpstreamHttpTransport } from './http-transport.js';
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
  /** The session is gone at the upstream: the client is not to be reused. */
  discard?(): void;
}

/**
 * For `guard.race(http.open(...), endLate)`: a lease that arrives after its
 * guard stopped the operation is given back, and so closed (`giveBack`).
 */
export function endLate(lease: Lease): void {
  void lease.end().catch(() => undefined);
}

/** The SDK's own request timeout stays out of the way: the Guard keeps time. */
export const NO_SDK_TIMEOUT = 24 * 3_600_000;

/**
 * Idle clients kept per upstream session (as many as the calls one connection
 * makes at once: an agent's parallel tool calls, the bench's 20; a client made
 * and closed per call beyond it cost 2.5 % of G1's CPU at 8), and in all;
 * pools kept per instance.
 */
const MAX_IDLE = 32;
const MAX_IDLE_TOTAL = 2_000;
const MAX_POOLS = 5_000;

/** An SDK Client of one upstream session, used by one downstream operation at a time. */
interface Pooled {
  client: Client;
  pool: Pool;
  /** The operation using it now: where the upstream's requests and a lost stream go. */
  user?: { forward: Forward; guard: Guard };
  broken: boolean;
}

/** The idle clients of one (connection, upstream, session, capabilities). */
interface Pool {
  key: string;
  connectionId: string;
  idle: Pooled[];
}

/**
 * Streamable HTTP upstreams. Each downstream operation has an SDK Client to
 * itself for as long as it runs, so whatever the upstream sends on that
 * request's stream (progress, sampling, elicitation) belongs to exactly that
 * operation; the Client is then handed back to its session's pool and reused
 * by the next operation (issue 13: no Client, transport and validator per
 * call; fetch keeps its connections alive). The upstream's session outlives
 * them: its Mcp-Session-Id is stored per connection and upstream (kept in
 * memory, sessions.ts), and any instance resumes it (the transport's
 * `sessionId` option; the SDK Client then skips initialize).
 */
export class HttpUpstreams {
  /** Sessions being opened on this instance, so concurrent requests share one. */
  private readonly opening = new Map<string, Promise<void>>();
  private readonly pools = new Map<string, Pool>();
  /** Idle clients in all pools. */
  private idleCount = 0;
  /** Upstreams that answered a connection's initialize without a session, and the protocol version agreed. */
  private readonly stateless = new Map<string, string>();

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
        const pooled = this.take(upstream, o, stored.sessionId);
        if (!pooled.client.transport) {
          const transport = this.transport(upstream, o.connectionId, stored.sessionId);
          transport.setProtocolVersion(stored.protocolVersion);
          try {
            await pooled.client.connect(transport);
          } catch (err) {
            void pooled.client.close().catch(() => undefined);
            throw err;
          }
        }
        return {
          client: pooled.client,
          resumed: stored.sessionId,
          discard: () => {
            pooled.broken = true;
          },
          end: async () => this.giveBack(pooled),
        };
      }
      if (!this.opening.has(key)) break;
    }
    // A stateless upstream (no session id) keeps its initialized clients too.
    const ready = this.unpark(this.pool(upstream, o, ''));
    if (ready) {
      ready.user = { forward: o.forward, guard: o.guard };
      return { client: ready.client, end: async () => this.giveBack(ready) };
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

  /** POSTs a message to the upstream as this connection, with its headers and credential (direct-call.ts). */
  post(upstream: HttpUpstream, connectionId: string): UpstreamPost {
    return upstreamPost(this.keys, upstream, connectionId);
  }

  /** Ends a session at the upstream (DELETE), e.g. after the client started a new one. */
  async terminate(upstream: HttpUpstream, connectionId: string, sessionId: string): Promise<void> {
    this.dropConnection(connectionId);
    const transport = this.transport(upstream, connectionId, sessionId);
    await transport.start();
    try {
      await transport.terminateSession();
    } finally {
      await transport.close();
    }
  }

  /** The protocol version of a connection's calls to an upstream that keeps no session, once one was opened here. */
  statelessVersion(connectionId: string, upstream: string): string | undefined {
    return this.stateless.get(`${connectionId}\u0000${upstream}`);
  }

  /** Closes the idle clients of a connection's sessions (they were replaced or ended). */
  dropConnection(connectionId: string): void {
    for (const key of this.stateless.keys()) {
      if (key.startsWith(`${connectionId}\u0000`)) this.stateless.delete(key);
    }
    for (const [key, pool] of this.pools) {
      if (pool.connectionId !== connectionId) continue;
      this.pools.delete(key);
      this.closeIdle(pool);
    }
  }

  close(): void {
    for (const pool of this.pools.values()) this.closeIdle(pool);
    this.pools.clear();
  }

  private closeIdle(pool: Pool): void {
    this.idleCount -= pool.idle.length;
    for (const p of pool.idle.splice(0)) void p.client.close().catch(() => undefined);
  }

  private unpark(pool: Pool): Pooled | undefined {
    const pooled = pool.idle.pop();
    if (pooled) this.idleCount--;
    return pooled;
  }

  private async initialize(upstream: HttpUpstream, o: OpenOptions): Promise<HttpLease> {
    const fresh = this.pooled(this.pool(upstream, o, ''), o);
    const transport = this.transport(upstream, o.connectionId);
    try {
      await o.guard.race(
        fresh.client.connect(transport, { signal: o.guard.signal, timeout: NO_SDK_TIMEOUT }),
      );
    } catch (err) {
      fresh.broken = true;
      void fresh.client.close().catch(() => undefined);
      throw err;
    }
    if (!transport.sessionId) {
      if (this.stateless.size >= MAX_POOLS) this.stateless.clear();
      this.stateless.set(
        `${o.connectionId}\u0000${upstream.name}`,
        transport.protocolVersion ?? LATEST_PROTOCOL_VERSION,
      );
    } else {
      fresh.pool = this.pool(upstream, o, transport.sessionId);
      await this.sessions.save(o.connectionId, upstream.name, {
        sessionId: transport.sessionId,
        protocolVersion: transport.protocolVersion ?? LATEST_PROTOCOL_VERSION,
      });
    }
    return { client: fresh.client, end: async () => this.giveBack(fresh) };
  }

  private pool(upstream: HttpUpstream, o: OpenOptions, sessionId: string): Pool {
    const key = [o.connectionId, upstream.name, sessionId, JSON.stringify(o.capabilities)].join('\u0000');
    let pool = this.pools.get(key);
    if (pool) {
      this.pools.delete(key);
    } else {
      pool = { key, connectionId: o.connectionId, idle: [] };
      if (this.pools.size >= MAX_POOLS) {
        const [oldest, old] = this.pools.entries().next().value as [string, Pool];
        this.pools.delete(oldest);
        this.closeIdle(old);
      }
    }
    this.pools.set(key, pool);
    return pool;
  }

  /** An idle client of the session, or a new one (not yet connected). */
  private take(upstream: HttpUpstream, o: OpenOptions, sessionId: string): Pooled {
    const pool = this.pool(upstream, o, sessionId);
    const idle = this.unpark(pool);
    if (idle) {
      idle.user = { forward: o.forward, guard: o.guard };
      return idle;
    }
    return this.pooled(pool, o);
  }

  private pooled(pool: Pool, o: OpenOptions): Pooled {
    const pooled: Pooled = { pool, broken: false, user: { forward: o.forward, guard: o.guard } } as Pooled;
    pooled.client = sourceClient(o.capabilities, (request, signal) => {
      if (!pooled.user) return Promise.reject(new Error('no request is waiting for this answer'));
      return pooled.user.forward(request, signal);
    });
    // What is not about the request (list changes, log messages) goes to the connection's stream (SPEC §11).
    pooled.client.fallbackNotificationHandler = async (n) => o.notify({ jsonrpc: '2.0', ...n });
    // A request's SSE stream that breaks (upstream killed, network gone) fails
    // its operation at once instead of at the timeout; the client is not reused.
    pooled.client.onerror = (err) => {
      if (/SSE stream disconnected/.test(err.message)) {
        pooled.broken = true;
        pooled.user?.guard.stop(new UpstreamLost('the connection was lost'));
      }
    };
    return pooled;
  }

  /** The operation is over: the client goes back to its pool, unless it broke or was stopped. */
  private giveBack(pooled: Pooled): void {
    // Given back already (a lease is ended once; a second end changes nothing).
    if (pooled.user === undefined) return;
    const stopped = pooled.user?.guard.halt.aborted ?? false;
    pooled.user = undefined;
    const pool = pooled.pool;
    if (
      pooled.broken ||
      stopped ||
      this.pools.get(pool.key) !== pool ||
      pool.idle.length >= MAX_IDLE ||
      this.idleCount >= MAX_IDLE_TOTAL
    ) {
      void pooled.client.close().catch(() => undefined);
      return;
    }
    pool.idle.push(pooled);
    this.idleCount++;
  }

  private transport(upstream: HttpUpstream, connectionId: string, sessionId?: string) {
    const fetch = upstreamFetch(this.keys, upstream, connectionId);
    return UpstreamHttpTransport.create(
      new URL(upstream.url),
      upstreamPost(this.keys, upstream, connectionId),
      // The session's own GET stream is held by upstream-streams.ts on the instance with the
      // client's stream (SPEC §11); an operation's client must not take it (the upstream allows one).
      (url, init) =>
        init?.method === 'GET' ? Promise.resolve(new Response(null, { status: 405 })) : fetch(url, init),
      sessionId,
    );
  }
}
