import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { CreateMessageResultSchema } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';
import { createWaxseal, getCaller, type Waxseal } from '../../src/index.js';
import { whoami } from '../helpers/flow.js';
import { createTestDatabase, freePort, type TestDatabase, testEnv } from '../helpers/server.js';
import { type Asked, INTROSPECTION_SECRET, signedInClient, text } from '../helpers/upstreams.js';

const ROOT = new URL('../..', import.meta.url).pathname;
const OWNER = { email: 'owner@example.com', password: 'correct horse battery staple' };

describe('SPEC §9 library: examples/custom-tool.ts, started as a user would', () => {
  let db: TestDatabase;
  let child: ChildProcess;
  let base: string;
  let client: Client;
  let printed: string;
  let port: number;

  before(async () => {
    db = await createTestDatabase('sqlite');
    port = await freePort();
    // As a newcomer runs it: no PUBLIC_URL, so it defaults to http://localhost:PORT.
    const { PUBLIC_URL: _, ...env } = testEnv(db, port, {
      WAXSEAL_ADMIN_EMAIL: OWNER.email,
      WAXSEAL_ADMIN_PASSWORD: OWNER.password,
    });
    child = spawn(process.execPath, ['--import', 'tsx', 'examples/custom-tool.ts'], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout?.on('data', (d) => {
      out += d;
    });
    child.stderr?.on('data', (d) => {
      out += d;
    });
    // Generous: a loaded machine (CI beside other jobs) can take well over 20 s to start tsx.
    const deadline = Date.now() + 60_000;
    while (!/Waxseal with a custom tool at \S+\n/.test(out)) {
      if (child.exitCode !== null) throw new Error(`the example exited: ${out}`);
      if (Date.now() > deadline) throw new Error(`the example did not start: ${out}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    printed = /Waxseal with a custom tool at (\S+)\n/.exec(out)?.[1] as string;
    base = new URL(printed).origin;
    ({ client } = await signedInClient({ base }, OWNER, 'Example Client'));
  });
  after(async () => {
    await client?.close();
    if (child && child.exitCode === null) {
      await new Promise<void>((resolve) => {
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      });
    }
    await db?.drop();
  });

  test('it prints the public MCP URL, which the SDK client accepts (it connected through it)', () => {
    assert.equal(printed, `http://localhost:${port}/mcp`);
  });

  test('the custom tool is listed beside whoami and its handler knows the caller', async () => {
    const names = (await client.listTools()).tools.map((t) => t.name).sort();
    assert.deepEqual(names, ['greet', 'whoami']);
    const me = await whoami(client);
    const greeting = text(await client.callTool({ name: 'greet', arguments: { greeting: 'Welcome' } }));
    assert.equal(greeting, `Welcome, owner@example.com (owner) via Example Client; key ${me.apiKeyPrefix}…`);
  });
});

describe('SPEC §9 library: createWaxseal in process, handlers get the caller and may talk back', () => {
  let db: TestDatabase;
  let waxseal: Waxseal;
  let client: Client;
  let asked: Asked;
  let base: string;

  before(async () => {
    db = await createTestDatabase('sqlite');
    const port = await freePort();
    const env = testEnv(db, port, {
      WAXSEAL_ADMIN_EMAIL: OWNER.email,
      WAXSEAL_ADMIN_PASSWORD: OWNER.password,
      INTROSPECTION_SECRET,
    });
    base = env.PUBLIC_URL as string;
    waxseal = createWaxseal({
      env,
      tools: [
        (server, { caller }) =>
          server.registerTool('my-key', { description: 'The caller and its current API key' }, async () => ({
            content: [{ type: 'text', text: caller.apiKey }],
            structuredContent: {
              email: caller.user.email,
              role: caller.user.role,
              connection: caller.connection.id,
            },
          })),
        (server) =>
          server.registerTool(
            'ask-model',
            { inputSchema: { question: z.string() } },
            async ({ question }, extra) => {
              const caller = getCaller(extra);
              const progressToken = extra._meta?.progressToken;
              if (progressToken !== undefined) {
                await extra.sendNotification({
                  method: 'notifications/progress',
                  params: { progressToken, progress: 1, total: 2 },
                });
              }
              const answer = await extra.sendRequest(
                {
                  method: 'sampling/createMessage',
                  params: {
                    messages: [{ role: 'user', content: { type: 'text', text: question } }],
                    maxTokens: 10,
                  },
                },
                CreateMessageResultSchema,
              );
              return {
                content: [
                  { type: 'text', text: `${caller.user.email} asked; ${JSON.stringify(answer.content)}` },
                ],
              };
            },
          ),
      ],
    });
    assert.throws(() => waxseal.url, /start\(\) first/);
    assert.equal(await waxseal.start(), `${base}/mcp`, 'start() resolves with the MCP URL clients use');
    assert.equal(waxseal.url, `http://127.0.0.1:${port}`, 'url is where it listens');
    assert.equal(typeof waxseal.app, 'function');
    ({ client, asked } = await signedInClient({ base }, OWNER, 'Library Client'));
  });
  after(async () => {
    await client?.close();
    await waxseal?.close();
    await db?.drop();
  });

  test("a handler receives the connection's current API key, which introspects as that connection", async () => {
    const result = await client.callTool({ name: 'my-key', arguments: {} });
    const me = await whoami(client);
    assert.deepEqual(result.structuredContent, {
      email: OWNER.email,
      role: 'owner',
      connection: me.connectionId,
    });
    const key = text(result);
    assert.ok(key.startsWith(me.apiKeyPrefix as string));
    const res = await fetch(`${base}/introspect`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${INTROSPECTION_SECRET}`,
        'content-type': 'application/x-www-form-urlencoded',
      },
      body: new URLSearchParams({ token: key }).toString(),
    });
    const body = (await res.json()) as Record<string, unknown>;
    assert.equal(body.active, true);
    assert.equal(body.connection_id, me.connectionId);
    assert.equal(body.client_name, 'Library Client');
  });

  test('a library tool sends progress and a sampling request, answered through the stateless endpoint', async () => {
    const progress: number[] = [];
    const result = await client.callTool({ name: 'ask-model', arguments: { question: 'Why?' } }, undefined, {
      onprogress: (p) => progress.push(p.progress),
    });
    assert.deepEqual(progress, [1]);
    assert.equal(asked.sampling.length, 1);
    assert.match(text(result), /owner@example.com asked; .*forty-two/);
  });
});
