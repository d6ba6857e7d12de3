import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { type FileHandle, open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import SqliteDatabase from 'better-sqlite3';
import { sql } from 'kysely';
import { openStore, type Store } from '../../src/store/db.js';
import { fileLockCount } from '../../src/store/group-commit.js';

/**
 * store/group-commit.ts: the writes of one event-loop turn share one SQLite
 * transaction and one fsync, and nobody hears "done" before that COMMIT and
 * an fsync of the WAL after it.
 */
describe('SQLite group commit (issue #5)', () => {
  let dir: string;
  let path: string;
  let store: Store;
  /** Another connection to the same file: it sees only what has been committed. */
  let other: SqliteDatabase.Database;
  const committed = (name: string) =>
    other.prepare('select count(*) as n from setup_tokens where token_hash = ?').get(name) as { n: number };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'waxseal-gc-'));
    path = join(dir, 'waxseal.db');
    store = openStore(`sqlite:${path}`);
    await sql`create table if not exists setup_tokens (token_hash text primary key, created_at integer not null, expires_at integer not null, used_at integer)`.execute(
      store.db,
    );
    other = new SqliteDatabase(path, { readonly: true });
  });
  after(async () => {
    other.close();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const insert = (name: string) => (db: Store['db']) =>
    db
      .insertInto('setup_tokens')
      .values({ token_hash: name, created_at: 1, expires_at: 2, used_at: null })
      .execute();

  test('a write resolves only once it is committed, as another connection sees', async () => {
    await insert('single')(store.db);
    assert.equal(committed('single').n, 1);
  });

  test('concurrent transactions are committed together, and each is durable when it resolves', async () => {
    const names = Array.from({ length: 20 }, (_, i) => `tx-${i}`);
    await Promise.all(
      names.map((name) =>
        store.transact(async (tx) => {
          await insert(name)(tx);
          return name;
        }),
      ),
    );
    for (const name of names) assert.equal(committed(name).n, 1, name);
  });

  test('a failing transaction rolls back alone; the others of its group commit', async () => {
    const results = await Promise.allSettled([
      store.transact((tx) => insert('kept-1')(tx)),
      store.transact(async (tx) => {
        await insert('rolled-back')(tx);
        throw new Error('no');
      }),
      store.transact((tx) => insert('kept-2')(tx)),
    ]);
    assert.deepEqual(
      results.map((r) => r.status),
      ['fulfilled', 'rejected', 'fulfilled'],
    );
    assert.equal(committed('kept-1').n, 1);
    assert.equal(committed('kept-2').n, 1);
    assert.equal(committed('rolled-back').n, 0);
  });

  test('a failing statement outside a transaction fails alone', async () => {
    const results = await Promise.allSettled([
      insert('dup')(store.db),
      insert('dup')(store.db),
      insert('after-dup')(store.db),
    ]);
    assert.deepEqual(
      results.map((r) => r.status),
      ['fulfilled', 'rejected', 'fulfilled'],
    );
    assert.equal(committed('dup').n, 1);
    assert.equal(committed('after-dup').n, 1);
  });

  test('a write is acknowledged only after an fsync of the WAL that started after its COMMIT', async () => {
    // Hold every fdatasync until released, and note what had been committed when each began.
    const probe = await open(join(dir, 'probe'), 'w');
    const proto = Object.getPrototypeOf(probe) as FileHandle;
    await probe.close();
    const original = proto.datasync;
    const syncs: { sawCommitted: boolean; release(): void }[] = [];
    proto.datasync = async function (this: FileHandle) {
      await new Promise<void>((release) =>
        syncs.push({ sawCommitted: committed('synced').n === 1, release }),
      );
      return original.call(this);
    };
    try {
      let acknowledged = false;
      const write = insert('synced')(store.db).then(() => {
        acknowledged = true;
      });
      for (let waited = 0; syncs.length === 0 && waited < 2000; waited += 5) {
        await new Promise((r) => setTimeout(r, 5));
      }
      assert.equal(syncs.length > 0, true, 'the WAL was fsynced');
      assert.equal(committed('synced').n, 1, 'committed (visible) before its fsync');
      assert.equal(syncs[0]?.sawCommitted, true, 'the fsync began after the COMMIT');
      await new Promise((r) => setTimeout(r, 50));
      assert.equal(acknowledged, false, 'not acknowledged while its fsync runs');
      for (const s of syncs) s.release();
      await write;
      assert.equal(acknowledged, true);
    } finally {
      proto.datasync = original;
      for (const s of syncs) s.release();
    }
  });

  test('the data survives closing and reopening the file', async () => {
    await store.transact((tx) => insert('reopened')(tx));
    await store.close();
    store = openStore(`sqlite:${path}`);
    const row = await store.db
      .selectFrom('setup_tokens')
      .select('token_hash')
      .where('token_hash', '=', 'reopened')
      .executeTakeFirst();
    assert.equal(row?.token_hash, 'reopened');
  });

  /**
   * Two instances embedded in one process (as the tests start them): better-sqlite3 waits for
   * SQLite's write lock synchronously, so without a turn per file the second writer stopped the
   * event loop the first needed to reach its COMMIT, and got SQLITE_BUSY after 5 s.
   */
  async function takeTurns(second: Store, tag: string) {
    const name = (n: string) => `${tag}-${n}`;
    const started = Date.now();
    const slow = store.transact(async (tx) => {
      await insert(name('a1'))(tx);
      await new Promise((r) => setTimeout(r, 200));
      await insert(name('a2'))(tx);
    });
    await new Promise((r) => setTimeout(r, 20));
    const results = await Promise.allSettled([
      slow,
      second.transact((tx) => insert(name('b'))(tx)),
      insert(name('c'))(second.db),
    ]);
    assert.deepEqual(
      results.map((r) => (r.status === 'rejected' ? String(r.reason) : r.status)),
      ['fulfilled', 'fulfilled', 'fulfilled'],
    );
    assert.ok(Date.now() - started < 2000, `both committed in ${Date.now() - started} ms`);
    for (const n of ['a1', 'a2', 'b', 'c']) assert.equal(committed(name(n)).n, 1, name(n));
  }

  test('a store opened through a symbolic link to the file writes, and takes turns with one on the file itself', async () => {
    // SQLite follows the link and names the WAL after the real file: fsyncing `<link>-wal` failed
    // every write with ENOENT, and a lock keyed by the link's path let the two stores stall each other.
    const link = join(dir, 'link.db');
    symlinkSync(path, link);
    const locks = fileLockCount();
    const second = openStore(`sqlite:${link}`);
    try {
      await takeTurns(second, 'link');
      assert.equal(fileLockCount(), locks, 'the link shares the file’s lock');
    } finally {
      await second.close();
    }
  });

  test('a lock entry lives as long as a store of its file is open', async () => {
    const before = fileLockCount();
    const elsewhere = openStore(`sqlite:${join(dir, 'elsewhere.db')}`);
    await sql`select 1`.execute(elsewhere.db);
    assert.equal(fileLockCount(), before + 1);
    await elsewhere.close();
    assert.equal(fileLockCount(), before);
  });

  test('two stores of one process on one file take turns instead of stalling each other for busy_timeout', async () => {
    const second = openStore(`sqlite:${path}`);
    try {
      await takeTurns(second, 'turn');
    } finally {
      await second.close();
    }
  });
});
