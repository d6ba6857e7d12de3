import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { migrate, openStore, type Store } from '../../src/store/db.js';
import { prepared } from '../../src/store/prepared.js';

/**
 * store/prepared.ts: a query compiled once runs with each call's own values,
 * and a placeholder that would not reach the database as a bound value is
 * refused instead of silently running with the placeholder's text.
 */
describe('queries compiled once (issue #5)', () => {
  let store: Store;

  before(async () => {
    store = openStore('sqlite::memory:');
    await migrate(store);
    await store.db
      .insertInto('rate_limits')
      .values([
        { key: 'a', window_start: 1, count: 10 },
        { key: 'b', window_start: 2, count: 20 },
      ])
      .execute();
  });
  after(() => store.close());

  const byKey = prepared((db, p: { key: string; above: number }) =>
    db
      .selectFrom('rate_limits')
      .select(['key', 'count'])
      .where('key', '=', p.key)
      .where('count', '>', p.above),
  );

  test('each call binds its own values', async () => {
    assert.deepEqual((await byKey(store.db, { key: 'a', above: 0 })).rows, [{ key: 'a', count: 10 }]);
    assert.deepEqual((await byKey(store.db, { key: 'b', above: 0 })).rows, [{ key: 'b', count: 20 }]);
    assert.deepEqual((await byKey(store.db, { key: 'b', above: 20 })).rows, []);
  });

  test('inside a transaction too, seeing its own writes', async () => {
    const seen = await store.transact(async (tx) => {
      await tx.updateTable('rate_limits').set({ count: 30 }).where('key', '=', 'a').execute();
      return (await byKey(tx, { key: 'a', above: 0 })).rows;
    });
    assert.deepEqual(seen, [{ key: 'a', count: 30 }]);
  });

  test('a placeholder computed with instead of bound is refused', async () => {
    const computed = prepared((db, p: { key: string }) =>
      db.selectFrom('rate_limits').select('key').where('key', '=', `${p.key}-suffix`),
    );
    await assert.rejects(() => computed(store.db, { key: 'a' }), /not bound as a parameter/);
  });
});
