import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { whoami } from '../helpers/flow.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import {
  type Asked,
  CALL_PATHS,
  type EverythingProcess,
  everythingStdio,
  signIn,
  startEverythingHttp,
  text,
  writeUpstreamsFile,
} from '../helpers/upstreams.js';

const RUNS = [
  ...CALL_PATHS.map(({ path, env }) => ({ transport: 'Streamable HTTP' as const, path: `, ${path}`, env })),
  { transport: 'stdio' as const, path: '', env: {} },
];

for (const { transport, path, env } of RUNS) {
  describe(`SPEC §9 gateway: server-everything over ${transport} through /mcp${path}`, () => {
    let everything: EverythingProcess | undefined;
    let server: TestServer;
    let client: Client;
    let asked: Asked;

    before(async () => {
      let upstream: object;
      if (transport === 'stdio') {
        upstream = { ...everythingStdio, timeoutMs: 20_000 };
      } else {
        everything = await startEverythingHttp();
        upstream = { url: everything.url, timeoutMs: 20_000 };
      }
      const file = writeUpstreamsFile({ upstreams: { everything: upstream } });
      server = await startTestServer('sqlite', { env: { WAXSEAL_CONFIG: file, ...env } });
      ({ client, asked } = await signIn(server, 'ada@example.com', 'member'));
    });
    after(async () => {
      await client?.close();
      await server?.stop();
      await everything?.kill();
    });

    test('tools/list merges the upstream tools with the built-in whoami', async () => {
      const { tools } = await client.listTools();
      const names = tools.map((t) => t.name);
      for (const name of ['whoami', 'echo', 'get-sum', 'trigger-long-running-operation']) {
        assert.ok(names.includes(name), `${name} is listed: ${names.join(', ')}`);
      }
      // Registered by the upstream only for a client that declared sampling and elicitation.
      assert.ok(names.includes('trigger-sampling-request'));
      assert.ok(names.includes('trigger-elicitation-request'));
      const echo = tools.find((t) => t.name === 'echo');
      assert.deepEqual(Object.keys(echo?.inputSchema.properties ?? {}), ['message']);
    });

    test('tools/call is routed to the upstream, and whoami still answers', async () => {
      assert.equal(
        text(await client.callTool({ name: 'echo', arguments: { message: 'hello' } })),
        'Echo: hello',
      );
      const sum = await client.callTool({ name: 'get-sum', arguments: { a: 2, b: 3 } });
      assert.match(text(sum), /5/);
      assert.equal((await whoami(client)).userEmail, 'ada@example.com');
    });

    test('resources: list, templates and read, including a templated URI', async () => {
      const { resources } = await client.listResources();
      assert.ok(resources.length > 0);
      const first = resources[0];
      assert.ok(first);
      const read = await client.readResource({ uri: first.uri });
      assert.equal(read.contents[0]?.uri, first.uri);
      const { resourceTemplates } = await client.listResourceTemplates();
      assert.ok(resourceTemplates.some((t) => t.uriTemplate === 'demo://resource/dynamic/text/{resourceId}'));
      const dynamic = await client.readResource({ uri: 'demo://resource/dynamic/text/7' });
      assert.match(String((dynamic.contents[0] as { text?: string }).text), /Resource 7/);
    });

    test('prompts: list, get with arguments, and argument completion', async () => {
      const { prompts } = await client.listPrompts();
      const names = prompts.map((p) => p.name);
      assert.ok(names.includes('simple-prompt') && names.includes('args-prompt'));
      const simple = await client.getPrompt({ name: 'simple-prompt' });
      assert.match(JSON.stringify(simple.messages), /without arguments/);
      const args = await client.getPrompt({ name: 'args-prompt', arguments: { city: 'Paris' } });
      assert.match(JSON.stringify(args.messages), /weather in Paris/);
      const completion = await client.complete({
        ref: { type: 'ref/prompt', name: 'completable-prompt' },
        argument: { name: 'department', value: 'En' },
      });
      assert.deepEqual(completion.completion.values, ['Engineering']);
    });

    test('progress notifications of a long-running tool reach the client', async () => {
      const progress: number[] = [];
      const result = await client.callTool(
        { name: 'trigger-long-running-operation', arguments: { duration: 0.6, steps: 3 } },
        undefined,
        { onprogress: (p) => progress.push(p.progress) },
      );
      assert.match(text(result), /Long running operation completed/);
      assert.deepEqual(progress, [1, 2, 3]);
    });

    test("the upstream's sampling request is answered by the client", async () => {
      const result = await client.callTool({
        name: 'trigger-sampling-request',
        arguments: { prompt: 'the meaning of life', maxTokens: 20 },
      });
      assert.equal(asked.sampling.length, 1);
      assert.match(JSON.stringify(asked.sampling[0]?.messages), /the meaning of life/);
      assert.match(text(result), /The model says: forty-two/);
    });

    test("the upstream's elicitation request is answered by the client", async () => {
      const result = await client.callTool({ name: 'trigger-elicitation-request', arguments: {} });
      assert.equal(asked.elicitation.length, 1);
      assert.match(String(asked.elicitation[0]?.message), /provide inputs/);
      assert.match(text(result), /Name: Ada Lovelace/);
    });
  });
}
