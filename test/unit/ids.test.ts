import assert from 'node:assert/strict';
import { test } from 'node:test';
import { systemRandom } from '../../src/domain/secrets.js';
import { newId } from '../../src/services/context.js';

test('a new id never begins with "-", so the CLI reads it as an argument, not an option', () => {
  // 0xF8 makes base64url's first character '-' (62); 0xFC makes it '_' (63), which is fine.
  const starting = (first: number) => () => Buffer.from([first, ...systemRandom(15)]);
  const dashed = newId(starting(0xf8));
  assert.equal(dashed.length, 22);
  assert.match(dashed, /^A[A-Za-z0-9_-]{21}$/);
  assert.match(newId(starting(0xfc)), /^_/);
  for (let i = 0; i < 2000; i++) assert.doesNotMatch(newId(systemRandom), /^-/);
});
