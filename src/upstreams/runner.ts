import { setTimeout as delay } from 'node:timers/promises';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { RequestOptions } from '@modelcontextprotocol/sdk/shared/protocol.js';
import {
  type ClientCapabilities,
  ErrorCode,
  type JSONRPCNotification,
} from '@modelcontextprotocol/sdk/types.js';
import type { Services } from '../services/context.js';
import type { GatewayCaller } from './caller.js';
import { LOCAL } from './catalog.js';
import type { UpstreamDefinition } from './config.js';
import { isSessionGone, RpcError, upstreamOutcome } from './errors.js';
import { type DownstreamExtra, forwardProgress, forwardToClient, sourceClient } from './forwarding.js';
import { Guard } from './guard.js';
import type { UpstreamHealth } from './health.js';
import { endLate, type HttpLease, type HttpUpstreams, NO_SDK_TIMEOUT } from './http-upstream.js';
import { type Lease, openLocal } from './local.js';
import type { SessionStore } from './sessions.js';
import type { StdioUpstreams } from './stdio-upstream.js';

/** What reaching the sources takes, shared by every request. */
export interface SourceParts {
  s: Services;
  byName: ReadonlyMap<string, UpstreamDefinition>;
  sessions: SessionStore;
  http: HttpUpstreams;
  stdio: StdioUpstreams;
  health: UpstreamHealth;
  /** An upstream's notification for the connection's own stream (SPEC §11). */
  notify(connectionId: string, message: JSONRPCNotification): void;
}

export type Operation<T> = (client: Client, options: RequestOptions) => Promise<T>;

/** How long a stopped upstream request keeps its transport, so its notifications/cancelled is sent. */
const CANCEL_GRACE_MS = 1000;

/**
 * Runs the operations of one downstream request on its sources — the local
 * tools or an upstream — each with an SDK Client that forwards the source's
 * progress and requests to this request's client.
 */
export class SourceRunner {
  private capabilities?: Promise<ClientCapabilities>;

  constructor(
    private readonly parts: SourceParts,
    private readonly caller: GatewayCaller,
    private readonly extra: DownstreamExtra,
    private readonly local: () => McpServer,
    private readonly streaming: boolean,
  ) {}

  private caps(): Promise<ClientCapabilities> {
    this.capabilities ??= this.parts.sessions.clientCapabilities(this.caller.connection.id);
    return this.capabilities;
  }

  /**
   * Runs one operation on a source. An upstream gets the operation under its
   * Guard (timeout, cancellation, lost connection) and a resumed session that
   * the upstream has forgotten is replaced once.
   */
  async run<T>(source: string, operation: Operation<T>, progressToken?: string | number): Promise<T> {
    const capabilities = await this.caps();
    if (source === LOCAL) {
      const client = sourceClient(capabilities, forwardToClient(this.extra, this.streaming));
      const lease = await openLocal(this.local(), client, this.extra.authInfo);
      const progress = forwardProgress(this.extra, progressToken);
      try {
        const result = await operation(lease.client, {
          signal: this.extra.signal,
          timeout: NO_SDK_TIMEOUT,
          onprogress: progress.onprogress,
        });
        await progress.sent();
        return result;
      } finally {
        await lease.end();
      }
    }
    const upstream = this.parts.byName.get(source);
    if (!upstream) throw new RpcError(ErrorCode.InternalError, `No upstream named ${source}`);
    const { http, stdio, health, sessions, s } = this.parts;
    const guard = new Guard(upstream.timeoutMs, this.extra.signal);
    const open = {
      connectionId: this.caller.connection.id,
      capabilities,
      guard,
      forward: forwardToClient(this.extra, this.streaming, guard),
      notify: (message: JSONRPCNotification) => this.parts.notify(this.caller.connection.id, message),
    };
    const progress = forwardProgress(this.extra, progressToken, guard);
    const options: RequestOptions = {
      signal: guard.signal,
      timeout: NO_SDK_TIMEOUT,
      onprogress: progress.onprogress,
    };
    try {
      for (let attempt = 0; ; attempt++) {
        const lease: Lease & Partial<HttpLease> =
          upstream.kind === 'http'
            ? await guard.race(http.open(upstream, open), endLate)
            : await stdio.open(upstream, open);
        try {
          const result = await guard.race(operation(lease.client, options));
          health.succeeded(source);
          await progress.sent();
          return result;
        } catch (err) {
          if (attempt > 0 || !lease.resumed || !isSessionGone(err)) throw err;
          lease.discard?.();
          await sessions.forget(this.caller.connection.id, source, lease.resumed);
        } finally {
          // A stopped request's cancellation notice is on its way: let it reach the upstream.
          if (guard.halt.aborted) void delay(CANCEL_GRACE_MS).then(() => lease.end().catch(() => undefined));
          else await lease.end();
        }
      }
    } catch (err) {
      const outcome = upstreamOutcome(source, err, guard.halt);
      if (outcome.upstreamDown) {
        health.failed(source, outcome.error.message);
        s.log.warn({ upstream: source, err: outcome.error.message }, 'upstream request failed');
      }
      throw outcome.error;
    } finally {
      guard.done();
    }
  }
}
