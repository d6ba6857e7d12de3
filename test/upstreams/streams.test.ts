import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import {
  LoggingMessageNotificationSchema,
  type ResourceUpdatedNotification,
  ResourceUpdatedNotificationSchema,
} from '@modelcontextprotocol/sdk/types.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import {
  type EverythingProcess,
  everythingStdio,
  signIn,
  startEverythingHttp,
  writeUpstreamsFile,
} from '../helpers/upstreams.js';

/** Collects one kind of notification and lets a test wait for the next that matches. */
class Inbox<T> {
  readonly seen: T[] = [];
  private waiters: Array<{ match: (t: T) => boolean; resolve: (t: T) => void }> = [];
  push(t: T) {
    this.seen.push(t);
    for (const w of [...this.waiters]) {
      if (w.match(t)) {
        this.waiters = this.waiters.filter((x) => x !== w);
        w.resolve(t);
      }
    }
  }
  next(match: (t: T) => boolean, ms = 8000): Promise<T> {
    const already = this.seen.find(match);
    if (already) return Promise.resolve(already);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no matching notification within ${ms} ms`)), ms);
      this.waiters.push({
        match,
        resolve: (t) => {
          clearTimeout(timer);
          resolve(t);
        },
      });
    });
  }
}

for (const transport of ['Streamable HTTP', 'stdio'] as const) {
  describe(`SPEC §11: server-everything over ${transport}, what it sends outside a request reaches the client`, () => {
    let everything: EverythingProcess | undefined;
    let server: TestServer;
    let client: Client;
    const updates = new Inbox<ResourceUpdatedNotification['params']>();
    const logs = new Inbox<{ level: string; data: unknown }>();

    before(async () => {
      let upstream: object;
      if (transport === 'stdio') {
        upstream = { ...everythingStdio, timeoutMs: 20_000 };
      } else {
        everything = await startEverythingHttp();
        upstream = { url: everything.url, timeoutMs: 20_000 };
      }
      const file = writeUpstreamsFile({ upstreams: { everything: upstream } });
      server = await startTestServer('sqlite', { env: { WAXSEAL_CONFIG: file } });
      ({ client } = await signIn(server, 'ada@example.com', 'member'));
      client.setNotificationHandler(ResourceUpdatedNotificationSchema, (n) => updates.push(n.params));
      client.setNotificationHandler(LoggingMessageNotificationSchema, (n) =>
        logs.push(n.params as { level: string; data: unknown }),
      );
    });
    after(async () => {
      await client?.close();
      await server?.stop();
      await everything?.kill();
    });

    test('initialize advertises subscriptions, list changes and logging', () => {
      const caps = client.getServerCapabilities();
      assert.equal(caps?.resources?.subscribe, true);
      assert.equal(caps?.resources?.listChanged, true);
      assert.equal(caps?.tools?.listChanged, true);
      assert.ok(caps?.logging);
    });

    test('log messages at the level set arrive on the stream', async () => {
      await client.setLoggingLevel('debug');
      await client.callTool({ name: 'toggle-simulated-logging', arguments: {} });
      // server-everything sends one message at once, then one every 5 s.
      const first = await logs.next(() => true);
      assert.match(String(first.data), /-level message|level-message/);
      await client.callTool({ name: 'toggle-simulated-logging', arguments: {} });
    });

    test('resources/subscribe reaches the upstream, and its updates arrive', async () => {
      const uri = 'demo://resource/static/document/architecture.md';
      await client.subscribeResource({ uri });
      // Its acknowledgement is an info log message, sent outside the request.
      await logs.next((m) => String(m.data).includes(`Received Subscribe Resource request for URI: ${uri}`));
      await client.callTool({ name: 'toggle-subscriber-updates', arguments: {} });
      const update = await updates.next((u) => u.uri === uri);
      assert.equal(update.uri, uri);
    });

    test('logging/setLevel is honoured: below the level, nothing is sent', async () => {
      await client.setLoggingLevel('emergency');
      const uri = 'demo://resource/static/document/extension.md';
      await client.subscribeResource({ uri });
      // The subscription works (its updates arrive: toggle-subscriber-updates is on) ...
      await updates.next((u) => u.uri === uri, 12_000);
      // ... but its info-level acknowledgement was filtered by the upstream.
      assert.ok(!logs.seen.some((m) => String(m.data).includes(`for URI: ${uri}`)));
      await client.unsubscribeResource({ uri });
      await client.callTool({ name: 'toggle-subscriber-updates', arguments: {} });
    });
  });
}
