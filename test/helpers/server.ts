import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import pino from 'pino';
import { loadConfig } from '../../src/config.js';
import type { Clock } from '../../src/domain/clock.js';
import type { RegisterTools } from '../../src/http/mcp/endpoint.js';
import { type RunningServer, startServer } from '../../src/server.js';

export const POSTGRES_ADMIN_URL = process.env.TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.listen(0, '127.0.0.1', () => {
      const address = srv.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      srv.close(() => resolve(port));
    });
    srv.once('error', reject);
  });
}

let postgresAvailable: Promise<boolean> | null = null;

/** Whether PostgreSQL tests run; with REQUIRE_POSTGRES=1 (CI) a missing server fails instead of skipping. */
export function postgresSkip(): Promise<string | false> {
  postgresAvailable ??= (async () => {
    const client = new pg.Client({ connectionString: POSTGRES_ADMIN_URL, connectionTimeoutMillis: 2000 });
    try {
      await client.connect();
      await client.end();
      return true;
    } catch {
      return false;
    }
  })();
  return postgresAvailable.then((ok) => {
    if (ok) return false;
    if (process.env.REQUIRE_POSTGRES === '1')
      throw new Error(`REQUIRE_POSTGRES=1 but ${POSTGRES_ADMIN_URL} is unreachable`);
    return `PostgreSQL is not reachable at ${POSTGRES_ADMIN_URL}; set TEST_POSTGRES_URL or REQUIRE_POSTGRES=1`;
  });
}

/** A fresh, empty database: a SQLite file in a temp dir, or a new PostgreSQL database. */
export interface TestDatabase {
  url: string;
  dir: string;
  drop(): Promise<void>;
}

export async function createTestDatabase(kind: 'sqlite' | 'postgres'): Promise<TestDatabase> {
  const dir = mkdtempSync(join(tmpdir(), 'waxseal-test-'));
  if (kind === 'sqlite') {
    return {
      url: `sqlite:${join(dir, 'waxseal.db')}`,
      dir,
      drop: async () => rmSync(dir, { recursive: true, force: true }),
    };
  }
  const name = `waxseal_t_${process.pid}_${Math.random().toString(36).slice(2, 10)}`;
  const admin = new pg.Client({ connectionString: POSTGRES_ADMIN_URL });
  await admin.connect();
  await admin.query(`create database ${name}`);
  await admin.end();
  const url = new URL(POSTGRES_ADMIN_URL);
  url.pathname = `/${name}`;
  return {
    url: url.href,
    dir,
    drop: async () => {
      const c = new pg.Client({ connectionString: POSTGRES_ADMIN_URL });
      await c.connect();
      await c.query(`drop database if exists ${name} with (force)`);
      await c.end();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export const SECRET = 'test-secret-0123456789abcdef0123456789abcdef';

export function testEnv(
  db: TestDatabase,
  port: number,
  extra: Record<string, string> = {},
): Record<string, string> {
  return {
    PORT: String(port),
    HOST: '127.0.0.1',
    PUBLIC_URL: `http://127.0.0.1:${port}`,
    DATABASE_URL: db.url,
    WAXSEAL_SECRET: SECRET,
    LOG_LEVEL: 'silent',
    ...extra,
  };
}

export interface TestServer extends RunningServer {
  base: string;
  db: TestDatabase;
  env: Record<string, string>;
  stop(): Promise<void>;
}

/** Starts Waxseal in this process on a free port with its own fresh database. */
export async function startTestServer(
  kind: 'sqlite' | 'postgres' = 'sqlite',
  options: { env?: Record<string, string>; clock?: Clock; db?: TestDatabase; tools?: RegisterTools[] } = {},
): Promise<TestServer> {
  const db = options.db ?? (await createTestDatabase(kind));
  const port = await freePort();
  const env = testEnv(db, port, options.env);
  const running = await startServer(loadConfig(env), {
    clock: options.clock,
    tools: options.tools,
    log: pino({ level: 'silent' }),
  });
  return {
    ...running,
    base: env.PUBLIC_URL as string,
    db,
    env,
    stop: async () => {
      await running.close();
      if (!options.db) await db.drop();
    },
  };
}

/** A clock tests can move forward. */
export class TestClock implements Clock {
  constructor(private t = Date.now()) {}
  now(): number {
    return this.t;
  }
  advance(ms: number): void {
    this.t += ms;
  }
}
