import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import type { FetchLike } from '@modelcontextprotocol/sdk/shared/transport.js';
import {
  type CreateMessageRequest,
  CreateMessageRequestSchema,
  type ElicitRequest,
  ElicitRequestSchema,
} from '@modelcontextprotocol/sdk/types.js';
import { stringify } from 'yaml';
import { z } from 'zod';
import { addUser, TestOAuthProvider } from './flow.js';
import { freePort, type TestServer } from './server.js';

const ROOT = new URL('../..', import.meta.url).pathname;
export const EVERYTHING = join(ROOT, 'node_modules/@modelcontextprotocol/server-everything/dist/index.js');

/** server-everything over stdio, as a WAXSEAL_CONFIG entry. */
export const everythingStdio = { command: process.execPath, args: [EVERYTHING, 'stdio'] };

/** The reference server over Streamable HTTP, in its own process (so a test can kill it). */
export interface EverythingProcess {
  url: string;
  child: ChildProcess;
  kill(): Promise<void>;
}

export async function startEverythingHttp(onPort?: number): Promise<EverythingProcess> {
  const port = onPort ?? (await freePort());
  const child = spawn(process.execPath, [EVERYTHING, 'streamableHttp'], {
    env: { PATH: process.env.PATH ?? '', PORT: String(port) },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let err = '';
  child.stderr?.on('data', (d) => {
    err += d;
  });
  const url = `http://127.0.0.1:${port}/mcp`;
  const deadline = Date.now() + 15_000;
  while (!err.includes('listening')) {
    if (child.exitCode !== null) throw new Error(`server-everything exited: ${err}`);
    if (Date.now() > deadline) throw new Error(`server-everything did not start: ${err}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    url,
    child,
    kill: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGKILL');
      }),
  };
}

/** What a recording upstream saw of one HTTP request. */
export interface Seen {
  authorization?: string;
  apiKeyHeader?: string;
  method?: string;
  tool?: string;
  /** The W3C trace context Waxseal sent along (SPEC §13). */
  traceparent?: string;
}

export interface RecordingUpstream {
  url: string;
  seen: Seen[];
  close(): Promise<void>;
}

/**
 * A small upstream written for the tests: an SDK McpServer over stateless
 * Streamable HTTP that records the credentials of every request it receives.
 * Tools: `<prefix>echo`, `search`, `<prefix>danger`, `slow`, and `introspect`,
 * which checks the key it received with Waxseal's POST /introspect.
 */
export async function startRecordingUpstream(
  options: { label: string; waxseal?: () => string; introspectionSecret?: string } = { label: 'rec' },
): Promise<RecordingUpstream> {
  const seen: Seen[] = [];
  const build = (req: IncomingMessage) => {
    const server = new McpServer({ name: `recording-${options.label}`, version: '1.0.0' });
    server.registerTool(
      'search',
      { description: `Search in ${options.label}`, inputSchema: { q: z.string() } },
      async ({ q }) => ({ content: [{ type: 'text', text: `${options.label} found ${q}` }] }),
    );
    server.registerTool(`${options.label}-echo`, { inputSchema: { text: z.string() } }, async ({ text }) => ({
      content: [{ type: 'text', text: `${options.label}: ${text}` }],
    }));
    server.registerTool(`${options.label}-danger`, { description: 'Only for some roles' }, async () => ({
      content: [{ type: 'text', text: `${options.label} did something dangerous` }],
    }));
    server.registerTool('slow', { inputSchema: { ms: z.number() } }, async ({ ms }) => {
      await new Promise((r) => setTimeout(r, ms));
      return { content: [{ type: 'text', text: 'finally' }] };
    });
    server.registerTool('introspect', { description: 'Checks the received key with Waxseal' }, async () => {
      const header = req.headers.authorization ?? '';
      const key = header.replace(/^Bearer /, '');
      const res = await fetch(`${options.waxseal?.()}/introspect`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${options.introspectionSecret}`,
          'content-type': 'application/x-www-form-urlencoded',
        },
        body: new URLSearchParams({ token: key }).toString(),
      });
      const body = (await res.json()) as Record<string, unknown>;
      return { content: [{ type: 'text', text: JSON.stringify(body) }], structuredContent: body };
    });
    return server;
  };
  const http: Server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const text = Buffer.concat(chunks).toString('utf8');
    const body = text ? (JSON.parse(text) as { method?: string; params?: { name?: string } }) : undefined;
    seen.push({
      authorization: req.headers.authorization,
      apiKeyHeader: req.headers['x-api-key'] as string | undefined,
      method: req.method === 'POST' ? body?.method : req.method,
      tool: body?.params?.name,
      traceparent: req.headers.traceparent as string | undefined,
    });
    if (req.method !== 'POST') {
      res.writeHead(405).end();
      return;
    }
    const server = build(req);
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined });
    res.on('close', () => {
      void transport.close();
      void server.close();
    });
    await server.connect(transport);
    await transport.handleRequest(req, res, body);
  });
  const port = await freePort();
  await new Promise<void>((resolve) => http.listen(port, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${port}/mcp`,
    seen,
    close: () =>
      new Promise((resolve) => {
        http.close(() => resolve());
        http.closeAllConnections();
      }),
  };
}

/** Writes an upstreams file (YAML unless the name ends in .json) and returns its path. */
export function writeUpstreamsFile(content: object, name = 'waxseal.yaml'): string {
  const dir = mkdtempSync(join(tmpdir(), 'waxseal-upstreams-'));
  const path = join(dir, name);
  writeFileSync(path, name.endsWith('.json') ? JSON.stringify(content) : stringify(content));
  return path;
}

/** What the signed-in test client was asked by upstreams (sampling, elicitation). */
export interface Asked {
  sampling: CreateMessageRequest['params'][];
  elicitation: ElicitRequest['params'][];
}

/**
 * The official SDK client, signed in through Waxseal's OAuth flow, declaring
 * sampling and elicitation and answering them like a person and a model would.
 */
export async function signedInClient(
  server: Pick<TestServer, 'base'> & Partial<TestServer>,
  user: { email: string; password: string },
  clientName = 'Gateway Test Client',
  /** The transport's own fetch (e.g. to send its GET stream and its POSTs to different instances). */
  options: { fetch?: FetchLike } = {},
): Promise<{ client: Client; provider: TestOAuthProvider; asked: Asked }> {
  const provider = new TestOAuthProvider(server as TestServer, user, clientName);
  const url = new URL('/mcp', server.base);
  const transport = () =>
    new StreamableHTTPClientTransport(url, { authProvider: provider, fetch: options.fetch });
  const asked: Asked = { sampling: [], elicitation: [] };
  const make = () => {
    const client = new Client(
      { name: 'gateway-test', version: '1.0.0' },
      { capabilities: { sampling: {}, elicitation: {} } },
    );
    client.setRequestHandler(CreateMessageRequestSchema, async (request) => {
      asked.sampling.push(request.params);
      return {
        model: 'test-model',
        role: 'assistant',
        content: { type: 'text', text: 'The model says: forty-two' },
      };
    });
    client.setRequestHandler(ElicitRequestSchema, async (request) => {
      asked.elicitation.push(request.params);
      return { action: 'accept', content: { name: 'Ada Lovelace', check: true } };
    });
    return client;
  };
  const first = make();
  try {
    await first.connect(transport());
    return { client: first, provider, asked };
  } catch (err) {
    if (!(err instanceof UnauthorizedError) || !provider.lastCode) throw err;
  }
  await transport().finishAuth(provider.lastCode);
  const client = make();
  await client.connect(transport());
  return { client, provider, asked };
}

export async function signIn(server: TestServer, email: string, role: string, clientName?: string) {
  const user = await addUser(server, email, role);
  return signedInClient(server, user, clientName);
}

/**
 * For tests run once per way Waxseal serves a tool call to an HTTP upstream:
 * through the SDK's Protocol objects (`GATEWAY_DIRECT_CALLS=off`), and
 * directly (src/upstreams/direct-call.ts). `env` is the test server's.
 */
export const CALL_PATHS: readonly { path: string; env: Record<string, string> }[] = [
  { path: 'calls served through the SDK Protocol', env: { GATEWAY_DIRECT_CALLS: 'off' } },
  { path: 'calls served directly', env: {} },
];

export function text(result: unknown): string {
  const content = (result as { content?: Array<{ type: string; text?: string }> }).content ?? [];
  return content
    .filter((c) => c.type === 'text')
    .map((c) => c.text)
    .join('\n');
}

export const INTROSPECTION_SECRET = 'introspection-secret-0123456789abcdef0123';

const STREAMING = join(ROOT, 'test/helpers/streaming-upstream.mjs');

/** test/helpers/streaming-upstream.mjs over stdio, as a WAXSEAL_CONFIG entry. */
export const streamingStdio = { command: process.execPath, args: [STREAMING, 'stdio'] };

export interface StreamingProcess {
  url: string;
  /** What it printed: "method <name>" per received message, "cancelled" when `wait` was cancelled. */
  output(): string;
  kill(): Promise<void>;
}

/** test/helpers/streaming-upstream.mjs over Streamable HTTP, in its own process. */
export async function startStreamingHttp(): Promise<StreamingProcess> {
  const port = await freePort();
  const child = spawn(process.execPath, [STREAMING, 'http', String(port)], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let out = '';
  child.stderr?.on('data', (d) => {
    out += d;
  });
  const deadline = Date.now() + 15_000;
  while (!out.includes('listening')) {
    if (child.exitCode !== null) throw new Error(`streaming upstream exited: ${out}`);
    if (Date.now() > deadline) throw new Error(`streaming upstream did not start: ${out}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  return {
    url: `http://127.0.0.1:${port}/mcp`,
    output: () => out,
    kill: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGKILL');
      }),
  };
}
