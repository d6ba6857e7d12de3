import { createHash } from 'node:crypto';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { getDefaultEnvironment, StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import {
  type ClientCapabilities,
  ErrorCode,
  type JSONRPCNotification,
} from '@modelcontextprotocol/sdk/types.js';
import type { Services } from '../services/context.js';
import type { UpstreamKeys } from './bound-keys.js';
import type { StdioUpstream } from './config.js';
import { RpcError } from './errors.js';
import { type Forward, sourceClient } from './forwarding.js';
import type { Guard } from './guard.js';
import type { Lease } from './local.js';
import { OneMessagePerTurn } from './transports.js';

interface Running {
  key: string;
  upstream: string;
  connectionId: string;
  client: Client;
  ready: Promise<void>;
  /** The downstream operations using this process now; the oldest receives its server-to-client requests. */
  users: Forward[];
  lastUsed: number;
}

const SWEEP_MS = 30_000;

/**
 * Stdio upstreams: one process per connection (on the instance that serves
 * it), started with the connection's current API key in its environment, so
 * a process only ever acts for one user (the key is bound to this upstream, SPEC §9). A regenerated key or different client
 * capabilities start a fresh process; idle processes are stopped. A stdio
 * session cannot move between instances: each instance runs its own.
 *
 * A stdio message carries no hint of the request it belongs to, so a sampling
 * or elicitation request goes to the client over the stream of the oldest
 * operation in flight on that process.
 */
export class StdioUpstreams {
  private readonly running = new Map<string, Running>();
  private readonly sweeper: NodeJS.Timeout;

  constructor(
    private readonly s: Services,
    private readonly keys: UpstreamKeys,
    private readonly idleTimeout: (upstream: string) => number,
    /** A process's notifications for the connection's own stream (SPEC §11). */
    private readonly notify: (connectionId: string, message: JSONRPCNotification) => void = () => undefined,
  ) {
    this.sweeper = setInterval(() => this.sweep(), SWEEP_MS);
    this.sweeper.unref();
  }

  count(upstream: string): number {
    let n = 0;
    for (const r of this.running.values()) if (r.upstream === upstream) n++;
    return n;
  }

  async open(
    upstream: StdioUpstream,
    o: { connectionId: string; capabilities: ClientCapabilities; forward: Forward; guard: Guard },
  ): Promise<Lease> {
    const apiKey = await this.keys.current(o.connectionId, upstream.name);
    const key = [
      upstream.name,
      o.connectionId,
      createHash('sha256').update(apiKey).digest('base64url').slice(0, 16),
      JSON.stringify(o.capabilities),
    ].join('\u0000');
    for (const other of this.running.values()) {
      if (other.upstream === upstream.name && other.connectionId === o.connectionId && other.key !== key) {
        void this.stop(other);
      }
    }
    let entry = this.running.get(key);
    if (!entry) {
      entry = this.start(upstream, o.connectionId, key, apiKey, o.capabilities);
      this.running.set(key, entry);
    }
    const running = entry;
    running.users.push(o.forward);
    running.lastUsed = Date.now();
    const leave = () => {
      running.users = running.users.filter((f) => f !== o.forward);
      running.lastUsed = Date.now();
    };
    try {
      await o.guard.race(running.ready);
    } catch (err) {
      leave();
      void this.stop(running);
      throw err;
    }
    return { client: running.client, end: async () => leave() };
  }

  private start(
    upstream: StdioUpstream,
    connectionId: string,
    key: string,
    apiKey: string,
    capabilities: ClientCapabilities,
  ): Running {
    const transport = new StdioClientTransport({
      command: upstream.command,
      args: [...upstream.args],
      env: { ...getDefaultEnvironment(), ...upstream.env, [upstream.credentialEnv]: apiKey },
      cwd: upstream.cwd,
      stderr: 'pipe',
    });
    transport.stderr?.on('data', (chunk: Buffer) => {
      this.s.log.debug(
        { upstream: upstream.name, stderr: chunk.toString('utf8').slice(0, 500) },
        'upstream stderr',
      );
    });
    const running: Running = {
      key,
      upstream: upstream.name,
      connectionId,
      client: sourceClient(capabilities, (request, signal) => {
        const first = running.users[0];
        if (!first)
          throw new RpcError(ErrorCode.InvalidRequest, 'No client request is in flight to answer this');
        return first(request, signal);
      }),
      ready: Promise.resolve(),
      users: [],
      lastUsed: Date.now(),
    };
    running.client.fallbackNotificationHandler = async (n) =>
      this.notify(connectionId, { jsonrpc: '2.0', ...n });
    running.client.onclose = () => {
      if (this.running.get(key) === running) this.running.delete(key);
    };
    running.ready = running.client.connect(new OneMessagePerTurn(transport), { timeout: upstream.timeoutMs });
    running.ready.catch(() => undefined);
    return running;
  }

  private stop(running: Running): Promise<void> {
    if (this.running.get(running.key) === running) this.running.delete(running.key);
    return running.client.close().catch(() => undefined);
  }

  private sweep(): void {
    const now = Date.now();
    for (const r of this.running.values()) {
      if (r.users.length === 0 && now - r.lastUsed > this.idleTimeout(r.upstream)) void this.stop(r);
    }
  }

  /** The client started a new session: the connection's processes start afresh too. */
  closeConnection(connectionId: string): void {
    for (const r of [...this.running.values()]) if (r.connectionId === connectionId) void this.stop(r);
  }

  async close(): Promise<void> {
    clearInterval(this.sweeper);
    await Promise.all([...this.running.values()].map((r) => this.stop(r)));
  }
}
