import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { addUser, connectSdkClient, TestOAuthProvider, whoami } from '../helpers/flow.js';
import { postgresSkip, startTestServer, type TestServer } from '../helpers/server.js';

for (const kind of ['sqlite', 'postgres'] as const) {
  describe(`SPEC §2-§3 the official SDK client connects end to end (${kind})`, async () => {
    const skip = kind === 'postgres' ? await postgresSkip() : false;
    let server: TestServer;
    before(async () => {
      if (skip) return;
      server = await startTestServer(kind);
    });
    after(async () => server?.stop());

    test('discovers, registers, signs in, consents, exchanges the code and calls whoami', {
      skip,
    }, async () => {
      const alice = await addUser(server, 'alice@example.com', 'admin');
      const provider = new TestOAuthProvider(server, alice, 'Claude Desktop');
      const client = await connectSdkClient(server, provider);
      const me = await whoami(client);
      assert.equal(me.userEmail, 'alice@example.com');
      assert.equal(me.role, 'admin');
      assert.equal(me.clientName, 'Claude Desktop');
      assert.match(me.apiKeyPrefix as string, /^wax_sk_[0-9A-Za-z]{6}$/);
      assert.ok(provider.saved?.access_token.startsWith('wax_at_'));
      assert.ok(provider.saved?.refresh_token?.startsWith('wax_rt_'));
      await client.close();
    });
  });
}
