import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { Guard, UpstreamTimeout } from '../../src/upstreams/guard.js';

/** What an operation yields after `ms`: a lease that counts whether it was given back. */
function slowLease(ms: number) {
  const lease = { ended: 0 };
  return { lease, opening: delay(ms).then(() => lease) };
}

describe('Guard.race', () => {
  test('a lease that arrives after the timeout is handed to `late`, so it can be given back', async () => {
    const guard = new Guard(100);
    const { lease, opening } = slowLease(250);
    await assert.rejects(
      guard.race(opening, (l) => l.ended++),
      (err) => err instanceof UpstreamTimeout && err.message === 'no answer within 100 ms',
    );
    assert.equal(lease.ended, 0, 'the lease has not arrived yet');
    await opening;
    await delay(0);
    assert.equal(lease.ended, 1, 'the late lease was given back once');
    guard.done();
  });

  test('a guard stopped before the race hands the lease over too; one that wins keeps it', async () => {
    const stopped = new Guard(1000);
    stopped.stop(new Error('the client cancelled the request'));
    const first = slowLease(20);
    await assert.rejects(
      stopped.race(first.opening, (l) => l.ended++),
      /the client cancelled/,
    );
    await first.opening;
    await delay(0);
    assert.equal(first.lease.ended, 1);

    const guard = new Guard(1000);
    const second = slowLease(20);
    assert.equal(await guard.race(second.opening, (l) => l.ended++), second.lease);
    await delay(0);
    assert.equal(second.lease.ended, 0, 'the caller holds the lease and ends it itself');
    guard.done();
  });

  test('a lease already there when the guard stops is the caller’s alone (it is not ended twice)', async () => {
    const guard = new Guard(1000);
    const lease = { ended: 0 };
    const raced = guard.race(Promise.resolve(lease), (l) => l.ended++);
    // The guard stops after the lease arrived but before the caller resumed.
    guard.stop(new Error('the client cancelled the request'));
    assert.equal(await raced, lease);
    await delay(0);
    assert.equal(lease.ended, 0, 'only the caller ends it');
    guard.done();
  });

  test('an operation that fails late is nobody’s error', async () => {
    const guard = new Guard(100);
    const failing = delay(200).then(() => {
      throw new Error('upstream refused');
    });
    let handed = 0;
    await assert.rejects(
      guard.race(failing, () => handed++),
      UpstreamTimeout,
    );
    await assert.rejects(failing, /upstream refused/);
    await delay(0);
    assert.equal(handed, 0);
    guard.done();
  });
});
