import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, test } from 'node:test';
import { Lease } from '../../src/cache/lease.js';
import { type ConnectionEntry, TokenCache, type TokenEntry } from '../../src/cache/token-cache.js';
import type { Clock } from '../../src/domain/clock.js';

/** A clock the test moves by hand. */
function manualClock(start = 1_000_000): Clock & { advance(ms: number): void } {
  let now = start;
  return {
    now: () => now,
    advance: (ms) => {
      now += ms;
    },
  };
}

const token: TokenEntry = {
  kind: 'access_token',
  connectionId: 'c1',
  apiKeyId: null,
  scopes: ['mcp'],
  resource: 'http://localhost/mcp',
  expiresAt: null,
};
const connection: ConnectionEntry = {
  id: 'c1',
  status: 'active',
  clientId: 'client-1',
  clientName: 'Client',
  userId: 'u1',
  userEmail: 'a@example.com',
  role: 'member',
  apiKeyId: 'k1',
  apiKey: 'wax_sk_x',
  apiKeyPrefix: 'wax_sk_x',
  allowedTools: null,
};

describe('the lease that lets the PostgreSQL cache answer', () => {
  test('a heartbeat sent at S lets the cache answer until S + length, not a millisecond longer', () => {
    const clock = manualClock();
    const lease = new Lease(clock, 80, false);
    assert.equal(lease.valid(), false, 'no proof yet: not valid');
    lease.prove(clock.now());
    clock.advance(79);
    assert.equal(lease.valid(), true);
    clock.advance(1);
    assert.equal(lease.valid(), false, 'the lease runs out when heartbeats stop');
  });

  test('a late heartbeat never shortens a lease, and a lost listener ends it at once', () => {
    const clock = manualClock();
    const lease = new Lease(clock, 80, false);
    lease.prove(clock.now());
    lease.prove(clock.now() - 50);
    clock.advance(60);
    assert.equal(lease.valid(), true, 'the older proof did not cut the newer one');
    lease.revoke();
    assert.equal(lease.valid(), false);
  });

  test("SQLite's cache needs no proof", () => {
    const clock = manualClock();
    const lease = new Lease(clock, 0, true);
    clock.advance(10 ** 9);
    assert.equal(lease.valid(), true);
  });
});

describe('the token cache', () => {
  test('answers only under a valid lease, and stores nothing without one', () => {
    const clock = manualClock();
    const cache = new TokenCache(clock, { leaseMs: 80, leased: true });
    cache.putToken('h', token, cache.mark());
    assert.equal(cache.getToken('h'), undefined);
    cache.lease.prove(clock.now());
    cache.putToken('h', token, cache.mark());
    assert.deepEqual(cache.getToken('h'), token);
    clock.advance(80);
    assert.equal(cache.getToken('h'), undefined, 'an expired lease sends every lookup to the database');
  });

  test('an entry loaded while an invalidation arrived is not stored (it may be the revoked state)', () => {
    const cache = new TokenCache(manualClock());
    const mark = cache.mark();
    cache.evict('connection', 'c1');
    cache.putConnection(connection, mark);
    assert.equal(cache.getConnection('c1'), undefined);
    cache.putConnection(connection, cache.mark());
    assert.deepEqual(cache.getConnection('c1'), connection);
  });

  test("a user's invalidation evicts every connection of that user, and only those", () => {
    const cache = new TokenCache(manualClock());
    cache.putConnection(connection, cache.mark());
    cache.putConnection({ ...connection, id: 'c2' }, cache.mark());
    cache.putConnection({ ...connection, id: 'c3', userId: 'u2' }, cache.mark());
    cache.evict('user', 'u1');
    assert.equal(cache.getConnection('c1'), undefined);
    assert.equal(cache.getConnection('c2'), undefined);
    assert.ok(cache.getConnection('c3'));
  });
});

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? sourceFiles(path) : path.endsWith('.ts') ? [path] : [];
  });
}

describe('invalidation cannot be forgotten (issue #11)', () => {
  const root = join(import.meta.dirname, '..', '..', 'src');
  const files = sourceFiles(root).map((path) => ({
    path: relative(root, path),
    text: readFileSync(path, 'utf8'),
  }));

  test('only services/transitions.ts updates or deletes rows of the tables the token cache mirrors', () => {
    const write = /\.(updateTable|deleteFrom)\(\s*'(connections|api_keys|access_tokens|users)\b/g;
    const offenders = files
      .filter((f) => f.path !== join('services', 'transitions.ts') && !f.path.startsWith('store/migrations'))
      .flatMap((f) => [...f.text.matchAll(write)].map((m) => `${f.path}: ${m[0]}`));
    assert.deepEqual(offenders, []);
  });

  test('only the store (after commit) and the watchers evict cache entries', () => {
    const evicting = files
      .filter((f) => /\.evict\(/.test(f.text))
      .map((f) => f.path)
      .sort();
    assert.deepEqual(evicting, ['cache/watchers.ts', 'server.ts', 'store/invalidations.ts'].sort());
  });
});
