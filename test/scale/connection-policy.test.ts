import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Services } from '../../src/services/context.js';
import { createUser } from '../../src/services/users.js';
import { Browser, connectSdkClient, PASSWORD, TestOAuthProvider, whoami } from '../helpers/flow.js';
import type { Balancer, Instance } from '../helpers/processes.js';
import { postgresSkip, type TestServer } from '../helpers/server.js';
import { startTwoInstances, type TwoInstances } from '../helpers/two-instances.js';

const skip = await postgresSkip();
const LIMIT = 20;

function mcp(base: string, token: string, body: unknown) {
  return fetch(new URL('/mcp', base), {
    method: 'POST',
    headers: {
      authorization: `Bearer ${token}`,
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
    },
    body: JSON.stringify(body),
  });
}

async function toolNames(base: string, token: string): Promise<string[]> {
  const res = await mcp(base, token, { jsonrpc: '2.0', id: 1, method: 'tools/list', params: {} });
  assert.equal(res.status, 200);
  const body = (await res.json()) as { result: { tools: Array<{ name: string }> } };
  return body.result.tools.map((t) => t.name);
}

describe('SPEC §12 across two instances on one PostgreSQL database', { skip }, () => {
  let two: TwoInstances;
  let balancer: Balancer;
  let a: Instance;
  let b: Instance;
  let admin: Services;
  before(async () => {
    two = await startTwoInstances({ env: { MCP_REQUESTS_PER_MINUTE_PER_CONNECTION: String(LIMIT) } });
    ({ balancer, a, b, admin } = two);
    await createUser(admin, { email: 'ops@example.com', password: PASSWORD, role: 'admin' }, 'test');
  });
  after(async () => {
    await two?.stop();
  });

  const connect = async (name: string) => {
    const server = { base: balancer.url } as TestServer;
    const provider = new TestOAuthProvider(server, { email: 'ops@example.com', password: PASSWORD }, name);
    const client = await connectSdkClient(server, provider);
    const me = await whoami(client);
    await client.close();
    return { id: me.connectionId as string, token: provider.saved?.access_token as string };
  };

  test('an allow-list set through instance A is in force on instance B at the next request', async () => {
    const { id, token } = await connect('Narrowed across instances');
    assert.deepEqual(await toolNames(b.url, token), ['whoami']);
    // The dashboard session is signed in at A; the page's origin is the public one.
    const signedIn = new Browser(balancer.url);
    assert.equal((await signedIn.signIn('ops@example.com', PASSWORD, '/')).status, 303);
    const browser = new Browser(a.url);
    for (const [name, value] of signedIn.jar) browser.jar.set(name, value);
    const put = (allow: string[] | null) =>
      browser.fetch(`/api/mcp-connections/${id}/tools`, {
        method: 'PUT',
        headers: { 'content-type': 'application/json', origin: new URL(balancer.url).origin },
        body: JSON.stringify({ allow }),
      });
    assert.equal((await put([])).status, 200);
    assert.deepEqual(await toolNames(b.url, token), []);
    const call = await mcp(b.url, token, {
      jsonrpc: '2.0',
      id: 2,
      method: 'tools/call',
      params: { name: 'whoami', arguments: {} },
    });
    const result = (await call.json()) as { result: { isError: boolean; content: Array<{ text: string }> } };
    assert.equal(result.result.isError, true);
    assert.match(result.result.content[0]?.text ?? '', /Tool whoami not found/);
    assert.equal((await put(null)).status, 200);
    assert.deepEqual(await toolNames(b.url, token), ['whoami']);
  });

  test('a client alternating between A and B gets no more than the limit in a minute, in total', async () => {
    const { id, token } = await connect('Limited across instances');
    let ok = 0;
    let refused = 0;
    for (let i = 0; i < 2 * LIMIT; i++) {
      const res = await mcp(i % 2 === 0 ? a.url : b.url, token, {
        jsonrpc: '2.0',
        id: i,
        method: 'tools/call',
        params: { name: 'whoami', arguments: {} },
      });
      await res.arrayBuffer();
      if (res.status === 200) ok++;
      else if (res.status === 429) {
        refused++;
        assert.ok(Number(res.headers.get('retry-after')) >= 1);
      } else assert.fail(`unexpected status ${res.status}`);
    }
    // connect() spent a few of the budget (initialize, whoami, …) through the balancer.
    assert.ok(ok <= LIMIT, `${ok} requests let through`);
    assert.ok(ok >= LIMIT - 8, `${ok} requests let through`);
    assert.equal(ok + refused, 2 * LIMIT);
    const claimed = await admin.store.db
      .selectFrom('connection_budgets')
      .select(['claimed'])
      .where('connection_id', '=', id)
      .executeTakeFirstOrThrow();
    assert.ok(claimed.claimed <= LIMIT);
  });
});
