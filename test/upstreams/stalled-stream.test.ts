import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { type IncomingMessage, request } from 'node:http';
import { after, before, describe, test } from 'node:test';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import pino from 'pino';
import { loadConfig } from '../../src/config.js';
import { openServices } from '../../src/server.js';
import type { Services } from '../../src/services/context.js';
import { createUser } from '../../src/services/users.js';
import { PASSWORD, type TestOAuthProvider } from '../helpers/flow.js';
import { type Instance, startInstance } from '../helpers/processes.js';
import { createTestDatabase, freePort, SECRET, type TestDatabase } from '../helpers/server.js';
import { signedInClient, streamingStdio, writeUpstreamsFile } from '../helpers/upstreams.js';

const COUNT = 4000;
const BYTES = 10_000;
const MB = 1024 * 1024;

/** The resident memory of a process, from /proc (Linux). */
function rssBytes(pid: number): number {
  const line = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  assert.ok(line, 'VmRSS in /proc/<pid>/status');
  return Number(line[1]) * 1024;
}

/**
 * SPEC §11 back-pressure (issue #14): a client that opens its stream and never
 * reads it cannot make Waxseal buffer without bound. A real `waxseal serve`
 * process (SQLite), a stdio upstream flooding the connection with ~40 MB of log
 * messages, two streams of that connection: one read, one never read.
 */
describe('SPEC §11: a client that never reads its stream', () => {
  let db: TestDatabase;
  let instance: Instance;
  let admin: Services;
  let client: Client;
  let token: string;

  before(async () => {
    db = await createTestDatabase('sqlite');
    const port = await freePort();
    const env = {
      DATABASE_URL: db.url,
      PUBLIC_URL: `http://127.0.0.1:${port}`,
      WAXSEAL_SECRET: SECRET,
      WAXSEAL_CONFIG: writeUpstreamsFile({ upstreams: { streaming: streamingStdio } }),
      LOG_LEVEL: 'warn',
    };
    instance = await startInstance(env, port);
    admin = await openServices(loadConfig({ ...env, LOG_LEVEL: 'silent' }), {
      log: pino({ level: 'silent' }),
    });
    await createUser(admin, { email: 'slow@example.com', password: PASSWORD, role: 'member' }, 'test');
    // The SDK client only makes the calls: its own GET stream is answered 405 here, so the
    // test's two raw streams are the connection's only ones.
    let provider: TestOAuthProvider;
    ({ client, provider } = await signedInClient(
      { base: instance.url },
      { email: 'slow@example.com', password: PASSWORD },
      'Slow reader',
      {
        fetch: async (url, init) =>
          (init?.method ?? 'GET') === 'GET' && new URL(url).pathname === '/mcp'
            ? new Response(null, { status: 405 })
            : fetch(url, init),
      },
    ));
    token = provider.saved?.access_token as string;
  });
  after(async () => {
    await client?.close().catch(() => undefined);
    await instance?.kill();
    await admin?.store.close();
    await db?.drop();
  });

  test('its stream is closed past the buffer limit, with a log line; memory stays bounded; the other stream gets everything', async (t) => {
    // The reader that keeps up: counts the messages of each flood and remembers the last.
    const reading = await fetch(`${instance.url}/mcp`, {
      headers: { authorization: `Bearer ${token}`, accept: 'text/event-stream' },
    });
    assert.equal(reading.status, 200);
    let readCount = 0;
    let lastI = -1;
    let readerEnded = false;
    void (async () => {
      const decoder = new TextDecoder();
      let buffered = '';
      try {
        for await (const chunk of reading.body as unknown as AsyncIterable<Uint8Array>) {
          buffered += decoder.decode(chunk, { stream: true });
          let end = buffered.indexOf('\n\n');
          while (end >= 0) {
            const data = buffered
              .slice(0, end)
              .split('\n')
              .find((l) => l.startsWith('data: '));
            buffered = buffered.slice(end + 2);
            if (data) {
              readCount++;
              lastI = (JSON.parse(data.slice(6)) as { params: { data: { i: number } } }).params.data.i;
            }
            end = buffered.indexOf('\n\n');
          }
        }
      } catch {
        // cut
      }
      readerEnded = true;
    })();

    const pid = instance.child.pid as number;
    const mb = (n: number) => `${(n / MB).toFixed(1)} MB`;
    /** One flood of COUNT × BYTES; returns Waxseal's RSS before it and at its peak. */
    const flood = async () => {
      readCount = 0;
      lastI = -1;
      await new Promise((r) => setTimeout(r, 200));
      const before = rssBytes(pid);
      let peak = before;
      const sampler = setInterval(() => {
        peak = Math.max(peak, rssBytes(pid));
      }, 20);
      try {
        await client.callTool({ name: 'burst', arguments: { count: COUNT, bytes: BYTES, everyMs: 1 } });
        const deadline = Date.now() + 25_000;
        while (lastI < COUNT - 1) {
          assert.ok(
            !readerEnded,
            `the stream that is read stays open (${readCount} messages): ${instance.output()}`,
          );
          assert.ok(Date.now() < deadline, `the flood ended (${readCount} messages read)`);
          await new Promise((r) => setTimeout(r, 20));
        }
      } finally {
        clearInterval(sampler);
      }
      peak = Math.max(peak, rssBytes(pid));
      await new Promise((r) => setTimeout(r, 1000));
      t.diagnostic(`flood: before ${mb(before)} peak ${mb(peak)} 1 s after ${mb(rssBytes(pid))}`);
      assert.equal(readCount, COUNT, 'the stream that is read got every message');
      return { before, peak };
    };

    // First floods with only the reading stream: the baseline. Passing ~40 MB through the
    // process grows its heap by itself (garbage collected later), stalled reader or not.
    // Twice: the first flood still grows the heap's young generation to its working size.
    await flood();
    const baseline = await flood();
    assert.ok(!instance.output().includes('not reading'), instance.output());

    // Stalled readers: raw requests whose responses are paused as soon as they arrive (three
    // streams of the connection; each is closed on its own).
    const stalledReader = () =>
      new Promise<IncomingMessage>((resolve, reject) => {
        const req = request(`${instance.url}/mcp`, {
          headers: { authorization: `Bearer ${token}`, accept: 'text/event-stream' },
        });
        req.on('response', (res) => {
          res.pause();
          resolve(res);
        });
        req.on('error', reject);
        req.end();
      });
    const stalledOnes = [await stalledReader(), await stalledReader(), await stalledReader()];
    for (const res of stalledOnes) assert.equal(res.statusCode, 200);
    const withStalled = await flood();

    const grew = withStalled.peak - baseline.peak;
    t.diagnostic(
      `Waxseal RSS with a ${((COUNT * BYTES) / MB).toFixed(0)} MB flood: ${mb(baseline.before)} → peak ${mb(baseline.peak)} with the reader only; ` +
        `${mb(withStalled.before)} → peak ${mb(withStalled.peak)} with three stalled readers too (${grew >= 0 ? '+' : ''}${mb(grew)} over the baseline's peak)`,
    );
    const closedLines = instance.output().match(/client stream closed: the client is not reading it/g) ?? [];
    assert.equal(closedLines.length, stalledOnes.length, instance.output());
    // The flood's garbage alone moves the peak by ±20 MB from one flood to the next, so this bound
    // catches gross growth; that the streams were closed is what the log lines and their ends show.
    assert.ok(grew < 25 * MB, `RSS peak grew by ${mb(grew)} over the baseline's`);

    // Reading them now: what was already on the way, then their end, not the rest of the flood.
    for (const stalled of stalledOnes) {
      let after = 0;
      const ended = new Promise<void>((resolve) => {
        stalled.on('data', (chunk: Buffer) => {
          after += chunk.length;
        });
        stalled.on('end', resolve);
        stalled.on('error', () => resolve());
        stalled.on('close', resolve);
      });
      stalled.resume();
      await Promise.race([
        ended,
        new Promise((_, reject) =>
          setTimeout(() => reject(new Error('the stalled stream was not closed')), 5000),
        ),
      ]);
      t.diagnostic(
        `a stalled stream, read at last, carried ${mb(after)} and ended (complete: ${stalled.complete})`,
      );
      // Cut, not ended: Waxseal dropped what it still held for it rather than keep it queued.
      assert.equal(stalled.complete, false);
      assert.ok(after < (COUNT * BYTES) / 4, `${after} bytes: not the whole flood`);
    }
  });
});
