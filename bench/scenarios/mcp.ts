/**
 * B1 (authenticated MCP call), B2 (rejected call) and B7 (the raw ceiling):
 * closed-loop load on /mcp, each against the baseline measured in the same round.
 */
import { newToken, TOKEN_PREFIX } from '../../src/domain/secrets.js';
import type { Child } from '../children.js';
import { type Bench, CURRENT, median, type Row } from '../context.js';
import { fire, type LoadSpec, type Shot } from '../load.js';
import type { Deployment } from '../waxseal.js';

export const WHOAMI_CALL = JSON.stringify({
  jsonrpc: '2.0',
  id: 1,
  method: 'tools/call',
  params: { name: 'whoami', arguments: {} },
});
export const MCP_HEADERS = {
  'content-type': 'application/json',
  accept: 'application/json, text/event-stream',
};
const BASELINE = 'MCP SDK, same tool, no auth';

/** A warm-up, then the measured run, on the same connections (load.ts). */
async function shoot(b: Bench, spec: Omit<LoadSpec, 'seconds'>): Promise<Shot> {
  return fire({ ...spec, warmup: b.settings.warmup, seconds: b.settings.seconds });
}

function mcpLoad(server: Child, connections: number, bearer: string | null, expectStatus: number) {
  const headers = bearer ? { ...MCP_HEADERS, authorization: `Bearer ${bearer}` } : MCP_HEADERS;
  return {
    url: server.url,
    server,
    path: '/mcp',
    connections,
    method: 'POST',
    headers,
    body: WHOAMI_CALL,
    expectStatus,
  };
}

/** One whoami call outside the load, so a benchmark never measures a broken answer. */
async function whoami(url: string, bearer: string | null): Promise<{ connectionId: string }> {
  const res = await fetch(`${url}/mcp`, {
    method: 'POST',
    headers: bearer ? { ...MCP_HEADERS, authorization: `Bearer ${bearer}` } : MCP_HEADERS,
    body: WHOAMI_CALL,
  });
  const body = (await res.json()) as { result?: { structuredContent?: { connectionId: string } } };
  const me = body.result?.structuredContent;
  if (res.status !== 200 || !me) throw new Error(`whoami answered ${res.status}: ${JSON.stringify(body)}`);
  return me;
}

/** One round of B1: each subject's shots, loaded (N connections) and alone (1). */
export interface B1Round {
  baseline: Shot;
  baselineAlone: Shot;
  /** Waxseal by variant: this checkout, and the --compare one. */
  waxseal: Record<string, { loaded: Shot; alone: Shot }>;
}

/** B1's rounds, measured once per run (B2 and B7 compare with them). */
export function b1Rounds(b: Bench): Promise<B1Round[]> {
  return b.once('B1', async () => {
    const baseline = await b.script('bench/servers/mcp-baseline.ts');
    await whoami(baseline.url, null);
    const subjects: { variant: string; server: Child; token: string }[] = [];
    for (const variant of b.variants()) {
      const waxseal = await b.waxseal('sqlite', variant);
      const [grant] = await waxseal.connect(1);
      const token = grant?.accessToken as string;
      await whoami(waxseal.instance.url, token);
      subjects.push({ variant, server: waxseal.instance, token });
    }
    const n = b.settings.connections;
    const rounds: B1Round[] = [];
    for (let r = 0; r < b.settings.rounds; r++) {
      const round: B1Round = { waxseal: {} } as B1Round;
      for (const connections of [n, 1]) {
        // Alternate who goes first, so a drift in the machine hurts no side.
        const runs = [
          async () => {
            const shot = await shoot(b, mcpLoad(baseline, connections, null, 200));
            if (connections === 1) round.baselineAlone = shot;
            else round.baseline = shot;
          },
          ...subjects.map((x) => async () => {
            const shot = await shoot(b, mcpLoad(x.server, connections, x.token, 200));
            round.waxseal[x.variant] ??= { loaded: shot, alone: shot };
            const mine = ws(round, x.variant);
            if (connections === 1) mine.alone = shot;
            else mine.loaded = shot;
          }),
        ];
        for (const run of r % 2 ? runs.reverse() : runs) await run();
      }
      rounds.push(round);
    }
    return rounds;
  });
}

const med = (rounds: B1Round[], pick: (r: B1Round) => number) => median(rounds.map(pick));

/** The loaded and the alone shot of Waxseal (`variant`) in a round. */
const ws = (r: B1Round, variant = CURRENT) => r.waxseal[variant] as { loaded: Shot; alone: Shot };

function b1Rows(b: Bench, rounds: B1Round[], variant: string): Row[] {
  const ratio = med(rounds, (r) => ws(r, variant).loaded.rps / r.baseline.rps);
  const addedP99 = med(rounds, (r) => ws(r, variant).loaded.p99 - r.baseline.p99);
  const label = variant === CURRENT ? '' : ` (${variant})`;
  return [
    {
      id: 'B1',
      what: `authenticated tools/call whoami, ${b.settings.connections} connections, SQLite${label}`,
      p50: med(rounds, (r) => ws(r, variant).loaded.p50),
      p99: med(rounds, (r) => ws(r, variant).loaded.p99),
      rps: med(rounds, (r) => ws(r, variant).loaded.rps),
      cpuUs: med(rounds, (r) => ws(r, variant).loaded.cpuUs),
      baseline: {
        what: BASELINE,
        p50: med(rounds, (r) => r.baseline.p50),
        p99: med(rounds, (r) => r.baseline.p99),
        rps: med(rounds, (r) => r.baseline.rps),
        cpuUs: med(rounds, (r) => r.baseline.cpuUs),
      },
      ratio: `${ratio.toFixed(3)}× req/s; p99 ${signed(addedP99)} ms`,
      // Issue 13: the SDK's per-request-server pattern is the baseline to beat.
      target: '≥ 4× req/s; ≤ 350 µs CPU/call',
      met: ratio >= 4 && med(rounds, (r) => ws(r, variant).loaded.cpuUs) <= 350,
    },
    {
      id: 'B1',
      what: `the same, 1 connection (no queueing: the added cost itself)${label}`,
      p50: med(rounds, (r) => ws(r, variant).alone.p50),
      p99: med(rounds, (r) => ws(r, variant).alone.p99),
      rps: med(rounds, (r) => ws(r, variant).alone.rps),
      cpuUs: med(rounds, (r) => ws(r, variant).alone.cpuUs),
      baseline: {
        what: `${BASELINE}, 1 connection`,
        p50: med(rounds, (r) => r.baselineAlone.p50),
        p99: med(rounds, (r) => r.baselineAlone.p99),
        rps: med(rounds, (r) => r.baselineAlone.rps),
        cpuUs: med(rounds, (r) => r.baselineAlone.cpuUs),
      },
      ratio: `p50 ${signed(med(rounds, (r) => ws(r, variant).alone.p50 - r.baselineAlone.p50))} ms; p99 ${signed(med(rounds, (r) => ws(r, variant).alone.p99 - r.baselineAlone.p99))} ms`,
      target: 'context for B1',
      met: null,
    },
  ];
}

export async function b1(b: Bench): Promise<Row[]> {
  const rounds = await b1Rounds(b);
  return Object.keys(rounds[0]?.waxseal ?? {}).flatMap((variant) => b1Rows(b, rounds, variant));
}

/** A connection revoked through the admin API, as an administrator does it. */
async function revokedToken(waxseal: Deployment): Promise<string> {
  const [grant] = await waxseal.connect(1);
  const token = grant?.accessToken as string;
  const { connectionId } = await whoami(waxseal.instance.url, token);
  const res = await waxseal.browser.fetch(`/api/mcp-connections/${connectionId}/revoke`, {
    method: 'POST',
    headers: { origin: waxseal.instance.url, 'content-type': 'application/json' },
  });
  if (res.status !== 200) throw new Error(`revoke answered ${res.status}: ${await res.text()}`);
  return token;
}

export async function b2(b: Bench): Promise<Row[]> {
  const base = await b1Rounds(b);
  const waxseal = await b.waxseal('sqlite');
  const kinds = [
    { what: 'rejected call: unknown token', token: newToken(TOKEN_PREFIX.access) },
    { what: "rejected call: revoked connection's token", token: await revokedToken(waxseal) },
  ];
  const rows: Row[] = [];
  const b1Rps = median(base.map((r) => ws(r).loaded.rps));
  for (const kind of kinds) {
    const shots: Shot[] = [];
    for (let r = 0; r < b.settings.rounds; r++) {
      shots.push(await shoot(b, mcpLoad(waxseal.instance, b.settings.connections, kind.token, 401)));
    }
    const rps = median(shots.map((s) => s.rps));
    rows.push({
      id: 'B2',
      what: `${kind.what}, ${b.settings.connections} connections`,
      p50: median(shots.map((s) => s.p50)),
      p99: median(shots.map((s) => s.p99)),
      rps,
      cpuUs: median(shots.map((s) => s.cpuUs)),
      baseline: {
        what: `B1's baseline (${BASELINE})`,
        p50: median(base.map((r) => r.baseline.p50)),
        p99: median(base.map((r) => r.baseline.p99)),
        rps: median(base.map((r) => r.baseline.rps)),
        cpuUs: median(base.map((r) => r.baseline.cpuUs)),
      },
      ratio: `${median(shots.map((s, i) => s.rps / (base[i] ?? (base[0] as B1Round)).baseline.rps)).toFixed(2)}× req/s`,
      target: `≥ B1 (${b1Rps.toFixed(0)} req/s)`,
      met: rps >= b1Rps,
    });
  }
  return rows;
}

export async function b7(b: Bench): Promise<Row[]> {
  const hello = await b.script('bench/servers/hello.ts');
  const shots: Shot[] = [];
  for (let r = 0; r < b.settings.rounds; r++) {
    shots.push(
      await shoot(b, {
        url: hello.url,
        server: hello,
        path: '/',
        connections: b.settings.connections,
        expectStatus: 200,
      }),
    );
  }
  const b1 = await b1Rounds(b);
  const rps = median(shots.map((s) => s.rps));
  const b1Rps = median(b1.map((r) => ws(r).loaded.rps));
  return [
    {
      id: 'B7',
      what: `bare node:http hello world, ${b.settings.connections} connections (raw ceiling)`,
      p50: median(shots.map((s) => s.p50)),
      p99: median(shots.map((s) => s.p99)),
      rps,
      cpuUs: median(shots.map((s) => s.cpuUs)),
      ratio: `B1 = ${(b1Rps / rps).toFixed(3)}× of it`,
      target: 'report B1 as a ratio',
      met: null,
    },
  ];
}

function signed(n: number): string {
  return `${n >= 0 ? '+' : '−'}${Math.abs(n).toFixed(2)}`;
}
