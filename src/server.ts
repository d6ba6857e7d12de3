import type { Server } from 'node:http';
import pino, { type Logger } from 'pino';
import { TokenCache } from './cache/token-cache.js';
import { type Watcher, watchPostgres, watchSqlite } from './cache/watchers.js';
import type { Config } from './config.js';
import { type Clock, MINUTE, systemClock } from './domain/clock.js';
import { type Random, systemRandom } from './domain/secrets.js';
import { createApp } from './http/app.js';
import type { RegisterTools } from './http/mcp/endpoint.js';
import { loadSecret } from './secret.js';
import type { Services } from './services/context.js';
import { ensureAdminFromConfig, issueSetupToken } from './services/setup.js';
import { sweepExpired } from './services/tokens.js';
import { migrate, openStore } from './store/db.js';

export interface OpenOptions {
  clock?: Clock;
  random?: Random;
  log?: Logger;
}

/** Opens the database (migrating it) and builds the services; shared by the server and the CLI. */
export async function openServices(config: Config, options: OpenOptions = {}): Promise<Services> {
  const log = options.log ?? pino({ level: config.logLevel });
  const store = openStore(config.databaseUrl);
  try {
    await migrate(store);
  } catch (err) {
    await store.close();
    throw err;
  }
  const cache = new TokenCache();
  await cache.start(store.db);
  return {
    config,
    store,
    clock: options.clock ?? systemClock,
    random: options.random ?? systemRandom,
    secret: loadSecret(config),
    cache,
    log,
  };
}

export interface RunningServer {
  url: string;
  services: Services;
  close(): Promise<void>;
}

export async function startServer(
  config: Config,
  options: OpenOptions & { tools?: RegisterTools[] } = {},
): Promise<RunningServer> {
  const s = await openServices(config, options);
  const watcher: Watcher =
    s.store.dialect === 'sqlite' ? watchSqlite(s.store, s.cache) : watchPostgres(s.store, s.cache, s.log);
  const admin = await ensureAdminFromConfig(s);
  if (admin) s.log.info({ email: admin.email }, 'created the first owner from WAXSEAL_ADMIN_EMAIL');
  const setupToken = await issueSetupToken(s);
  if (setupToken) {
    // The one-time setup URL is meant to be read in the log (SPEC §1 first run).
    s.log.info(`No users yet. Create the first owner at ${config.publicUrl}/setup?token=${setupToken}`);
  }
  const app = createApp(s, { tools: options.tools });
  const server: Server = await new Promise((resolve, reject) => {
    const srv = app.listen(config.port, config.host, () => resolve(srv));
    srv.once('error', reject);
  });
  server.keepAliveTimeout = 5000;
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  const sweeper = setInterval(() => void sweepExpired(s).catch(() => undefined), 10 * MINUTE);
  sweeper.unref();
  s.log.info(
    { url: `http://${config.host}:${port}`, publicUrl: config.publicUrl, database: s.store.dialect },
    'Waxseal is listening',
  );
  let closing: Promise<void> | null = null;
  return {
    url: `http://${config.host.includes(':') ? `[${config.host}]` : config.host}:${port}`,
    services: s,
    close: () => {
      closing ??= (async () => {
        clearInterval(sweeper);
        await new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeIdleConnections();
        });
        await watcher.stop();
        await s.store.close();
      })();
      return closing;
    },
  };
}
