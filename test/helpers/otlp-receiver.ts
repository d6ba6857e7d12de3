/**
 * A real OTLP/HTTP trace receiver, as a child process: a node:http server that
 * accepts `POST /v1/traces` in the OTLP JSON encoding (what
 * OTEL_EXPORTER_OTLP_PROTOCOL=http/json sends) and hands every body it got to
 * the test through `GET /received`. Run directly, this file is the receiver.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createServer } from 'node:http';
import { fileURLToPath } from 'node:url';

/** One span as the receiver decoded it from OTLP JSON. */
export interface ReceivedSpan {
  service: string;
  name: string;
  /** OTLP SpanKind: 2 SERVER, 3 CLIENT. */
  kind: number;
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  /** OTLP status code: 2 ERROR. */
  status?: number;
  attributes: Record<string, string | number | boolean>;
}

export interface OtlpReceiver {
  /** What OTEL_EXPORTER_OTLP_ENDPOINT points at. */
  url: string;
  /** Every export request's body, as received. */
  bodies(): Promise<string[]>;
  spans(): Promise<ReceivedSpan[]>;
  /** Waits until a span satisfies `match` (the exporter sends in batches). */
  waitFor(match: (span: ReceivedSpan) => boolean, timeoutMs?: number): Promise<ReceivedSpan>;
  close(): Promise<void>;
}

type AnyValue = {
  stringValue?: string;
  intValue?: string | number;
  boolValue?: boolean;
  doubleValue?: number;
};
type KeyValue = { key: string; value: AnyValue };
interface ExportBody {
  resourceSpans?: Array<{
    resource?: { attributes?: KeyValue[] };
    scopeSpans?: Array<{
      spans?: Array<{
        name: string;
        kind: number;
        traceId: string;
        spanId: string;
        parentSpanId?: string;
        status?: { code?: number };
        attributes?: KeyValue[];
      }>;
    }>;
  }>;
}

function value(v: AnyValue): string | number | boolean {
  if (v.stringValue !== undefined) return v.stringValue;
  if (v.intValue !== undefined) return Number(v.intValue);
  if (v.boolValue !== undefined) return v.boolValue;
  return v.doubleValue ?? '';
}

const attributesOf = (list: KeyValue[] = []) =>
  Object.fromEntries(list.map((kv) => [kv.key, value(kv.value)]));

/** Decodes OTLP JSON bodies (ids are hex strings in this encoding). */
export function decodeSpans(bodies: string[]): ReceivedSpan[] {
  const spans: ReceivedSpan[] = [];
  for (const text of bodies) {
    const body = JSON.parse(text) as ExportBody;
    for (const rs of body.resourceSpans ?? []) {
      const service = String(attributesOf(rs.resource?.attributes)['service.name'] ?? '');
      for (const ss of rs.scopeSpans ?? []) {
        for (const s of ss.spans ?? []) {
          spans.push({
            service,
            name: s.name,
            kind: s.kind,
            traceId: s.traceId,
            spanId: s.spanId,
            parentSpanId: s.parentSpanId || undefined,
            status: s.status?.code,
            attributes: attributesOf(s.attributes),
          });
        }
      }
    }
  }
  return spans;
}

export async function startOtlpReceiver(): Promise<OtlpReceiver> {
  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    child.stdout?.on('data', (d) => {
      out += d;
      const m = /listening (\d+)/.exec(out);
      if (m) resolve(Number(m[1]));
    });
    child.once('exit', (code) => reject(new Error(`OTLP receiver exited with ${code}`)));
  });
  const url = `http://127.0.0.1:${port}`;
  const bodies = async () => (await (await fetch(`${url}/received`)).json()) as string[];
  const spans = async () => decodeSpans(await bodies());
  return {
    url,
    bodies,
    spans,
    waitFor: async (match, timeoutMs = 10_000) => {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const found = (await spans()).find(match);
        if (found) return found;
        if (Date.now() > deadline) throw new Error('the OTLP receiver never got the span');
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    close: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

function main(): void {
  const received: string[] = [];
  const server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    if (req.method === 'GET' && req.url === '/received') {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(received));
      return;
    }
    if (req.method !== 'POST' || req.url !== '/v1/traces') {
      res.writeHead(404).end();
      return;
    }
    if (!/^application\/json/.test(req.headers['content-type'] ?? '')) {
      res.writeHead(415).end();
      return;
    }
    const text = Buffer.concat(chunks).toString('utf8');
    try {
      decodeSpans([text]);
    } catch {
      res.writeHead(400, { 'content-type': 'application/json' }).end('{"message":"not OTLP JSON"}');
      return;
    }
    received.push(text);
    // ExportTraceServiceResponse, all accepted.
    res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
  });
  server.listen(0, '127.0.0.1', () => {
    const address = server.address();
    process.stdout.write(`listening ${typeof address === 'object' && address ? address.port : 0}\n`);
  });
  process.once('SIGTERM', () => {
    server.close(() => process.exit(0));
    server.closeAllConnections();
  });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) main();
