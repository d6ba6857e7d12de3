/**
 * Soak (issue #6): a steady, bounded mixed load against one `waxseal serve`
 * process on loopback — whoami calls from official SDK clients, and raw HTTP
 * refresh grants, admin list calls and requests with rejected tokens — for
 * 10 minutes by default. Reports per 10-second window the requests, errors,
 * p50/p99 latency and the server's RSS, then the error rate and a linear fit of
 * RSS over time (MB per minute) to show whether memory grows.
 *
 *   node --import tsx bench/soak.ts [--seconds 600] [--rate 40] [--database sqlite|postgres]
 *
 * Exits 1 if any request failed. The load comes from one IP, so the per-IP
 * /token limit is lifted for the run (the limits have their own tests).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { parseArgs } from 'node:util';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import {
  authorizeInBrowser,
  Browser,
  connectSdkClient,
  PASSWORD,
  pkce,
  TestOAuthProvider,
  whoami,
} from '../test/helpers/flow.js';
import { createTestDatabase, freePort, SECRET, type TestServer } from '../test/helpers/server.js';
import { percentile, printTable } from './report.js';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '600' },
    rate: { type: 'string', default: '40' },
    database: { type: 'string', default: 'sqlite' },
  },
});
const SECONDS = Number(values.seconds);
const RATE = Number(values.rate);
const WINDOW_MS = 10_000;
const MAX_IN_FLIGHT = 32;
if (!(SECONDS > 0) || !(RATE > 0)) throw new Error('--seconds and --rate must be positive numbers');
const kind = values.database === 'postgres' ? 'postgres' : 'sqlite';

const ROOT = new URL('..', import.meta.url).pathname;
const db = await createTestDatabase(kind);
const port = await freePort();
const base = `http://127.0.0.1:${port}`;
const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'serve'], {
  cwd: ROOT,
  env: {
    PATH: process.env.PATH ?? '',
    PORT: String(port),
    HOST: '127.0.0.1',
    PUBLIC_URL: base,
    DATABASE_URL: db.url,
    WAXSEAL_SECRET: SECRET,
    WAXSEAL_ADMIN_EMAIL: 'soak@example.com',
    WAXSEAL_ADMIN_PASSWORD: PASSWORD,
    TOKEN_LIMIT_PER_MINUTE: '1000000',
    LOG_LEVEL: 'warn',
  },
  stdio: ['ignore', 'inherit', 'inherit'],
});
const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));

async function waitUntilUp(): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`the server exited with ${child.exitCode}`);
    try {
      if ((await fetch(`${base}/healthz`)).ok) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error('the server did not start');
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The server's own resident memory, from its Prometheus metrics (SPEC §8). */
async function serverRssMb(): Promise<number> {
  const text = await (await fetch(`${base}/metrics`)).text();
  const m = /^process_resident_memory_bytes (\d+(?:\.\d+)?(?:e\+\d+)?)/m.exec(text);
  return m ? Number(m[1]) / 1024 / 1024 : Number.NaN;
}

interface RawConnection {
  clientId: string;
  refresh: string;
  busy: boolean;
}

async function rawConnection(admin: Browser, clientId: string): Promise<RawConnection> {
  const redirect = 'http://127.0.0.1:8976/callback';
  const { verifier, challenge } = pkce();
  const url = new URL('/authorize', base);
  for (const [k, v] of Object.entries({
    response_type: 'code',
    client_id: clientId,
    redirect_uri: redirect,
    code_challenge: challenge,
    code_challenge_method: 'S256',
  }))
    url.searchParams.set(k, v);
  const back = await authorizeInBrowser(admin, url.href, { email: 'soak@example.com', password: PASSWORD });
  const res = await fetch(`${base}/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'authorization_code',
      code: back.searchParams.get('code') as string,
      code_verifier: verifier,
      client_id: clientId,
      redirect_uri: redirect,
    }),
  });
  if (res.status !== 200) throw new Error(`code exchange answered ${res.status}`);
  return { clientId, refresh: ((await res.json()) as { refresh_token: string }).refresh_token, busy: false };
}

interface Window {
  requests: number;
  errors: number;
  latencies: number[];
  byKind: Map<string, number>;
  rssMb: number;
}

let exitCode = 0;
try {
  await waitUntilUp();
  const admin = new Browser(base);
  if ((await admin.signIn('soak@example.com', PASSWORD)).status !== 303) throw new Error('sign-in failed');
  const server = { base } as TestServer;
  const sdk: { client: Client; busy: boolean }[] = [];
  for (let i = 0; i < 4; i++) {
    const provider = new TestOAuthProvider(
      server,
      { email: 'soak@example.com', password: PASSWORD },
      `Soak SDK ${i}`,
    );
    sdk.push({ client: await connectSdkClient(server, provider), busy: false });
  }
  const reg = (await (
    await fetch(`${base}/register`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        redirect_uris: ['http://127.0.0.1:8976/callback'],
        token_endpoint_auth_method: 'none',
        client_name: 'Soak raw',
      }),
    })
  ).json()) as { client_id: string };
  const raw: RawConnection[] = [];
  for (let i = 0; i < 4; i++) raw.push(await rawConnection(admin, reg.client_id));

  /**
   * One operation of the mix; resolves to true when the answer is the expected
   * one, null when it sent nothing (every client of that kind was busy).
   */
  const operations: [string, number, () => Promise<boolean | null>][] = [
    [
      'sdk whoami',
      0.5,
      async () => {
        const s = sdk.find((x) => !x.busy);
        if (!s) return null;
        s.busy = true;
        try {
          return typeof (await whoami(s.client)).connectionId === 'string';
        } finally {
          s.busy = false;
        }
      },
    ],
    [
      'refresh grant',
      0.15,
      async () => {
        const c = raw.find((x) => !x.busy);
        if (!c) return null;
        c.busy = true;
        try {
          const res = await fetch(`${base}/token`, {
            method: 'POST',
            headers: { 'content-type': 'application/x-www-form-urlencoded' },
            body: new URLSearchParams({
              grant_type: 'refresh_token',
              refresh_token: c.refresh,
              client_id: c.clientId,
            }),
          });
          if (res.status !== 200) return false;
          c.refresh = ((await res.json()) as { refresh_token: string }).refresh_token;
          return true;
        } finally {
          c.busy = false;
        }
      },
    ],
    [
      'list API',
      0.2,
      async () => {
        const res = await admin.fetch('/api/mcp-connections?limit=25');
        const body = (await res.json()) as { total?: number };
        return res.status === 200 && typeof body.total === 'number';
      },
    ],
    [
      'rejected token',
      0.15,
      async () => {
        const res = await fetch(`${base}/mcp`, {
          method: 'POST',
          headers: {
            authorization: `Bearer wax_at_${Math.random().toString(36).slice(2)}`,
            'content-type': 'application/json',
            accept: 'application/json, text/event-stream',
          },
          body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }),
        });
        await res.arrayBuffer();
        return res.status === 401 && (res.headers.get('www-authenticate') ?? '').includes('invalid_token');
      },
    ],
  ];
  const pick = () => {
    let r = Math.random();
    for (const op of operations) {
      r -= op[1];
      if (r <= 0) return op;
    }
    return operations[0] as (typeof operations)[number];
  };

  const windows: Window[] = [];
  const newWindow = (): Window => ({
    requests: 0,
    errors: 0,
    latencies: [],
    byKind: new Map(),
    rssMb: Number.NaN,
  });
  let current = newWindow();
  let inFlight = 0;
  let skipped = 0;
  const firstErrors: string[] = [];
  const started = Date.now();
  const end = started + SECONDS * 1000;
  const pending = new Set<Promise<void>>();
  console.log(
    `soak: ${SECONDS} s at ${RATE} requests/s against ${base} (${kind}), windows of ${WINDOW_MS / 1000} s`,
  );
  let next = started;
  let windowEnd = started + WINDOW_MS;
  while (Date.now() < end) {
    const now = Date.now();
    if (now >= windowEnd) {
      current.rssMb = await serverRssMb();
      windows.push(current);
      current = newWindow();
      windowEnd += WINDOW_MS;
    }
    if (now < next) {
      await new Promise((r) => setTimeout(r, Math.min(next - now, windowEnd - now)));
      continue;
    }
    next += 1000 / RATE;
    if (inFlight >= MAX_IN_FLIGHT) {
      skipped++;
      continue;
    }
    const [name, , run] = pick();
    const w = current;
    inFlight++;
    const t0 = performance.now();
    const p = run()
      .then(
        (ok) => ok,
        (err: unknown) => {
          if (firstErrors.length < 5) firstErrors.push(`${name}: ${(err as Error)?.message ?? err}`);
          return false;
        },
      )
      .then((ok) => {
        inFlight--;
        if (ok === null) {
          skipped++;
          return;
        }
        w.requests++;
        w.latencies.push(performance.now() - t0);
        w.byKind.set(name, (w.byKind.get(name) ?? 0) + 1);
        if (!ok) {
          w.errors++;
          if (firstErrors.length < 5) firstErrors.push(`${name}: unexpected answer`);
        }
      });
    pending.add(p);
    void p.finally(() => pending.delete(p));
  }
  await Promise.all(pending);
  if (current.requests > 0) {
    current.rssMb = await serverRssMb();
    windows.push(current);
  }
  for (const s of sdk) await s.client.close();

  const rows = windows.map((w, i) => {
    const sorted = [...w.latencies].sort((a, b) => a - b);
    return [
      `${(i * WINDOW_MS) / 1000}-${((i + 1) * WINDOW_MS) / 1000}`,
      String(w.requests),
      String(w.errors),
      percentile(sorted, 50).toFixed(1),
      percentile(sorted, 99).toFixed(1),
      w.rssMb.toFixed(1),
    ];
  });
  printTable(
    `Soak: ${SECONDS} s at ${RATE}/s (${kind})`,
    ['window (s)', 'requests', 'errors', 'p50 ms', 'p99 ms', 'server RSS MB'],
    rows,
  );
  const total = windows.reduce((n, w) => n + w.requests, 0);
  const errors = windows.reduce((n, w) => n + w.errors, 0);
  const mix = new Map<string, number>();
  for (const w of windows) for (const [k, v] of w.byKind) mix.set(k, (mix.get(k) ?? 0) + v);
  // Least-squares slope of RSS against time, skipping the first window (warm-up).
  const points = windows.slice(1).map((w, i) => [((i + 1.5) * WINDOW_MS) / 60_000, w.rssMb] as const);
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / (xs.length || 1);
  const mx = mean(points.map((p) => p[0]));
  const my = mean(points.map((p) => p[1]));
  const sxx = points.reduce((a, [x]) => a + (x - mx) ** 2, 0);
  const slope = sxx ? points.reduce((a, [x, y]) => a + (x - mx) * (y - my), 0) / sxx : 0;
  const all = windows.flatMap((w) => w.latencies).sort((a, b) => a - b);
  console.log(
    `\nrequests: ${total} (${[...mix].map(([k, v]) => `${k} ${v}`).join(', ')}); not sent (in-flight cap or every client busy): ${skipped}`,
  );
  console.log(`errors: ${errors} (error rate ${total ? ((100 * errors) / total).toFixed(3) : '0'}%)`);
  console.log(
    `latency overall: p50 ${percentile(all, 50).toFixed(1)} ms, p99 ${percentile(all, 99).toFixed(1)} ms`,
  );
  console.log(
    `server RSS: first ${windows[0]?.rssMb.toFixed(1)} MB, last ${windows.at(-1)?.rssMb.toFixed(1)} MB, ` +
      `linear fit ${slope >= 0 ? '+' : ''}${slope.toFixed(2)} MB/min over ${points.length} windows`,
  );
  if (firstErrors.length) console.log(`first errors:\n  ${firstErrors.join('\n  ')}`);
  if (errors > 0) exitCode = 1;
} catch (err) {
  console.error(`soak: ${(err as Error).stack ?? err}`);
  exitCode = 1;
} finally {
  child.kill('SIGTERM');
  await exited;
  await db.drop();
}
process.exit(exitCode);
