import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { postMessage } from '../../src/upstreams/credential.js';
import { DownstreamCancelled, Guard } from '../../src/upstreams/guard.js';
import { Stop } from '../../src/upstreams/stop.js';

describe('Stop (the hot path’s AbortController)', () => {
  test('stops once: each listener hears it once, a listener taken back hears nothing', () => {
    const stop = new Stop();
    const heard: string[] = [];
    stop.listen(() => heard.push('a'));
    const off = stop.listen(() => heard.push('b'));
    stop.once('abort', () => heard.push('c'));
    off();
    const reason = new Error('first');
    stop.abort(reason);
    stop.abort(new Error('second'));
    assert.deepEqual(heard, ['a', 'c']);
    assert.equal(stop.aborted, true);
    assert.equal(stop.reason, reason, 'the first reason stays');
    stop.listen(() => heard.push('late'));
    assert.deepEqual(heard, ['a', 'c'], 'a listener added after the stop is not called');
  });

  test('its AbortSignal follows it, whether asked for before or after the stop', () => {
    const early = new Stop();
    const signal = early.signal;
    assert.equal(signal.aborted, false);
    early.abort(new Error('gone'));
    assert.equal(signal.aborted, true);
    assert.equal((signal.reason as Error).message, 'gone');
    assert.equal(early.signal, signal, 'one signal per stop');

    const late = new Stop();
    late.abort();
    assert.equal(late.signal.aborted, true);
    assert.equal(
      (late.reason as DOMException).name,
      'AbortError',
      'no reason: an AbortError, as AbortController',
    );
  });

  test('a Guard stopped by its downstream Stop says the client cancelled', () => {
    const downstream = new Stop();
    const guard = new Guard(10_000, downstream);
    downstream.abort();
    assert.equal(guard.halt.aborted, true);
    assert.ok(guard.halt.reason instanceof DownstreamCancelled);
    assert.equal(guard.signal.aborted, true);
    guard.done();
  });
});

/** undici takes a Stop as a request's signal: a stop during the request fails it with the stop's reason. */
describe('a Stop as the signal of an upstream POST', () => {
  let server: Server;
  let url: URL;
  let received = 0;
  before(async () => {
    server = createServer((req) => {
      received++;
      req.resume();
      // Never answers: only the stop can end the request.
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}/mcp`);
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  test('rejects with the reason once stopped, and a stopped Stop sends nothing', async () => {
    const stop = new Stop();
    const headers = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };
    const body = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'x' } });
    const pending = postMessage(url, { ...headers }, body, stop);
    while (received === 0) await new Promise((resolve) => setTimeout(resolve, 5));
    const reason = new Error('the client cancelled the request');
    stop.abort(reason);
    await assert.rejects(pending, (err) => err === reason);

    const before = received;
    await assert.rejects(postMessage(url, { ...headers }, body, stop), (err) => err === reason);
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(received, before, 'nothing reached the upstream');
  });
});
