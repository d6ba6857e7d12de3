import { type FileHandle, open } from 'node:fs/promises';
import { resolve as resolvePath } from 'node:path';
import type SqliteDatabase from 'better-sqlite3';
import {
  type CompiledQuery,
  type DatabaseConnection,
  type Dialect,
  type Driver,
  type QueryResult,
  SqliteDialect,
} from 'kysely';

/** One SQLite transaction shared by every write of one event-loop turn. */
interface Batch {
  committed: Promise<void>;
  resolve(): void;
  reject(err: unknown): void;
}

const SAVEPOINT = 'waxseal_tx';

/**
 * A FIFO mutex: `take()` is synchronous when it is free (the common case costs
 * nothing), otherwise a promise that resolves when it is this caller's turn.
 */
class Mutex {
  private held = false;
  private readonly waiting: (() => void)[] = [];

  take(): Promise<void> | undefined {
    if (!this.held) {
      this.held = true;
      return undefined;
    }
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  give(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.held = false;
  }
}

/**
 * SQLite's write lock, per database file, for every driver of this process.
 * better-sqlite3 waits for a busy lock synchronously (`busy_timeout`), stopping
 * the event loop; if the holder is another store of the same process (two
 * instances embedded in one process, as the tests start them), that holder can
 * then never reach its COMMIT, and both wait the whole timeout before one gets
 * SQLITE_BUSY. So a group takes this mutex, asynchronously, before BEGIN
 * IMMEDIATE and gives it back after its COMMIT or rollback; only another
 * process (the CLI) ever makes SQLite itself wait.
 */
const fileLocks = new Map<string, { lock: Mutex; users: number }>();
/**
 * The file's lock, keyed by its path (the real one: store/db.ts resolves
 * symbolic links, as SQLite does), counted so that the last store to close
 * removes it. A holder always gives it back when its group ends (`commit`),
 * so a waiter waits no longer than the groups ahead of it.
 */
function fileLockOf(path: string | undefined): { lock: Mutex; release(): void } {
  if (!path) return { lock: new Mutex(), release: () => undefined };
  const key = resolvePath(path);
  let entry = fileLocks.get(key);
  if (!entry) {
    entry = { lock: new Mutex(), users: 0 };
    fileLocks.set(key, entry);
  }
  entry.users++;
  const held = entry;
  let released = false;
  return {
    lock: held.lock,
    release: () => {
      if (released) return;
      released = true;
      if (--held.users === 0 && fileLocks.get(key) === held) fileLocks.delete(key);
    },
  };
}

/** How many database files have a lock entry (for tests). */
export function fileLockCount(): number {
  return fileLocks.size;
}
/** Distinct SQL texts kept prepared; the application has a few hundred at most. */
const MAX_STATEMENTS = 1000;

/**
 * Group commit for SQLite (issue #5, B3). Every durable COMMIT waits for an
 * fsync, and SQLite has a single writer, so committing each transaction on its
 * own caps a process at one write per fsync however many requests are waiting.
 * Here the writes made during one turn of the event loop share one transaction
 * (BEGIN IMMEDIATE … COMMIT) and so one fsync: each Kysely transaction is a
 * SAVEPOINT inside it, each statement outside a transaction runs in it, and
 * nobody is told that a write is done until the group is durable — the caller
 * of a write awaits it when it releases the connection. A failed COMMIT or
 * fsync fails every write of the group.
 *
 * The fsync runs off the event loop. better-sqlite3 is synchronous, so with
 * `synchronous = FULL` each COMMIT would stop every request for the length of
 * an fsync (8–11 ms on the benchmark machine). Instead the database runs with
 * `synchronous = NORMAL` (SQLite still syncs around checkpoints and when the
 * WAL restarts) and, after each COMMIT, the WAL file is fdatasync'ed on libuv's
 * thread pool (`walPath`): what FULL does at every commit, done while the next
 * group is being served. A commit is acknowledged only after an fsync that
 * started after it. Reads never wait: a read may see a write that is not yet
 * durable (another process too, once its COMMIT returned); a crash at that
 * moment loses that write, and nobody was told it had succeeded.
 */
export class GroupCommitDriver implements Driver {
  private batch: Batch | null = null;
  /** The batch the current connection holder wrote in, which it must see committed. */
  private holderBatch: Batch | null = null;
  private readonly holder = new Mutex();
  /** The database file's write lock (`fileLocks`), held from BEGIN IMMEDIATE until the group ends. */
  private fileLock = new Mutex();
  private releaseFileLock = () => {};
  private ownsFileLock = false;
  private readonly connection: DatabaseConnection;
  private readonly statements = new Map<string, SqliteDatabase.Statement>();
  /** The fdatasync of the WAL in progress, and the one queued behind it for commits made meanwhile. */
  private syncing: Promise<void> | null = null;
  private queuedSync: Promise<void> | null = null;
  private wal: Promise<FileHandle> | null = null;

  /** `walPath`: the WAL to fsync after each COMMIT; none for a database that is not durable (`:memory:`). */
  constructor(
    private readonly raw: SqliteDatabase.Database,
    private readonly walPath?: string,
  ) {
    this.connection = {
      executeQuery: <R>(query: CompiledQuery) => this.execute(query) as Promise<QueryResult<R>>,
      streamQuery: () => unsupported(),
    };
  }

  /** Kysely calls it before the first query, and `destroy` only after it. */
  async init(): Promise<void> {
    const file = fileLockOf(this.walPath?.slice(0, -'-wal'.length));
    this.fileLock = file.lock;
    this.releaseFileLock = file.release;
  }

  async acquireConnection(): Promise<DatabaseConnection> {
    await this.lock();
    this.holderBatch = null;
    return this.connection;
  }

  async releaseConnection(): Promise<void> {
    const wrote = this.holderBatch;
    this.holderBatch = null;
    this.unlock();
    if (wrote) await wrote.committed;
  }

  async beginTransaction(): Promise<void> {
    await this.join();
    this.raw.exec(`savepoint ${SAVEPOINT}`);
  }

  async commitTransaction(): Promise<void> {
    this.raw.exec(`release ${SAVEPOINT}`);
  }

  async rollbackTransaction(): Promise<void> {
    // An error that made SQLite roll back the whole transaction leaves no savepoint;
    // commit() then fails that group.
    if (this.raw.inTransaction) this.raw.exec(`rollback to ${SAVEPOINT}; release ${SAVEPOINT}`);
  }

  async destroy(): Promise<void> {
    await this.batch?.committed.catch(() => undefined);
    await this.queuedSync?.catch(() => undefined);
    await this.syncing?.catch(() => undefined);
    try {
      await (await this.wal?.catch(() => null))?.close();
      this.raw.close();
    } finally {
      this.releaseFileLock();
    }
  }

  private async execute(query: CompiledQuery): Promise<QueryResult<unknown>> {
    const stmt = this.prepare(query.sql);
    if (!stmt.readonly) await this.join();
    const params = query.parameters as unknown[];
    if (stmt.reader) return { rows: stmt.all(params) };
    const { changes, lastInsertRowid } = stmt.run(params);
    return { numAffectedRows: BigInt(changes), insertId: BigInt(lastInsertRowid), rows: [] };
  }

  /**
   * Kysely renders each query shape to the same SQL every time, so compiled
   * statements are kept (SQLite re-prepares one by itself if the schema changes).
   * Preparing costs more than running most of these statements.
   */
  private prepare(text: string): SqliteDatabase.Statement {
    let stmt = this.statements.get(text);
    if (!stmt) {
      if (this.statements.size >= MAX_STATEMENTS) this.statements.clear();
      stmt = this.raw.prepare(text);
      this.statements.set(text, stmt);
    }
    return stmt;
  }

  /** The connection holder is about to write: into the open group, or a new one. */
  private async join(): Promise<void> {
    if (this.batch && !this.raw.inTransaction) {
      // SQLite rolled the group back (e.g. disk full); commit() fails it. Later writes start afresh.
      this.batch = null;
      this.giveFileLock();
    }
    if (!this.batch) {
      const turn = this.fileLock.take();
      if (turn) await turn;
      this.ownsFileLock = true;
      try {
        this.raw.exec('begin immediate');
      } catch (err) {
        this.giveFileLock();
        throw err;
      }
      let resolve = () => {};
      let reject: (err: unknown) => void = () => {};
      const committed = new Promise<void>((res, rej) => {
        resolve = res;
        reject = rej;
      });
      // Awaited by each writer; this only keeps an unwaited failure from crashing the process.
      committed.catch(() => undefined);
      const batch = { committed, resolve, reject };
      this.batch = batch;
      setImmediate(() => void this.commit(batch));
    }
    this.holderBatch = this.batch;
  }

  /** Commits `batch` once whoever holds the connection now has released it. */
  private async commit(batch: Batch): Promise<void> {
    await this.lock();
    try {
      if (this.batch !== batch || !this.raw.inTransaction) {
        if (this.batch === batch) {
          this.batch = null;
          this.giveFileLock();
        }
        batch.reject(new Error('SQLite rolled back the transaction group; its writes were not committed'));
        return;
      }
      this.batch = null;
      try {
        this.raw.exec('commit');
      } catch (err) {
        if (this.raw.inTransaction) this.raw.exec('rollback');
        batch.reject(err);
        return;
      } finally {
        this.giveFileLock();
      }
      this.durable().then(batch.resolve, batch.reject);
    } finally {
      this.unlock();
    }
  }

  private giveFileLock(): void {
    if (!this.ownsFileLock) return;
    this.ownsFileLock = false;
    this.fileLock.give();
  }

  /**
   * Resolves once everything committed so far is on disk. An fsync already
   * running may have started before the latest COMMIT wrote, so one more is
   * queued behind it; every commit made until that one starts shares it.
   */
  private durable(): Promise<void> {
    if (!this.walPath) return Promise.resolve();
    if (!this.syncing) {
      this.syncing = this.syncWal().finally(() => {
        this.syncing = null;
      });
      return this.syncing;
    }
    this.queuedSync ??= this.syncing
      .catch(() => undefined)
      .then(() => {
        this.queuedSync = null;
        return this.durable();
      });
    return this.queuedSync;
  }

  private async syncWal(): Promise<void> {
    // The WAL lives as long as this connection is open (SQLite removes it when the last one closes).
    this.wal ??= open(this.walPath as string, 'r+');
    try {
      await (await this.wal).datasync();
    } catch (err) {
      this.wal = null;
      throw err;
    }
  }

  /** A FIFO mutex over the one connection: a commit queued behind holders waits for them. */
  private lock(): Promise<void> {
    return this.holder.take() ?? Promise.resolve();
  }

  private unlock(): void {
    this.holder.give();
  }
}

function unsupported(): never {
  throw new Error('streaming is not supported on SQLite');
}

/** Kysely's SQLite dialect with the group-committing driver. */
export function groupCommitDialect(raw: SqliteDatabase.Database, walPath?: string): Dialect {
  const base = new SqliteDialect({ database: raw });
  return {
    createAdapter: () => base.createAdapter(),
    createDriver: () => new GroupCommitDriver(raw, walPath),
    createIntrospector: (db) => base.createIntrospector(db),
    createQueryCompiler: () => base.createQueryCompiler(),
  };
}
