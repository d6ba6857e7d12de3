import pino from 'pino';
import { loadConfig } from '../../src/config.js';
import { openServices } from '../../src/server.js';
import type { Services } from '../../src/services/context.js';
import { type Balancer, type Instance, startBalancer, startInstance } from './processes.js';
import { createTestDatabase, SECRET, type TestDatabase } from './server.js';

/** Two Waxseal processes on one PostgreSQL database, behind one balancer (what PUBLIC_URL names). */
export interface TwoInstances {
  db: TestDatabase;
  balancer: Balancer;
  a: Instance;
  b: Instance;
  /** The test's own services on that database, to set things up and look at rows. */
  admin: Services;
  /** The environment both instances run with. */
  env: Record<string, string>;
  stop(): Promise<void>;
}

/**
 * Starts the multi-instance tests' deployment on a new PostgreSQL database:
 * `env` is added to both instances' environment; `balanced` says which the
 * balancer sends to: both, or only B, so that a client signs in and calls
 * through B while A is reached by its own URL alone.
 */
export async function startTwoInstances(
  options: { env?: Record<string, string>; balanced?: 'both' | 'b' } = {},
): Promise<TwoInstances> {
  // What has started, stopped in reverse (also when a later start fails: nothing is left running).
  const stops: Array<() => Promise<void>> = [];
  const stop = async () => {
    for (const s of stops.splice(0).reverse()) await s().catch(() => undefined);
  };
  try {
    const db = await createTestDatabase('postgres');
    stops.push(() => db.drop());
    const balancer = await startBalancer();
    stops.push(() => balancer.close());
    const base = { DATABASE_URL: db.url, PUBLIC_URL: balancer.url, WAXSEAL_SECRET: SECRET };
    const env = { ...base, ...options.env };
    const a = await startInstance(env);
    stops.push(() => a.kill());
    const b = await startInstance(env);
    stops.push(() => b.kill());
    if (options.balanced === 'b') balancer.targets.push(b.port);
    else balancer.targets.push(a.port, b.port);
    // The database and URLs only: the instances' own settings (upstreams, limits) are theirs.
    const admin = await openServices(loadConfig({ ...base, LOG_LEVEL: 'silent' }), {
      log: pino({ level: 'silent' }),
    });
    stops.push(() => admin.store.close());
    return { db, balancer, a, b, admin, env, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
