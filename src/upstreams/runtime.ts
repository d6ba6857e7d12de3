import type { JSONRPCNotification } from '@modelcontextprotocol/sdk/types.js';
import { ConfigError } from '../config.js';
import type { Services } from '../services/context.js';
import { UpstreamKeys } from './bound-keys.js';
import { ClientStreams } from './client-streams.js';
import type { UpstreamDefinition } from './config.js';
import { Gateway } from './gateway.js';
import { UpstreamHealth, type UpstreamReport } from './health.js';
import { HttpUpstreams } from './http-upstream.js';
import { ToolPermissions } from './permissions.js';
import { Relay } from './relay.js';
import { SessionStore } from './sessions.js';
import { StdioUpstreams } from './stdio-upstream.js';
import { openStreamBus, type StreamBus } from './stream-bus.js';
import { STREAMED_NOTIFICATIONS, UpstreamStreams } from './upstream-streams.js';

/** What /mcp and /readyz need of gateway and library mode; one per server. */
export interface McpRuntime {
  relay: Relay;
  /** The connections' streams held here (GET /mcp, SPEC §11), and the bus that reaches those held elsewhere. */
  streams: ClientStreams;
  bus: StreamBus;
  /** Ends every client stream; the first step of shutdown, so the HTTP server can close. */
  closeStreams(): void;
  /** The configured upstreams (POST /introspect authenticates them by their own secrets). */
  upstreams: readonly UpstreamDefinition[];
  /** Null without upstreams: /mcp then serves the built-in and library tools directly. */
  gateway: Gateway | null;
  /** Tool calls, prompts and reads are answered over SSE, so they can carry progress and requests to the client. */
  streaming: boolean;
  /** Each upstream's state for /readyz; null without upstreams. */
  report(): Promise<Record<string, UpstreamReport>> | null;
  /** Something to end with the runtime (the connections' MCP servers). */
  onClose(fn: () => void): void;
  close(): Promise<void>;
}

export function openMcpRuntime(
  s: Services,
  upstreams: readonly UpstreamDefinition[],
  options: { libraryTools: boolean },
): McpRuntime {
  const shared = upstreams.find((u) => u.introspectionSecret === s.config.introspectionSecret);
  if (shared && s.config.introspectionSecret) {
    // Its holder would be taken for the global asker of /introspect and see every upstream's keys.
    throw new ConfigError(
      `upstreams.${shared.name}.introspectionSecret: must differ from INTROSPECTION_SECRET`,
    );
  }
  const relay = new Relay(s);
  const closing: (() => void)[] = [];
  const onClose = (fn: () => void) => {
    closing.push(fn);
  };
  const closeAll = () => {
    for (const fn of closing.splice(0)) fn();
  };
  const streams = openClientStreams(s);
  const bus = openStreamBus(s);
  bus.on('stream', (connectionId, message) => streams.deliver(connectionId, message));
  const closeStreams = () => streams.closeAll();
  if (upstreams.length === 0) {
    return {
      relay,
      streams,
      bus,
      closeStreams,
      upstreams,
      gateway: null,
      streaming: options.libraryTools,
      report: () => null,
      onClose,
      close: async () => {
        closeStreams();
        closeAll();
        relay.close();
        await bus.stop();
      },
    };
  }
  const idle = new Map(upstreams.map((u) => [u.name, u.kind === 'stdio' ? u.idleTimeoutMs : 0]));
  const keys = new UpstreamKeys(s);
  // SPEC §11: what an upstream sends outside a request goes to the connection's stream, wherever it is.
  const notify = (connectionId: string, message: JSONRPCNotification) => {
    if (!STREAMED_NOTIFICATIONS.has(message.method)) return;
    bus.publish('stream', connectionId, message).catch((err) => {
      s.log.warn({ err: String(err) }, 'an upstream notification could not be passed on');
    });
  };
  const stdio = new StdioUpstreams(s, keys, (name) => idle.get(name) ?? 0, notify);
  const health = new UpstreamHealth(upstreams, (name) => stdio.count(name));
  const sessions = new SessionStore(s);
  const http = new HttpUpstreams(keys, sessions);
  const listeners = new UpstreamStreams({
    s,
    keys,
    sessions,
    upstreams: upstreams.filter((u) => u.kind === 'http'),
    deliver: notify,
  });
  streams.onHeld = (connectionId) => void listeners.follow(connectionId).catch(() => undefined);
  streams.onReleased = (connectionId) => listeners.unfollow(connectionId);
  s.cache.follow((kind, ref) => {
    // A revoked or regenerated connection's upstream clients are not kept.
    if (kind === 'connection') http.dropConnection(ref);
    // A new or forgotten upstream session (on any instance): the holder of the client's stream follows it.
    if (kind === 'mcp_client' && streams.holds(ref)) void listeners.follow(ref).catch(() => undefined);
  });
  const gateway = new Gateway({
    s,
    upstreams,
    sessions,
    http,
    stdio,
    health,
    permissions: new ToolPermissions(s),
    notify,
  });
  s.log.info(
    { upstreams: upstreams.map((u) => ({ name: u.name, transport: u.kind })) },
    'serving upstream MCP servers through /mcp',
  );
  return {
    relay,
    streams,
    bus,
    closeStreams,
    upstreams,
    gateway,
    streaming: true,
    report: () => health.report(),
    onClose,
    close: async () => {
      closeStreams();
      listeners.close();
      closeAll();
      relay.close();
      http.close();
      await bus.stop();
      await stdio.close();
    },
  };
}

/** How often open streams look for revocations made by another process on SQLite (the CLI). */
const SQLITE_STREAM_CHECK_MS = 50;

function openClientStreams(s: Services): ClientStreams {
  const streams = new ClientStreams({
    log: s.log,
    now: () => s.clock.now(),
    // SQLite learns of other processes' commits at a lookup; open streams need one even when no request comes.
    watch:
      s.store.dialect === 'sqlite'
        ? { everyMs: SQLITE_STREAM_CHECK_MS, run: () => s.cache.beforeLookup() }
        : undefined,
  });
  // Every eviction (own commits, the PostgreSQL listener, SQLite's data_version) re-checks the streams it concerns.
  s.cache.follow((kind, ref) => streams.recheck(kind, ref));
  return streams;
}
