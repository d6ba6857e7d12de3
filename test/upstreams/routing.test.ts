import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { CallToolResultSchema, ErrorCode, type McpError } from '@modelcontextprotocol/sdk/types.js';
import { whoami } from '../helpers/flow.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import {
  CALL_PATHS,
  type RecordingUpstream,
  signIn,
  startRecordingUpstream,
  text,
  writeUpstreamsFile,
} from '../helpers/upstreams.js';

for (const { path, env } of CALL_PATHS) {
  describe(`SPEC §9 several upstreams: names from the configuration, routing and per-role tool restrictions, ${path}`, () => {
    let alpha: RecordingUpstream;
    let beta: RecordingUpstream;
    let server: TestServer;
    let admin: Client;
    let member: Client;

    before(async () => {
      alpha = await startRecordingUpstream({ label: 'alpha' });
      beta = await startRecordingUpstream({ label: 'beta' });
      const file = writeUpstreamsFile({
        upstreams: {
          alpha: { url: alpha.url, tools: { 'alpha-danger': ['owner', 'admin'] } },
          beta: {
            url: beta.url,
            tools: { '*': ['owner', 'admin'], 'beta-echo': ['owner', 'admin', 'member'] },
          },
        },
      });
      server = await startTestServer('sqlite', { env: { WAXSEAL_CONFIG: file, ...env } });
      ({ client: admin } = await signIn(server, 'root@example.com', 'admin', 'Admin Client'));
      ({ client: member } = await signIn(server, 'mo@example.com', 'member', 'Member Client'));
    });
    after(async () => {
      await admin?.close();
      await member?.close();
      await server?.stop();
      await alpha?.close();
      await beta?.close();
    });

    test("with several upstreams configured every upstream tool is prefixed with its upstream's name", async () => {
      const names = (await admin.listTools()).tools.map((t) => t.name).sort();
      assert.deepEqual(names, [
        'alpha__alpha-danger',
        'alpha__alpha-echo',
        'alpha__introspect',
        'alpha__search',
        'alpha__slow',
        'beta__beta-danger',
        'beta__beta-echo',
        'beta__introspect',
        'beta__search',
        'beta__slow',
        'whoami',
      ]);
    });

    test('each call reaches the upstream its name points at', async () => {
      assert.equal(
        text(await admin.callTool({ name: 'alpha__search', arguments: { q: 'x' } })),
        'alpha found x',
      );
      assert.equal(
        text(await admin.callTool({ name: 'beta__search', arguments: { q: 'y' } })),
        'beta found y',
      );
      assert.equal(
        text(await admin.callTool({ name: 'beta__beta-echo', arguments: { text: 'z' } })),
        'beta: z',
      );
      assert.ok(alpha.seen.some((r) => r.tool === 'search'));
      assert.ok(beta.seen.some((r) => r.tool === 'search'));
      assert.ok(!alpha.seen.some((r) => r.tool === 'beta-echo'));
      assert.equal((await whoami(admin)).role, 'admin');
    });

    test('a bare upstream name is an unknown tool, whether or not it clashes', async () => {
      await assert.rejects(
        admin.callTool({ name: 'search', arguments: { q: 'x' } }),
        /Tool search not found/,
      );
      await assert.rejects(
        admin.callTool({ name: 'beta-echo', arguments: { text: 'z' } }),
        /Tool beta-echo not found/,
      );
      await assert.rejects(admin.callTool({ name: 'nope', arguments: {} }), /Tool nope not found/);
    });

    test('a name the upstream never listed is not forwarded: a role rule cannot be dodged by spelling', async () => {
      const calls = () => alpha.seen.filter((r) => r.method === 'tools/call').length;
      const before = calls();
      for (const name of [
        'alpha__Alpha-Danger',
        'alpha__alpha-danger ',
        'alpha__ALPHA-DANGER',
        'alpha__nope',
      ]) {
        await assert.rejects(
          member.callTool({ name, arguments: {} }),
          (err: Error) => err.message.includes(`Tool ${name} not found`),
          name,
        );
      }
      assert.equal(calls(), before, 'the upstream received none of them');
    });

    test('a member does not see the tools restricted to admins', async () => {
      const names = (await member.listTools()).tools.map((t) => t.name).sort();
      assert.deepEqual(names, [
        'alpha__alpha-echo',
        'alpha__introspect',
        'alpha__search',
        'alpha__slow',
        'beta__beta-echo',
        'whoami',
      ]);
    });

    test("a member's call to a restricted tool gets an MCP error and never reaches the upstream", async () => {
      const before = beta.seen.filter((r) => r.tool === 'beta-danger').length;
      await assert.rejects(
        member.callTool({ name: 'beta__beta-danger', arguments: {} }),
        /Tool beta__beta-danger is not available to the member role/,
      );
      await assert.rejects(
        member.callTool({ name: 'beta__search', arguments: { q: 'x' } }),
        /not available to the member role/,
      );
      assert.equal(beta.seen.filter((r) => r.tool === 'beta-danger').length, before);
      assert.equal(
        text(await admin.callTool({ name: 'beta__beta-danger', arguments: {} })),
        'beta did something dangerous',
      );
    });

    test('a tools/call without a name, or asking for a task, is an MCP error and never reaches an upstream', async () => {
      const seen = alpha.seen.length + beta.seen.length;
      const call = (params: Record<string, unknown>) =>
        admin.request({ method: 'tools/call', params } as never, CallToolResultSchema);
      // The SDK's Protocol reports a failed parse as an internal error; Waxseal answers Invalid params.
      await assert.rejects(call({ arguments: { q: 'x' } }), (err: McpError) => {
        assert.equal(err.code, ErrorCode.InvalidParams);
        assert.match(err.message, /Invalid params for tools\/call: params\.name/);
        return true;
      });
      // The gateway declares no tasks: a task-augmented call is refused, not run as a plain one.
      await assert.rejects(
        call({ name: 'alpha__search', arguments: { q: 'x' }, task: { ttl: 60_000 } }),
        /does not support task creation/,
      );
      assert.equal(alpha.seen.length + beta.seen.length, seen);
      assert.equal(
        text(await admin.callTool({ name: 'alpha__search', arguments: { q: 'y' } })),
        'alpha found y',
      );
    });

    test('hidden tools and refused calls are in the audit log, with user and connection', async () => {
      const me = await whoami(member);
      const rows = await server.services.store.db
        .selectFrom('audit_events')
        .selectAll()
        .where('action', 'in', ['mcp.tool_hidden', 'mcp.tool_denied'])
        .orderBy('id')
        .execute();
      const hidden = rows.filter((r) => r.action === 'mcp.tool_hidden');
      const denied = rows.filter((r) => r.action === 'mcp.tool_denied');
      assert.ok(hidden.length >= 2);
      for (const r of [...hidden, ...denied]) {
        assert.equal(r.actor, 'mo@example.com');
        assert.equal(r.connection_id, me.connectionId);
      }
      const hiddenTools = hidden.flatMap((r) => (JSON.parse(r.detail) as { tools: string[] }).tools).sort();
      assert.deepEqual(hiddenTools, ['alpha-danger', 'beta-danger', 'introspect', 'search', 'slow']);
      assert.deepEqual(
        denied.map((r) => JSON.parse(r.detail)),
        [
          { upstream: 'beta', tool: 'beta-danger', role: 'member' },
          { upstream: 'beta', tool: 'search', role: 'member' },
        ],
      );
    });
  });
}

describe('SPEC §9 tool names do not change with upstream health', () => {
  let alpha: RecordingUpstream;
  let beta: RecordingUpstream;
  let server: TestServer;
  let client: Client;

  before(async () => {
    alpha = await startRecordingUpstream({ label: 'alpha' });
    beta = await startRecordingUpstream({ label: 'beta' });
    const file = writeUpstreamsFile({
      upstreams: { alpha: { url: alpha.url, timeoutMs: 2000 }, beta: { url: beta.url, timeoutMs: 2000 } },
    });
    server = await startTestServer('sqlite', { env: { WAXSEAL_CONFIG: file } });
    ({ client } = await signIn(server, 'ops@example.com', 'member'));
  });
  after(async () => {
    await client?.close();
    await server?.stop();
    await alpha?.close();
  });

  test("when one upstream goes down the other's tools keep their names, and only those names work", async () => {
    const whileUp = (await client.listTools()).tools.map((t) => t.name);
    assert.ok(whileUp.includes('alpha__search') && whileUp.includes('beta__search'));
    await beta.close();
    const whileDown = (await client.listTools()).tools.map((t) => t.name);
    assert.deepEqual(
      whileDown,
      whileUp.filter((n) => !n.startsWith('beta__')),
    );
    assert.equal(
      text(await client.callTool({ name: 'alpha__search', arguments: { q: 'x' } })),
      'alpha found x',
    );
    await assert.rejects(client.callTool({ name: 'search', arguments: { q: 'x' } }), /Tool search not found/);
    await assert.rejects(
      client.callTool({ name: 'beta__search', arguments: { q: 'x' } }),
      /Upstream "beta" is unavailable/,
    );
  });
});
