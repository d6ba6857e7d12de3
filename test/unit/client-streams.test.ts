import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ClientStreams, type StreamOwner, type StreamSink } from '../../src/upstreams/client-streams.js';

/** A sink that records what was written; `reading: false` lets bytes pile up as a stalled client does. */
function sink(reading = true) {
  const s = {
    written: [] as string[],
    buffered: 0,
    ended: false,
    destroyed: false,
    write(chunk: string) {
      s.written.push(chunk);
      if (!reading) s.buffered += Buffer.byteLength(chunk);
    },
    get bufferedBytes() {
      return s.buffered;
    },
    end() {
      s.ended = true;
    },
    destroy() {
      s.destroyed = true;
    },
  };
  return s satisfies StreamSink;
}

const owner = (over: Partial<StreamOwner> = {}): StreamOwner => ({
  connectionId: 'c1',
  userId: 'u1',
  tokenHash: 'h1',
  expiresAt: null,
  stillValid: async () => true,
  ...over,
});

function hub(now: () => number, extra: { keepAliveMs?: number; maxBufferBytes?: number } = {}) {
  const lines: string[] = [];
  const log = {
    info: (_o: object, m: string) => lines.push(m),
    warn: (_o: object, m: string) => lines.push(m),
  };
  return { streams: new ClientStreams({ log, now, ...extra }), lines };
}

describe('SPEC §11: the connection stream hub', () => {
  test('an idle stream gets an SSE comment as keep-alive; a busy one does not', async () => {
    const { streams } = hub(() => Date.now(), { keepAliveMs: 50 });
    const idle = sink();
    const busy = sink();
    streams.open(owner(), idle);
    streams.open(owner({ connectionId: 'c2' }), busy);
    const deadline = Date.now() + 1500;
    while (!idle.written.includes(': keep-alive\n\n')) {
      streams.deliver('c2', {
        jsonrpc: '2.0',
        method: 'notifications/message',
        params: { level: 'info', data: 1 },
      });
      assert.ok(Date.now() < deadline, 'a keep-alive comment was written');
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.ok(!busy.written.includes(': keep-alive\n\n'), 'a stream with traffic needs none');
    streams.closeAll();
  });

  test('a client that does not read is cut off past the buffer limit, with a log line', () => {
    const { streams, lines } = hub(() => 0, { maxBufferBytes: 10_000 });
    const stalled = sink(false);
    streams.open(owner(), stalled);
    const big = {
      jsonrpc: '2.0' as const,
      method: 'notifications/message',
      params: { level: 'info', data: 'x'.repeat(3000) },
    };
    let writes = 0;
    while (streams.holds('c1') && writes < 100) {
      streams.deliver('c1', big);
      writes++;
    }
    assert.ok(!streams.holds('c1'), 'the stream was closed');
    assert.ok(writes <= 5, `closed after ${writes} messages, not left to grow`);
    assert.equal(stalled.destroyed, true);
    assert.ok(lines.includes('client stream closed: the client is not reading it'));
    assert.equal(streams.deliver('c1', big), false, 'nothing more is written to it');
  });

  test('an expired bearer closes its stream; a revoked one closes at the eviction that concerns it', async () => {
    let now = 1_000;
    const { streams } = hub(() => now, { keepAliveMs: 10 });
    const expiring = sink();
    streams.open(owner({ connectionId: 'exp', expiresAt: 1_500 }), expiring);
    now = 2_000;
    const deadline = Date.now() + 2000;
    while (!expiring.ended) {
      assert.ok(Date.now() < deadline, 'the expired stream was ended');
      await new Promise((r) => setTimeout(r, 20));
    }
    let valid = true;
    const other = sink();
    const revoked = sink();
    streams.open(owner({ connectionId: 'keep', userId: 'u2', stillValid: async () => true }), other);
    streams.open(owner({ connectionId: 'gone', userId: 'u3', stillValid: async () => valid }), revoked);
    valid = false;
    streams.recheck('user', 'u3');
    await new Promise((r) => setImmediate(r));
    assert.equal(revoked.ended, true);
    assert.equal(other.ended, false, 'an eviction about someone else leaves a stream open');
    streams.closeAll();
    assert.equal(other.ended, true, 'shutdown ends every stream');
  });
});
