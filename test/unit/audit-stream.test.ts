/**
 * SPEC §13 audit stream, the parts with no I/O: one write path for audit rows
 * and outbox rows, the back-off schedule, the signature. The delivery itself is
 * tested end to end in integration/audit-stream.test.ts.
 */
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, test } from 'node:test';
import { RETRY, retryDelay } from '../../src/domain/backoff.js';
import { MINUTE } from '../../src/domain/clock.js';
import { signature } from '../../src/services/audit-stream.js';

const SRC = new URL('../../src', import.meta.url).pathname;

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? sourceFiles(path) : path.endsWith('.ts') ? [path] : [];
  });
}

describe('SPEC §13 audit stream: no event can miss the outbox', () => {
  const files = sourceFiles(SRC)
    .map((path) => ({ path: relative(SRC, path), text: readFileSync(path, 'utf8') }))
    .filter((f) => !f.path.startsWith('store/migrations'));

  test('only services/audit.ts inserts audit rows, so every one goes through audit() and its outbox row', () => {
    const offenders = files
      .filter((f) => f.path !== join('services', 'audit.ts'))
      .flatMap((f) =>
        [...f.text.matchAll(/insertInto\(\s*'audit_events'/g)].map((m) => `${f.path}: ${m[0]}`),
      );
    assert.deepEqual(offenders, []);
  });

  test('only services/audit-outbox.ts writes outbox rows, and only audit() enqueues them', () => {
    const writes = files
      .filter((f) => f.path !== join('services', 'audit-outbox.ts'))
      .flatMap((f) =>
        [...f.text.matchAll(/(insertInto|updateTable|deleteFrom)\(\s*'audit_outbox'/g)].map(
          (m) => `${f.path}: ${m[0]}`,
        ),
      );
    assert.deepEqual(writes, []);
    const enqueuers = files
      .filter((f) => /enqueueAuditEvent\(/.test(f.text))
      .map((f) => f.path)
      .sort();
    assert.deepEqual(enqueuers, [join('services', 'audit-outbox.ts'), join('services', 'audit.ts')]);
  });
});

describe('SPEC §13 audit stream: retries', () => {
  test('the wait doubles from half a second, with jitter, up to five minutes', () => {
    assert.equal(retryDelay(1, 0.999999), RETRY.first);
    assert.equal(retryDelay(1, 0), RETRY.first / 2);
    assert.equal(retryDelay(2, 0.999999), 2 * RETRY.first);
    assert.equal(retryDelay(4, 0.999999), 8 * RETRY.first);
    assert.equal(
      retryDelay(100, 0.999999),
      5 * MINUTE,
      'a receiver down for hours is retried every 2.5-5 minutes',
    );
    assert.equal(retryDelay(100, 0), 2.5 * MINUTE);
    for (let n = 1; n < 40; n++) assert.ok(retryDelay(n + 1, 0.5) >= retryDelay(n, 0.5));
  });

  test('the signature is sha256= and the hex HMAC-SHA256 of the exact body', () => {
    const body = '{"id":"x","type":"connection.revoked"}';
    const secret = 'k'.repeat(32);
    assert.equal(
      signature(secret, body),
      `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`,
    );
    assert.notEqual(signature(secret, `${body} `), signature(secret, body));
  });
});
