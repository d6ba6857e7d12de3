import { mkdirSync, realpathSync } from 'node:fs';
import { dirname } from 'node:path';
import SqliteDatabase from 'better-sqlite3';
import { Kysely, type Migration, type MigrationProvider, Migrator, PostgresDialect } from 'kysely';
import pg from 'pg';
import { type Clock, systemClock } from '../domain/clock.js';
import { Unavailable } from '../domain/errors.js';
import { groupCommitDialect } from './group-commit.js';
import { type Evict, runTransaction, type Tx } from './invalidations.js';
import { initial } from './migrations/0001_initial.js';
import { hardening } from './migrations/0002_hardening.js';
import { upstreams } from './migrations/0003_upstreams.js';
import { connectionList } from './migrations/0004_connection_list.js';
import { upstreamKeys } from './migrations/0005_upstream_keys.js';
import { userStatus } from './migrations/0005_user_status.js';
import { identity } from './migrations/0006_identity.js';
import { logoutTokens } from './migrations/0007_logout_tokens.js';
import { scim } from './migrations/0008_scim.js';
import { auditOutbox } from './migrations/0009_audit_outbox.js';
import { connectionPolicy } from './migrations/0010_connection_policy.js';
import { streamMessages } from './migrations/0012_stream_messages.js';
import type { Database, Dialect } from './schema.js';

export type { Dialect } from './schema.js';
export type Db = Kysely<Database>;

/** The open database: Kysely plus what the cache needs to watch for other writers. */
export interface Store {
  db: Db;
  dialect: Dialect;
  /**
   * Runs fn in one transaction, atomic on both backends (STYLE §7). The
   * transaction records its own cache invalidations (store/invalidations.ts).
   */
  transact<T>(fn: (tx: Tx) => Promise<T>): Promise<T>;
  /** Set once by whoever owns the token cache: receives this process's evictions after each commit. */
  onEvict?: Evict;
  /** SQLite only: the raw handle, for PRAGMA data_version. */
  sqlite?: SqliteDatabase.Database;
  /** PostgreSQL only: the connection string, for the LISTEN connection. */
  postgresUrl?: string;
  /** Queries run so far: exported as a metric, and how tests see the hot path stay off the database. */
  queries(): number;
  close(): Promise<void>;
}

export function openStore(databaseUrl: string, clock: Clock = systemClock): Store {
  return databaseUrl.startsWith('sqlite:')
    ? openSqlite(databaseUrl.slice('sqlite:'.length), clock)
    : openPostgres(databaseUrl, clock);
}

function openSqlite(path: string, clock: Clock): Store {
  if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
  const raw = new SqliteDatabase(path);
  raw.pragma('journal_mode = WAL');
  // Durable at every acknowledged commit: the group-commit driver fsyncs the WAL
  // itself after each COMMIT, off the event loop; NORMAL keeps SQLite's own syncs
  // around checkpoints and WAL restarts (store/group-commit.ts).
  raw.pragma('synchronous = NORMAL');
  // A checkpoint runs inside a COMMIT and stops the event loop while it copies
  // pages into the database and fsyncs it. Every 10,000 pages (~40 MB of WAL)
  // rather than every 1,000, a page the token tables rewrite again and again is
  // copied once per checkpoint, not ten times: the mean COMMIT of the refresh
  // benchmark went from 10.1 to 3.9 ms (issue #5, B3). The WAL is cut back to
  // 64 MB after a checkpoint.
  raw.pragma('wal_autocheckpoint = 10000');
  raw.pragma('journal_size_limit = 67108864');
  raw.pragma('foreign_keys = ON');
  raw.pragma('busy_timeout = 5000');
  const counter = queryCounter();
  // Writes are committed in groups, one fsync for all the writes of an event-loop
  // turn (store/group-commit.ts). Each group starts with BEGIN IMMEDIATE, which
  // takes the write lock up front, so a transaction that reads then writes cannot
  // fail half-way because another process (the CLI) wrote.
  // SQLite names the WAL after the database's real path: a DATABASE_URL that
  // names a symbolic link to the file must fsync that WAL, not `<link>-wal`.
  const wal = path === ':memory:' ? undefined : `${realpathSync(raw.name)}-wal`;
  const db = new Kysely<Database>({ dialect: groupCommitDialect(raw, wal), log: counter.log });
  const store: Store = {
    queries: counter.count,
    db,
    dialect: 'sqlite',
    sqlite: raw,
    transact: (fn) => runTransaction(db, { postgres: false, clock, evict: () => store.onEvict }, fn),
    close: () => db.destroy(),
  };
  return store;
}

function queryCounter() {
  let n = 0;
  return {
    log: () => {
      n++;
    },
    count: () => n,
  };
}

const INT8_OID = 20;

function openPostgres(url: string, clock: Clock): Store {
  const pool = new pg.Pool({
    connectionString: url,
    max: 10,
    connectionTimeoutMillis: 3000,
    statement_timeout: 5000,
    query_timeout: 6000,
    types: {
      getTypeParser: (oid: number, format?: 'text' | 'binary') =>
        oid === INT8_OID ? (v: string) => Number(v) : pg.types.getTypeParser(oid, format),
    } as pg.CustomTypesConfig,
  });
  // A client dropped by the server must not crash the process. The pool listens
  // for errors on idle clients only (pool 'error'); a checked-out client whose
  // connection dies mid-transaction (the database gone, a proxy cut) emits
  // 'error' with nobody listening, which would kill the process. Its queries
  // fail on their own (and answer 503); the pool drops it when it is released.
  pool.on('error', () => undefined);
  pool.on('connect', (client) => client.on('error', () => undefined));
  const counter = queryCounter();
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }), log: counter.log });
  const store: Store = {
    queries: counter.count,
    db,
    dialect: 'postgres',
    postgresUrl: url,
    transact: (fn) => runTransaction(db, { postgres: true, clock, evict: () => store.onEvict }, fn),
    close: () => db.destroy(),
  };
  return store;
}

/** Errors that mean "the database is not there right now", rendered as 503. */
export function isUnavailable(err: unknown): boolean {
  if (err instanceof Unavailable) return true;
  const e = err as { code?: string; message?: string };
  const code = e?.code ?? '';
  return (
    [
      'ECONNREFUSED',
      'ECONNRESET',
      'ETIMEDOUT',
      'EPIPE',
      '57P01',
      '57P02',
      '57P03',
      '08006',
      '08001',
      '08003',
    ].includes(code) ||
    code.startsWith('SQLITE_BUSY') ||
    /timeout exceeded when trying to connect|Connection terminated|Query read timeout/i.test(e?.message ?? '')
  );
}

/**
 * A unique or primary-key constraint refused a write: two requests created the
 * same thing at once (PostgreSQL 23505; SQLite serialises writers, but says
 * SQLITE_CONSTRAINT_UNIQUE / _PRIMARYKEY the same way).
 */
export function isUniqueViolation(err: unknown): boolean {
  const code = (err as { code?: string })?.code ?? '';
  return code === '23505' || code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY';
}

/** PostgreSQL gave up one of two transactions waiting on each other (deadlock, serialization): try again. */
export function isRetryable(err: unknown): boolean {
  const code = (err as { code?: string })?.code ?? '';
  return code === '40P01' || code === '40001';
}

class Migrations implements MigrationProvider {
  constructor(private readonly dialect: Dialect) {}
  async getMigrations(): Promise<Record<string, Migration>> {
    return {
      '0001_initial': initial(this.dialect),
      '0002_hardening': hardening(this.dialect),
      '0003_upstreams': upstreams(this.dialect),
      '0004_connection_list': connectionList(this.dialect),
      '0005_upstream_keys': upstreamKeys(this.dialect),
      '0005_user_status': userStatus(),
      '0006_identity': identity(this.dialect),
      '0007_logout_tokens': logoutTokens(),
      '0008_scim': scim(this.dialect),
      '0009_audit_outbox': auditOutbox(this.dialect),
      '0010_connection_policy': connectionPolicy(this.dialect),
      '0012_stream_messages': streamMessages(),
    };
  }
}

/** Applies every pending migration; run at start-up and by `waxseal migrate`. */
export async function migrate(store: Store): Promise<string[]> {
  const migrator = new Migrator({ db: store.db, provider: new Migrations(store.dialect) });
  const { error, results } = await migrator.migrateToLatest();
  if (error) throw error;
  return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
}
