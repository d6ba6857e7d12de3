import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Services } from '../../src/services/context.js';
import { createUser } from '../../src/services/users.js';
import {
  Browser,
  connectSdkClient,
  mcpStatus,
  PASSWORD,
  refreshGrant,
  TestOAuthProvider,
  whoami,
} from '../helpers/flow.js';
import type { Balancer, Instance } from '../helpers/processes.js';
import { postgresSkip, type TestServer } from '../helpers/server.js';
import { startTwoInstances, type TwoInstances } from '../helpers/two-instances.js';

const skip = await postgresSkip();
const ROUNDS = 5;

/**
 * SPEC §10 Disable across instances: two `waxseal serve` processes on one
 * PostgreSQL database. The MCP client reaches only instance B (PUBLIC_URL is a
 * balancer in front of B); the owner disables the user through instance A's API.
 */
describe('SPEC §10 Disable on instance A cuts off a client on instance B (PostgreSQL)', { skip }, () => {
  let two: TwoInstances;
  let balancer: Balancer;
  let a: Instance;
  let b: Instance;
  let admin: Services;
  const publicServer = () => ({ base: balancer.url }) as TestServer;

  /** The owner, signed in through B, calls A's API (same database, same session). */
  async function setStatusOnA(action: 'disable' | 'enable', email: string): Promise<number> {
    const owner = new Browser(balancer.url);
    assert.equal((await owner.signIn('owner@example.com', PASSWORD)).status, 303);
    const res = await owner.fetch(`${a.url}/api/members/${action}`, {
      method: 'POST',
      headers: { origin: balancer.url, 'content-type': 'application/json' },
      body: JSON.stringify({ email }),
    });
    await res.arrayBuffer();
    return res.status;
  }

  before(async () => {
    two = await startTwoInstances({ balanced: 'b' });
    ({ balancer, a, b, admin } = two);
    await createUser(admin, { email: 'owner@example.com', password: PASSWORD, role: 'owner' }, 'test');
    await createUser(admin, { email: 'lee@example.com', password: PASSWORD, role: 'member' }, 'test');
  });
  after(async () => {
    await two?.stop();
  });

  test("the client's next request on B gets 401 within 100 ms; Enable restores sign-in only", async (t) => {
    const delays: number[] = [];
    const earlier: Array<{ token: string; refresh: string; clientId: string }> = [];
    for (let round = 0; round < ROUNDS; round++) {
      // Enable restores sign-in: after the first round, this flow is lee signing in again.
      const provider = new TestOAuthProvider(publicServer(), {
        email: 'lee@example.com',
        password: PASSWORD,
      });
      const client = await connectSdkClient(publicServer(), provider);
      const me = await whoami(client);
      assert.equal(me.userEmail, 'lee@example.com');
      const token = provider.saved?.access_token as string;
      assert.equal(await mcpStatus(b.url, token), 200, 'cached on B');

      assert.equal(await setStatusOnA('disable', 'lee@example.com'), 200);
      const disabledAt = performance.now();
      while ((await mcpStatus(b.url, token)) !== 401) {
        assert.ok(performance.now() - disabledAt < 2000, 'the Disable reached B');
        await new Promise((r) => setTimeout(r, 1));
      }
      delays.push(performance.now() - disabledAt);

      // The SDK client itself: its request fails, its refresh is refused, and lee cannot sign in again.
      await assert.rejects(whoami(client));
      const refresh = provider.saved?.refresh_token ?? '';
      const clientId = provider.info?.client_id as string;
      await client.close().catch(() => undefined);
      earlier.push({ token, refresh, clientId });
      assert.notEqual((await new Browser(balancer.url).signIn('lee@example.com', PASSWORD)).status, 303);

      assert.equal(await setStatusOnA('enable', 'lee@example.com'), 200);
      // Enable restores sign-in only: every earlier connection stays revoked, on A and on B.
      for (const old of earlier) {
        for (const instance of [a, b]) assert.equal(await mcpStatus(instance.url, old.token), 401);
        if (old.refresh) assert.equal((await refreshGrant(b.url, old.clientId, old.refresh)).status, 400);
      }
      assert.equal((await new Browser(balancer.url).signIn('lee@example.com', PASSWORD)).status, 303);
    }
    const sorted = [...delays].sort((x, y) => x - y);
    t.diagnostic(
      `Disable on A → 401 on B: ${sorted.map((d) => d.toFixed(1)).join(', ')} ms (median ${sorted[Math.floor(ROUNDS / 2)]?.toFixed(1)} ms, max ${sorted.at(-1)?.toFixed(1)} ms)`,
    );
    assert.ok(
      (sorted.at(-1) as number) < 100,
      `every Disable honoured on B within 100 ms (max ${sorted.at(-1)} ms)`,
    );
  });
});
