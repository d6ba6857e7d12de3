import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { after, before, describe, test } from 'node:test';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import pino from 'pino';
import { ConfigError, loadConfig } from '../../src/config.js';
import { openServices } from '../../src/server.js';
import { apiKeyFor } from '../../src/services/api-keys.js';
import type { Services } from '../../src/services/context.js';
import { tracingOn } from '../../src/telemetry/tracing.js';
import {
  addUser,
  connectSdkClient,
  mcpStatus,
  PASSWORD,
  TestOAuthProvider,
  whoami,
} from '../helpers/flow.js';
import { type OtlpReceiver, startOtlpReceiver } from '../helpers/otlp-receiver.js';
import { type Instance, startInstance } from '../helpers/processes.js';
import {
  createTestDatabase,
  freePort,
  postgresSkip,
  SECRET,
  startTestServer,
  type TestDatabase,
  type TestServer,
  testEnv,
} from '../helpers/server.js';
import { type RecordingUpstream, startRecordingUpstream } from '../helpers/upstreams.js';

const SERVER = 2; // OTLP SpanKind SERVER
const CLIENT = 3; // OTLP SpanKind CLIENT
const ERROR = 2; // OTLP status code ERROR
/** An argument value the client sends to a tool: it must never become an attribute. */
const ARGUMENT = 'argument-value-7f3c9e1d-never-exported';

/** A confidential client (client_secret_post), so that there is a client secret to look for. */
class ConfidentialProvider extends TestOAuthProvider {
  override get clientMetadata() {
    return { ...super.clientMetadata, token_endpoint_auth_method: 'client_secret_post' };
  }
}

function tracingEnv(db: TestDatabase, port: number, receiver: OtlpReceiver, upstream: RecordingUpstream) {
  return {
    ...testEnv(db, port),
    LOG_LEVEL: 'warn',
    UPSTREAM_MCP_URL: upstream.url,
    WAXSEAL_ADMIN_EMAIL: 'owner@example.com',
    WAXSEAL_ADMIN_PASSWORD: PASSWORD,
    OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
    OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
    OTEL_SERVICE_NAME: 'waxseal-test',
    OTEL_BSP_SCHEDULE_DELAY: '50',
  };
}

for (const kind of ['sqlite', 'postgres'] as const) {
  describe(`SPEC §13 traces to a real OTLP/HTTP receiver (${kind})`, async () => {
    const skip = kind === 'postgres' ? await postgresSkip() : false;
    let receiver: OtlpReceiver;
    let upstream: RecordingUpstream;
    let db: TestDatabase;
    let instance: Instance;
    let admin: Services;
    let env: Record<string, string>;
    let provider: ConfidentialProvider;
    let client: Client;
    let connectionId: string;

    before(async () => {
      if (skip) return;
      receiver = await startOtlpReceiver();
      upstream = await startRecordingUpstream({ label: 'rec' });
      db = await createTestDatabase(kind);
      const port = await freePort();
      env = tracingEnv(db, port, receiver, upstream);
      instance = await startInstance(env, port);
      admin = await openServices(loadConfig({ ...env, LOG_LEVEL: 'silent' }), {
        log: pino({ level: 'silent' }),
      });
      const server = { base: instance.url } as TestServer;
      provider = new ConfidentialProvider(server, { email: 'owner@example.com', password: PASSWORD });
      client = await connectSdkClient(server, provider);
      connectionId = (await whoami(client)).connectionId as string;
    });
    after(async () => {
      await client?.close().catch(() => undefined);
      await instance?.kill();
      await admin?.store.close();
      await db?.drop();
      await upstream?.close();
      await receiver?.close();
    });

    test('a tools/call through an upstream: a SERVER span with the MCP attributes, its CLIENT child, and the traceparent the upstream got', {
      skip,
    }, async () => {
      const result = await client.callTool({ name: 'rec-echo', arguments: { text: ARGUMENT } });
      assert.match(JSON.stringify(result.content), /rec: argument-value/);
      const seen = upstream.seen.filter((s) => s.tool === 'rec-echo').at(-1);
      assert.ok(seen?.traceparent, 'the upstream received a traceparent');
      const [, traceId, parentId, flags] = seen.traceparent.split('-');

      const call = await receiver.waitFor((s) => s.kind === CLIENT && s.spanId === parentId);
      const request = await receiver.waitFor((s) => s.kind === SERVER && s.spanId === call.parentSpanId);
      assert.equal(flags, '01', 'sampled');
      assert.deepEqual([request.traceId, call.traceId], [traceId, traceId], 'one trace');
      assert.equal(request.name, 'tools/call rec-echo', 'semconv name: {mcp.method.name} {target}');
      assert.equal(request.service, 'waxseal-test', 'OTEL_SERVICE_NAME');
      assert.equal(request.parentSpanId, undefined, 'the request span is the root');
      assert.equal(request.attributes['mcp.method.name'], 'tools/call');
      assert.equal(request.attributes['gen_ai.tool.name'], 'rec-echo');
      assert.equal(request.attributes['gen_ai.operation.name'], 'execute_tool');
      assert.equal(request.attributes['waxseal.connection.id'], connectionId);
      assert.match(String(request.attributes['jsonrpc.request.id']), /^\d+$/);
      assert.equal(request.attributes['http.response.status_code'], 200);
      assert.equal(request.attributes['error.type'], undefined);
      assert.equal(call.name, 'tools/call rec-echo');
      assert.equal(call.attributes['mcp.method.name'], 'tools/call');
      assert.equal(call.attributes['gen_ai.tool.name'], 'rec-echo');
      assert.equal(call.attributes['waxseal.upstream.name'], 'upstream');
      assert.equal(call.attributes['waxseal.connection.id'], connectionId);
      assert.equal(call.attributes['server.address'], '127.0.0.1');
      assert.equal(call.attributes['http.response.status_code'], 200);
    });

    test('a caller’s traceparent makes the request span its child; a built-in tool call has no upstream span', {
      skip,
    }, async () => {
      const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
      const res = await fetch(`${instance.url}/mcp`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${provider.saved?.access_token}`,
          'content-type': 'application/json',
          accept: 'application/json, text/event-stream',
          traceparent: `00-${traceId}-00f067aa0ba902b7-01`,
        },
        body: JSON.stringify({
          jsonrpc: '2.0',
          id: 'w-1',
          method: 'tools/call',
          params: { name: 'whoami', arguments: {} },
        }),
      });
      assert.equal(res.status, 200);
      await res.arrayBuffer();
      const span = await receiver.waitFor((s) => s.traceId === traceId);
      assert.equal(span.name, 'tools/call whoami');
      assert.equal(span.parentSpanId, '00f067aa0ba902b7');
      assert.equal(span.attributes['jsonrpc.request.id'], 'w-1');
      const inTrace = (await receiver.spans()).filter((s) => s.traceId === traceId);
      assert.deepEqual(
        inTrace.map((s) => s.kind),
        [SERVER],
      );
    });

    test('failures carry error.type: an unknown tool, and a request with no valid bearer', {
      skip,
    }, async (t) => {
      await client.callTool({ name: 'no-such-tool', arguments: {} }).catch(() => undefined);
      const unknown = await receiver.waitFor((s) => s.name === 'tools/call no-such-tool');
      assert.ok(unknown.attributes['error.type'], `error.type ${unknown.attributes['error.type']}`);
      assert.equal(unknown.status, ERROR);
      t.diagnostic(`unknown tool: error.type ${unknown.attributes['error.type']}`);
      assert.equal(await mcpStatus(instance.url, 'wax_at_not-a-token'), 401);
      const refused = await receiver.waitFor(
        (s) => s.kind === SERVER && s.attributes['error.type'] === '401',
      );
      assert.equal(refused.attributes['waxseal.connection.id'], undefined);
      assert.equal(refused.status, ERROR);
    });

    test('no token, key, secret or argument value appears anywhere in what was exported', {
      skip,
    }, async () => {
      // One more call, so that every kind of span has been exported at least once.
      await client.callTool({ name: 'rec-echo', arguments: { text: ARGUMENT } });
      await receiver.waitFor((s) => s.kind === CLIENT && s.attributes['gen_ai.tool.name'] === 'rec-echo');
      const row = await admin.store.db
        .selectFrom('connections as c')
        .innerJoin('api_keys as k', 'k.id', 'c.current_api_key_id')
        .select('k.key_ref')
        .where('c.id', '=', connectionId)
        .executeTakeFirstOrThrow();
      const bound = upstream.seen.find((s) => s.authorization)?.authorization?.replace(/^Bearer /, '');
      const secrets: Array<[string | undefined, string]> = [
        [provider.saved?.access_token, 'access token'],
        [provider.saved?.refresh_token, 'refresh token'],
        [provider.info?.client_secret, 'client secret'],
        [apiKeyFor(admin, row.key_ref), 'API key'],
        [bound, 'bound key the upstream received'],
        [provider.browser.jar.get('waxseal_session'), 'session cookie'],
        [SECRET, 'WAXSEAL_SECRET'],
        [PASSWORD, 'password'],
        [ARGUMENT, 'tool argument value'],
      ];
      const exported = (await receiver.bodies()).join('\n');
      assert.ok(exported.length > 1000, 'spans were exported');
      for (const [value, what] of secrets) {
        assert.ok(value && value.length >= 16, `${what} is known to the test`);
        assert.ok(!exported.includes(value), `the export contains the ${what}`);
        assert.ok(
          !exported.includes(encodeURIComponent(value)),
          `the export contains the ${what} (URL-encoded)`,
        );
      }
    });
  });
}

describe('SPEC §13 traces: shutdown and off', () => {
  test('configured by the standard OTEL_* variables; a bad one is one line naming it', () => {
    const traces = (env: Record<string, string>) => loadConfig(env).traces;
    assert.equal(traces({}), undefined, 'off when no endpoint is set');
    assert.deepEqual(traces({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318/' }), {
      url: 'http://collector:4318/v1/traces',
      serviceName: 'waxseal',
    });
    assert.deepEqual(
      traces({
        OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318',
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'https://traces.example/otlp/spans',
        OTEL_SERVICE_NAME: 'gateway-eu',
      }),
      { url: 'https://traces.example/otlp/spans', serviceName: 'gateway-eu' },
      'the traces endpoint is used as given',
    );
    const on = { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' };
    assert.equal(traces({ ...on, OTEL_SDK_DISABLED: 'true' }), undefined);
    assert.equal(traces({ ...on, OTEL_TRACES_EXPORTER: 'none' }), undefined);
    for (const [name, value, message] of [
      ['OTEL_EXPORTER_OTLP_PROTOCOL', 'grpc', /^OTEL_EXPORTER_OTLP_PROTOCOL: must be http\/json/],
      ['OTEL_EXPORTER_OTLP_ENDPOINT', 'collector:4318', /^OTEL_EXPORTER_OTLP_ENDPOINT: must be an http/],
      ['OTEL_TRACES_EXPORTER', 'zipkin', /^OTEL_TRACES_EXPORTER: must be otlp or none/],
    ] as const) {
      assert.throws(
        () => loadConfig({ ...on, [name]: value }),
        (err: Error) => err instanceof ConfigError && message.test(err.message),
      );
    }
  });

  test('SIGTERM exports the spans still buffered before the process exits', async () => {
    const receiver = await startOtlpReceiver();
    const upstream = await startRecordingUpstream({ label: 'rec' });
    const db = await createTestDatabase('sqlite');
    const port = await freePort();
    // A batch delay of ten minutes: only the shutdown's flush can deliver the span.
    const instance = await startInstance(
      { ...tracingEnv(db, port, receiver, upstream), OTEL_BSP_SCHEDULE_DELAY: '600000' },
      port,
    );
    try {
      assert.equal(await mcpStatus(instance.url, 'wax_at_not-a-token'), 401);
      assert.deepEqual(await receiver.spans(), []);
      await instance.kill('SIGTERM');
      assert.equal(instance.child.exitCode, 0);
      const spans = await receiver.spans();
      assert.equal(spans.length, 1, 'the buffered span arrived before exit');
      assert.equal(spans[0]?.name, 'POST /mcp');
    } finally {
      await instance.kill('SIGKILL');
      await db.drop();
      await upstream.close();
      await receiver.close();
    }
  });

  test('without an OTLP endpoint nothing is recorded and the SDK is never loaded', async () => {
    const server = await startTestServer('sqlite');
    try {
      const user = await addUser(server, 'off@example.com', 'member');
      const client = await connectSdkClient(server, new TestOAuthProvider(server, user));
      await whoami(client);
      await client.close();
      assert.equal(tracingOn(), false);
      const loaded = Object.keys(createRequire(import.meta.url).cache);
      assert.deepEqual(
        loaded.filter((path) => /@opentelemetry\/(sdk-trace|exporter|resources)/.test(path)),
        [],
      );
    } finally {
      await server.stop();
    }
  });
});
