import { ConfigError } from '../config.js';
import type { Services } from '../services/context.js';
import { UpstreamKeys } from './bound-keys.js';
import type { UpstreamDefinition } from './config.js';
import { Gateway } from './gateway.js';
import { UpstreamHealth, type UpstreamReport } from './health.js';
import { HttpUpstreams } from './http-upstream.js';
import { ToolPermissions } from './permissions.js';
import { Relay } from './relay.js';
import { SessionStore } from './sessions.js';
import { StdioUpstreams } from './stdio-upstream.js';

/** What /mcp and /readyz need of gateway and library mode; one per server. */
export interface McpRuntime {
  relay: Relay;
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
  if (upstreams.length === 0) {
    return {
      relay,
      upstreams,
      gateway: null,
      streaming: options.libraryTools,
      report: () => null,
      onClose,
      close: async () => {
        closeAll();
        relay.close();
      },
    };
  }
  const idle = new Map(upstreams.map((u) => [u.name, u.kind === 'stdio' ? u.idleTimeoutMs : 0]));
  const keys = new UpstreamKeys(s);
  const stdio = new StdioUpstreams(s, keys, (name) => idle.get(name) ?? 0);
  const health = new UpstreamHealth(upstreams, (name) => stdio.count(name));
  const sessions = new SessionStore(s);
  const http = new HttpUpstreams(keys, sessions);
  // A revoked or regenerated connection's upstream clients are not kept.
  s.cache.follow((kind, ref) => {
    if (kind === 'connection') http.dropConnection(ref);
  });
  const gateway = new Gateway({
    s,
    upstreams,
    sessions,
    http,
    stdio,
    health,
    permissions: new ToolPermissions(s),
  });
  s.log.info(
    { upstreams: upstreams.map((u) => ({ name: u.name, transport: u.kind })) },
    'serving upstream MCP servers through /mcp',
  );
  return {
    relay,
    upstreams,
    gateway,
    streaming: true,
    report: () => health.report(),
    onClose,
    close: async () => {
      closeAll();
      relay.close();
      http.close();
      await stdio.close();
    },
  };
}
