import { createServer, type Server } from 'node:http';
import type { Express } from 'express';
import pino, { type Logger } from 'pino';
import { TokenCache } from './cache/token-cache.js';
import { LEASE_MS, type Watcher, watchPostgres, watchSqlite } from './cache/watchers.js';
import type { Config } from './config.js';
import { type Clock, MINUTE, systemClock } from './domain/clock.js';
import { type Random, systemRandom } from './domain/secrets.js';
import { createApp } from './http/app.js';
import type { RegisterTools } from './http/mcp/endpoint.js';
import { expressMessages } from './http/mcp/post-first.js';
import { loadSecret } from './secret.js';
import { logAuditEvents, streamAuditEvents } from './services/audit.js';
import { type AuditStream, startAuditStream } from './services/audit-stream.js';
import type { Services } from './services/context.js';
import { LastUsed } from './services/last-used.js';
import { discoverIdp } from './services/oidc-client.js';
import { RequestBudgets } from './services/request-budget.js';
import { ensureAdminFromConfig, issueSetupToken } from './services/setup.js';
import {
  sweepExpired,
  sweepExpiredConnections,
  sweepRateLimits,
  sweepUnusedClients,
} from './services/sweep.js';
import { migrate, openStore } from './store/db.js';
import { startTracing } from './telemetry/tracing.js';
import { loadUpstreams, type UpstreamDefinition } from './upstreams/config.js';
import { openMcpRuntime } from './upstreams/runtime.js';

export interface OpenOptions {
  clock?: Clock;
  random?: Random;
  log?: Logger;
}

/** Opens the database (migrating it) and builds the services; shared by the server and the CLI. */
export async function openServices(config: Config, options: OpenOptions = {}): Promise<Services> {
  const log = options.log ?? pino({ level: config.logLevel });
  const clock = options.clock ?? systemClock;
  const store = openStore(config.databaseUrl, clock);
  try {
    await migrate(store);
  } catch (err) {
    await store.close();
    throw err;
  }
  logAuditEvents(store.db, log);
  // SPEC §13: with the audit stream on, every process writes outbox rows (the CLI too);
  // servers deliver them, and wake their worker at once (startServer).
  if (config.auditWebhook) streamAuditEvents(store.db, () => undefined);
  // PostgreSQL's cache answers only under the listener's lease (cache/watchers.ts).
  const cache = new TokenCache(clock, { leaseMs: LEASE_MS, leased: store.dialect === 'postgres' });
  await cache.start(store.db);
  store.onEvict = (kind, ref) => cache.evict(kind, ref);
  return {
    config,
    store,
    clock,
    random: options.random ?? systemRandom,
    secret: loadSecret(config),
    cache,
    log,
    lastUsed: new LastUsed(store, clock, log),
    budgets: config.mcpRequestsPerMinutePerConnection
      ? new RequestBudgets(store, clock, log, config.mcpRequestsPerMinutePerConnection)
      : null,
  };
}

export interface RunningServer {
  url: string;
  /** The one-time first-run URL printed in the log, when no user exists yet (SPEC §1). */
  setupUrl?: string;
  services: Services;
  app: Express;
  close(): Promise<void>;
}

export async function startServer(
  config: Config,
  options: OpenOptions & { tools?: RegisterTools[]; upstreams?: readonly UpstreamDefinition[] } = {},
): Promise<RunningServer> {
  // Issue #7: a bad upstreams file stops start-up before anything is opened.
  const upstreams = options.upstreams ?? loadUpstreams(config);
  // SPEC §10: an unreachable issuer stops start-up with one line (IdpUnreachable), before anything is opened.
  const idp = config.oidc ? await discoverIdp(config.oidc) : undefined;
  // SPEC §13: the SDK is loaded only when an OTLP endpoint is set.
  const tracing = await startTracing(config.traces);
  const s = await openServices(config, options);
  s.idp = idp;
  const watcher: Watcher =
    s.store.dialect === 'sqlite' ? watchSqlite(s.store, s.cache) : watchPostgres(s.store, s.cache, s.log);
  const admin = await ensureAdminFromConfig(s);
  if (admin) s.log.info({ email: admin.email }, 'created the first owner from WAXSEAL_ADMIN_EMAIL');
  const setupToken = await issueSetupToken(s);
  const setupUrl = setupToken ? `${config.publicUrl}/setup?token=${setupToken}` : undefined;
  // The one-time setup URL is meant to be read in the log (SPEC §1 first run).
  if (setupUrl) s.log.info(`No users yet. Create the first owner at ${setupUrl}`);
  const stream: AuditStream | null = config.auditWebhook ? startAuditStream(s, config.auditWebhook) : null;
  if (stream) streamAuditEvents(s.store.db, stream.wake);
  const mcp = openMcpRuntime(s, upstreams, { libraryTools: (options.tools?.length ?? 0) > 0 });
  const app = createApp(s, { tools: options.tools, mcp });
  const server: Server = await new Promise((resolve, reject) => {
    // Headers beyond MAX_HEADER_BYTES get 431 from Node before any handler runs.
    const srv = createServer({ maxHeaderSize: config.limits.maxHeaderBytes, ...expressMessages(app) }, app);
    srv.listen(config.port, config.host, () => resolve(srv));
    srv.once('error', reject);
  });
  server.keepAliveTimeout = 5000;
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  const sweep = async () => {
    await sweepExpired(s);
    const clients = await sweepUnusedClients(s);
    if (clients > 0) s.log.info({ clients }, 'deleted dynamic registrations that were never used');
    await sweepRateLimits(s);
    const expired = await sweepExpiredConnections(s);
    if (expired > 0) s.log.info({ connections: expired }, 'revoked connections past CONNECTION_MAX_AGE_DAYS');
  };
  s.lastUsed.start();
  const sweeper = setInterval(() => void sweep().catch(() => undefined), 10 * MINUTE);
  sweeper.unref();
  s.log.info(
    { url: `http://${config.host}:${port}`, publicUrl: config.publicUrl, database: s.store.dialect },
    'Waxseal is listening',
  );
  let closing: Promise<void> | null = null;
  return {
    url: `http://${config.host.includes(':') ? `[${config.host}]` : config.host}:${port}`,
    setupUrl,
    services: s,
    app,
    close: () => {
      closing ??= (async () => {
        clearInterval(sweeper);
        // Open client streams would keep the HTTP server from closing.
        mcp.closeStreams();
        await new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeIdleConnections();
        });
        await mcp.close();
        await stream?.stop();
        // SPEC §12: the last uses noted since the last batch are written before the database closes.
        await s.lastUsed.close();
        await watcher.stop();
        await s.store.close();
        // Last, so the spans of the requests just finished are exported too.
        await tracing.shutdown();
      })();
      return closing;
    },
  };
}
