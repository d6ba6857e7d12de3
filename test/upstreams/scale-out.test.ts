import assert from 'node:assert/strict';
import { createServer, request, type Server } from 'node:http';
import { after, before, describe, test } from 'node:test';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { addUser } from '../helpers/flow.js';
import {
  createTestDatabase,
  freePort,
  postgresSkip,
  startTestServer,
  type TestDatabase,
  type TestServer,
} from '../helpers/server.js';
import {
  type Asked,
  type EverythingProcess,
  signedInClient,
  startEverythingHttp,
  text,
  writeUpstreamsFile,
} from '../helpers/upstreams.js';

const skip = await postgresSkip();

/** A round-robin balancer that notes which instance each POST /mcp went to and what it carried. */
async function recordingBalancer(port: number, targets: number[]) {
  const posts: Array<{ target: number; body: string }> = [];
  let next = 0;
  const server: Server = createServer((req, res) => {
    const target = targets[next++ % targets.length] as number;
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      if (req.method === 'POST' && req.url === '/mcp') posts.push({ target, body: body.toString('utf8') });
      const upstream = request(
        { host: '127.0.0.1', port: target, method: req.method, path: req.url, headers: req.headers },
        (up) => {
          res.writeHead(up.statusCode ?? 502, up.headers);
          up.pipe(res);
        },
      );
      upstream.on('error', () => res.destroy());
      upstream.end(body);
    });
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return {
    posts,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

describe('SPEC §1 + §9: two instances behind a balancer share upstream sessions and relay answers', {
  skip,
}, () => {
  let db: TestDatabase;
  let everything: EverythingProcess;
  let a: TestServer;
  let b: TestServer;
  let balancer: Awaited<ReturnType<typeof recordingBalancer>>;
  let client: Client;
  let asked: Asked;

  before(async () => {
    db = await createTestDatabase('postgres');
    everything = await startEverythingHttp();
    const file = writeUpstreamsFile({
      upstreams: { everything: { url: everything.url, timeoutMs: 20_000 } },
    });
    const port = await freePort();
    const env = { WAXSEAL_CONFIG: file, PUBLIC_URL: `http://127.0.0.1:${port}` };
    a = await startTestServer('postgres', { db, env });
    b = await startTestServer('postgres', { db, env });
    balancer = await recordingBalancer(port, [new URL(a.url).port, new URL(b.url).port].map(Number));
    const user = await addUser(a, 'ken@example.com', 'member');
    ({ client, asked } = await signedInClient({ base: `http://127.0.0.1:${port}` }, user));
  });
  after(async () => {
    await client?.close();
    await balancer?.close();
    await a?.stop();
    await b?.stop();
    await everything?.kill();
    await db?.drop();
  });

  test('sampling and elicitation answers that land on the other instance reach the waiting call', async () => {
    for (let i = 0; i < 2; i++) {
      const sampled = await client.callTool({
        name: 'trigger-sampling-request',
        arguments: { prompt: `p${i}` },
      });
      assert.match(text(sampled), /forty-two/);
      const elicited = await client.callTool({ name: 'trigger-elicitation-request', arguments: {} });
      assert.match(text(elicited), /Ada Lovelace/);
    }
    assert.equal(asked.sampling.length, 2);
    assert.equal(asked.elicitation.length, 2);
    const calls = balancer.posts.filter((p) => p.body.includes('"tools/call"'));
    const answers = balancer.posts.filter(
      (p) => /"id":"waxseal-/.test(p.body) && !p.body.includes('"method"'),
    );
    assert.equal(answers.length, 4);
    const crossed = answers.filter((answer) => {
      const call = calls.filter((c) => balancer.posts.indexOf(c) < balancer.posts.indexOf(answer)).at(-1);
      return call && call.target !== answer.target;
    });
    assert.ok(crossed.length > 0, 'at least one answer was relayed from the other instance');
  });

  test('both instances resume the one upstream session stored for the connection', async () => {
    for (let i = 0; i < 4; i++) {
      assert.equal(
        text(await client.callTool({ name: 'echo', arguments: { message: `m${i}` } })),
        `Echo: m${i}`,
      );
    }
    const sessions = await a.services.store.db.selectFrom('upstream_sessions').selectAll().execute();
    assert.equal(sessions.length, 1);
    assert.equal(sessions[0]?.upstream, 'everything');
    const relay = await a.services.store.db.selectFrom('mcp_relay').selectAll().execute();
    assert.deepEqual(relay, [], 'no answer is left waiting');
  });
});
