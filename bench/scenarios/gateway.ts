/**
 * G1 and G2 (issue 13, gateway speed): tools/call echo through Waxseal to
 * @modelcontextprotocol/server-everything, over Streamable HTTP (G1) and over
 * stdio (G2), in the same rounds as their baselines: G1 against calling that
 * server directly, G2 against the SDK's own HTTP front for the same stdio
 * server (and, for context, the SDK client in that server's process).
 * Waxseal's CPU per call and the upstream's are measured apart, from each
 * process's own CPU time.
 */
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { LATEST_PROTOCOL_VERSION } from '@modelcontextprotocol/sdk/types.js';
import { EVERYTHING, startEverythingHttp, writeUpstreamsFile } from '../../test/helpers/upstreams.js';
import { cpuMs, descendants } from '../children.js';
import { type Bench, CURRENT, median, type Row } from '../context.js';
import { fire, type LoadSpec, type Shot } from '../load.js';
import { percentile } from '../report.js';
import { MCP_HEADERS } from './mcp.js';

export const ECHO_CALL = JSON.stringify({
  jsonrpc: '2.0',
  id: 1,
  method: 'tools/call',
  params: { name: 'echo', arguments: { message: 'hello' } },
});

const INITIALIZE = JSON.stringify({
  jsonrpc: '2.0',
  id: 0,
  method: 'initialize',
  params: {
    protocolVersion: LATEST_PROTOCOL_VERSION,
    capabilities: {},
    clientInfo: { name: 'waxseal-bench', version: '1.0.0' },
  },
});

/** The connections of the loaded runs (issue 13 measured at 20). */
function loadedConnections(b: Bench): number {
  return b.settings.quick ? b.settings.connections : 20;
}

async function shoot(b: Bench, spec: Omit<LoadSpec, 'seconds'>): Promise<Shot> {
  return fire({ ...spec, warmup: b.settings.warmup, seconds: b.settings.seconds });
}

/** initialize + notifications/initialized, as an MCP client starts; the session id, if the server gave one. */
export async function initialize(
  url: string,
  headers: Record<string, string>,
): Promise<Record<string, string>> {
  const res = await fetch(url, { method: 'POST', headers: { ...MCP_HEADERS, ...headers }, body: INITIALIZE });
  const text = await res.text();
  if (res.status !== 200 || !text.includes('"result"')) {
    throw new Error(`initialize at ${url} answered ${res.status}: ${text.slice(0, 300)}`);
  }
  const session = res.headers.get('mcp-session-id');
  const next = {
    ...headers,
    'mcp-protocol-version': LATEST_PROTOCOL_VERSION,
    ...(session ? { 'mcp-session-id': session } : {}),
  };
  const done = await fetch(url, {
    method: 'POST',
    headers: { ...MCP_HEADERS, ...next },
    body: JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }),
  });
  await done.text();
  return next;
}

/** One echo call outside the load, so a benchmark never measures a broken answer. */
async function echoOnce(url: string, headers: Record<string, string>): Promise<void> {
  const res = await fetch(url, { method: 'POST', headers: { ...MCP_HEADERS, ...headers }, body: ECHO_CALL });
  const text = await res.text();
  if (res.status !== 200 || !text.includes('Echo: hello')) {
    throw new Error(`echo at ${url} answered ${res.status}: ${text.slice(0, 300)}`);
  }
}

interface Subject {
  what: string;
  run(connections: number): Promise<Shot>;
}

interface Pair {
  direct: Shot;
  /** By Waxseal variant: this checkout, and the --compare one. */
  waxseal: Record<string, Shot>;
}

/** Rounds of loaded and single-connection runs, direct and through Waxseal alternating who goes first. */
async function rounds(b: Bench, direct: Subject, waxseal: Record<string, Subject>) {
  const loaded: Pair[] = [];
  const alone: Pair[] = [];
  for (let r = 0; r < b.settings.rounds; r++) {
    for (const [connections, into] of [
      [loadedConnections(b), loaded],
      [1, alone],
    ] as const) {
      const pair = { waxseal: {} } as Pair;
      const runs = [
        async () => {
          pair.direct = await direct.run(connections);
        },
        ...Object.entries(waxseal).map(([variant, subject]) => async () => {
          pair.waxseal[variant] = await subject.run(connections);
        }),
      ];
      for (const run of r % 2 ? runs.reverse() : runs) await run();
      into.push(pair);
    }
  }
  return { loaded, alone };
}

function rows(
  id: string,
  b: Bench,
  what: { waxseal: string; direct: string },
  measured: { loaded: Pair[]; alone: Pair[] },
): Row[] {
  return b.variants().flatMap((variant) => variantRows(id, b, what, measured, variant));
}

function variantRows(
  id: string,
  b: Bench,
  what: { waxseal: string; direct: string },
  measured: { loaded: Pair[]; alone: Pair[] },
  variant: string,
  context?: string,
): Row[] {
  const label = variant === CURRENT ? '' : ` (${variant})`;
  const pick = (pairs: Pair[]) =>
    pairs.map((p) => ({ direct: p.direct, waxseal: p.waxseal[variant] as Shot }));
  const loaded = pick(measured.loaded);
  const alone = pick(measured.alone);
  type One = (typeof loaded)[number];
  const m = (pairs: One[], get: (p: One) => number) => median(pairs.map(get));
  const ratio = m(loaded, (p) => p.waxseal.rps / p.direct.rps);
  const cpu = m(loaded, (p) => p.waxseal.cpuUs);
  const added = m(alone, (p) => p.waxseal.p50 - p.direct.p50);
  const n = loadedConnections(b);
  const gateway = id === 'G1' && !context;
  return [
    {
      id,
      what: `${what.waxseal}, ${n} connections${label}`,
      p50: m(loaded, (p) => p.waxseal.p50),
      p99: m(loaded, (p) => p.waxseal.p99),
      rps: m(loaded, (p) => p.waxseal.rps),
      cpuUs: cpu,
      upstreamCpuUs: m(loaded, (p) => p.waxseal.upstreamCpuUs),
      baseline: {
        what: `${what.direct}, ${n} connections`,
        p50: m(loaded, (p) => p.direct.p50),
        p99: m(loaded, (p) => p.direct.p99),
        rps: m(loaded, (p) => p.direct.rps),
        cpuUs: m(loaded, (p) => p.direct.cpuUs),
      },
      ratio: `${ratio.toFixed(3)}× req/s`,
      target: context ?? (gateway ? '≥ 0.8× req/s; Waxseal ≤ 250 µs CPU/call' : '≥ 0.8× req/s'),
      met: context ? null : gateway ? ratio >= 0.8 && cpu <= 250 : ratio >= 0.8,
    },
    {
      id,
      what: `the same, 1 connection${label}`,
      p50: m(alone, (p) => p.waxseal.p50),
      p99: m(alone, (p) => p.waxseal.p99),
      rps: m(alone, (p) => p.waxseal.rps),
      cpuUs: m(alone, (p) => p.waxseal.cpuUs),
      upstreamCpuUs: m(alone, (p) => p.waxseal.upstreamCpuUs),
      baseline: {
        what: `${what.direct}, 1 connection`,
        p50: m(alone, (p) => p.direct.p50),
        p99: m(alone, (p) => p.direct.p99),
        rps: m(alone, (p) => p.direct.rps),
        cpuUs: m(alone, (p) => p.direct.cpuUs),
      },
      ratio: `p50 ${added >= 0 ? '+' : '−'}${Math.abs(added).toFixed(2)} ms`,
      target: context ?? (gateway ? 'p50 added ≤ 0.5 ms' : 'context for G2'),
      met: context ? null : gateway ? added <= 0.5 : null,
    },
  ];
}

/** A signed-in, initialized MCP client of a Waxseal deployment, as autocannon's headers. */
async function waxsealSession(b: Bench, variant: string, name: string, env: Record<string, string>) {
  const waxseal = await b.waxseal('sqlite', variant, { name, env });
  const [grant] = await waxseal.connect(1);
  const url = `${waxseal.instance.url}/mcp`;
  const headers = await initialize(url, { authorization: `Bearer ${grant?.accessToken as string}` });
  await echoOnce(url, headers);
  return { waxseal, headers };
}

export async function g1(b: Bench): Promise<Row[]> {
  const everything = await startEverythingHttp();
  b.stops.push(() => everything.kill());
  const upstream = { cpuMs: () => cpuMs(everything.child.pid as number) };
  const directHeaders = await initialize(everything.url, {});
  await echoOnce(everything.url, directHeaders);
  const subjects: Record<string, Subject> = {};
  const load = (url: string, server: { cpuMs(): number }, h: Record<string, string>, more = {}) => ({
    url,
    server,
    connections: 0,
    method: 'POST',
    headers: { ...MCP_HEADERS, ...h },
    body: ECHO_CALL,
    expectStatus: 200,
    ...more,
  });
  for (const variant of b.variants()) {
    const { waxseal, headers } = await waxsealSession(b, variant, 'g1', { UPSTREAM_MCP_URL: everything.url });
    subjects[variant] = {
      what: variant,
      run: (connections) =>
        shoot(b, {
          ...load(`${waxseal.instance.url}/mcp`, waxseal.instance, headers, { upstream }),
          connections,
        }),
    };
  }
  // For context: the thinnest proxy (bench/servers/thin-proxy.ts): what a proxy doing nothing costs here.
  const thin = await b.script('bench/servers/thin-proxy.ts', { UPSTREAM_URL: everything.url });
  const thinHeaders = await initialize(thin.url, {});
  await echoOnce(thin.url, thinHeaders);
  subjects[THIN] = {
    what: THIN,
    run: (connections) => shoot(b, { ...load(thin.url, thin, thinHeaders, { upstream }), connections }),
  };
  const measured = await rounds(
    b,
    {
      what: 'direct',
      run: (connections) => shoot(b, { ...load(everything.url, upstream, directHeaders), connections }),
    },
    subjects,
  );
  const direct = 'server-everything directly, its own session';
  return [
    ...rows(
      'G1',
      b,
      { waxseal: 'tools/call echo through Waxseal to server-everything (Streamable HTTP), SQLite', direct },
      measured,
    ),
    ...variantRows(
      'G1',
      b,
      {
        waxseal: 'the same through the thinnest proxy (bytes forwarded on undici: no auth, no JSON, no MCP)',
        direct,
      },
      measured,
      THIN,
      'context for G1: a proxy that does nothing',
    ),
  ];
}

const THIN = 'thin-proxy';

/**
 * The SDK client calling the stdio server directly: `connections` callers in a
 * closed loop on one Client, as an application embedding the server would.
 */
async function directStdio(b: Bench, client: Client, pid: number, connections: number): Promise<Shot> {
  const run = async (seconds: number): Promise<Shot> => {
    const latencies: number[] = [];
    const cpuBefore = cpuMs(pid);
    const started = performance.now();
    const until = started + seconds * 1000;
    await Promise.all(
      Array.from({ length: connections }, async () => {
        while (performance.now() < until) {
          const t0 = performance.now();
          const result = await client.callTool({ name: 'echo', arguments: { message: 'hello' } });
          if (!JSON.stringify(result).includes('Echo: hello')) throw new Error('echo answered wrongly');
          latencies.push(performance.now() - t0);
        }
      }),
    );
    const elapsed = (performance.now() - started) / 1000;
    latencies.sort((x, y) => x - y);
    return {
      requests: latencies.length,
      rps: latencies.length / elapsed,
      p50: percentile(latencies, 50),
      p99: percentile(latencies, 99),
      cpuUs: ((cpuMs(pid) - cpuBefore) * 1000) / latencies.length,
      upstreamCpuUs: Number.NaN,
      statuses: { 200: latencies.length },
    };
  };
  await run(b.settings.warmup);
  return run(b.settings.seconds);
}

export async function g2(b: Bench): Promise<Row[]> {
  const client = new Client({ name: 'waxseal-bench', version: '1.0.0' });
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [EVERYTHING, 'stdio'],
    stderr: 'ignore',
  });
  await client.connect(transport);
  b.stops.push(() => client.close());
  const directPid = transport.pid as number;
  const config = writeUpstreamsFile({
    upstreams: { everything: { command: process.execPath, args: [EVERYTHING, 'stdio'] } },
  });
  const subjects: Record<string, Subject> = {};
  for (const variant of b.variants()) {
    const { waxseal, headers } = await waxsealSession(b, variant, 'g2', { WAXSEAL_CONFIG: config });
    // The stdio server Waxseal started for this connection (after the first call).
    const ours = descendants(waxseal.instance.pid);
    if (ours.length === 0 && process.platform === 'linux') throw new Error('no stdio upstream process found');
    const upstream = { cpuMs: () => ours.reduce((sum, pid) => sum + cpuMs(pid), 0) };
    subjects[variant] = {
      what: variant,
      run: (connections) =>
        shoot(b, {
          url: `${waxseal.instance.url}/mcp`,
          server: waxseal.instance,
          upstream,
          connections,
          method: 'POST',
          headers: { ...MCP_HEADERS, ...headers },
          body: ECHO_CALL,
          expectStatus: 200,
        }),
    };
  }
  // For context: the same stdio server behind the SDK's own HTTP front (bench/servers/stdio-bridge.ts).
  const bridge = await b.script('bench/servers/stdio-bridge.ts');
  const bridgeUrl = `${bridge.url}/mcp`;
  const bridgeHeaders = await initialize(bridgeUrl, {});
  await echoOnce(bridgeUrl, bridgeHeaders);
  const bridgeUpstream = { cpuMs: () => cpuMs(bridge.ready.upstreamPid as number) };
  subjects[BRIDGE] = {
    what: BRIDGE,
    run: (connections) =>
      shoot(b, {
        url: bridgeUrl,
        server: bridge,
        upstream: bridgeUpstream,
        connections,
        method: 'POST',
        headers: { ...MCP_HEADERS, ...bridgeHeaders },
        body: ECHO_CALL,
        expectStatus: 200,
      }),
  };
  const measured = await rounds(
    b,
    { what: 'direct', run: (connections) => directStdio(b, client, directPid, connections) },
    subjects,
  );
  const what = {
    waxseal: 'tools/call echo through Waxseal to server-everything (stdio), SQLite',
    direct: 'the SDK client on that stdio server in its own process (CPU: the server)',
  };
  return [
    ...b.variants().flatMap((variant) => bridgeRows(b, measured, variant)),
    ...b.variants().flatMap((variant) => variantRows('G2', b, what, measured, variant, IN_PROCESS)),
  ];
}

/**
 * G2's target is set against an HTTP front for the same stdio server, the
 * SDK's own: what a team without Waxseal would run to reach a stdio server
 * over the network. The SDK client in the server's own process, the issue's
 * first baseline, has no HTTP at all; at 0.8× of it, 27,000 HTTP requests a
 * second on these two cores, no HTTP server could meet it (a bare node:http
 * hello world costs 24–62 µs a request here, B7). It stays as context.
 */
const IN_PROCESS = 'context for G2: no HTTP at all (the client in the server’s process)';

const BRIDGE = 'sdk-http-bridge';

/** G2: Waxseal (`variant`) against the SDK's HTTP front for the same stdio server, in the same rounds. */
function bridgeRows(b: Bench, measured: { loaded: Pair[]; alone: Pair[] }, variant: string): Row[] {
  const pairs = (list: Pair[]) =>
    list.map((p) => ({ ours: p.waxseal[variant] as Shot, sdk: p.waxseal[BRIDGE] as Shot }));
  const loaded = pairs(measured.loaded);
  const alone = pairs(measured.alone);
  type One = (typeof loaded)[number];
  const m = (list: One[], get: (p: One) => number) => median(list.map(get));
  const shot = (list: One[], side: 'ours' | 'sdk') => ({
    p50: m(list, (p) => p[side].p50),
    p99: m(list, (p) => p[side].p99),
    rps: m(list, (p) => p[side].rps),
    cpuUs: m(list, (p) => p[side].cpuUs),
    upstreamCpuUs: m(list, (p) => p[side].upstreamCpuUs),
  });
  const sdk =
    'the SDK as an HTTP front for that stdio server (per-request Server forwarding to one stdio Client, no auth)';
  const n = loadedConnections(b);
  const label = variant === CURRENT ? '' : ` (${variant})`;
  const ratio = m(loaded, (p) => p.ours.rps / p.sdk.rps);
  const added = m(alone, (p) => p.ours.p50 - p.sdk.p50);
  return [
    {
      id: 'G2',
      what: `tools/call echo through Waxseal to server-everything (stdio), SQLite, ${n} connections${label}`,
      ...shot(loaded, 'ours'),
      baseline: { what: `${sdk}, ${n} connections`, ...shot(loaded, 'sdk') },
      ratio: `${ratio.toFixed(3)}× req/s`,
      target: '≥ 0.8× req/s',
      met: ratio >= 0.8,
    },
    {
      id: 'G2',
      what: `the same, 1 connection${label}`,
      ...shot(alone, 'ours'),
      baseline: { what: `${sdk}, 1 connection`, ...shot(alone, 'sdk') },
      ratio: `p50 ${added >= 0 ? '+' : '−'}${Math.abs(added).toFixed(2)} ms`,
      target: 'context for G2',
      met: null,
    },
  ];
}
