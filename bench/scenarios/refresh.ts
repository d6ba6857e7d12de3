/**
 * B3: POST /token grant_type=refresh_token, every request presenting the
 * refresh token its own chain received last, so each one is a real rotation.
 * Waxseal on SQLite and on PostgreSQL against oidc-provider (memory adapter).
 */
import type { Request } from 'autocannon';
import { postgresSkip } from '../../test/helpers/server.js';
import { type Child, startScript } from '../children.js';
import { type Bench, CURRENT, median, type Row } from '../context.js';
import { fire, type Shot } from '../load.js';
import type { Grant } from '../waxseal.js';

/** One OAuth grant's refresh-token chain: the newest token this client holds. */
interface Chain {
  token: string;
}

/** More chains than connections, so no two connections ever share one (that would be token theft). */
const SPARE_CHAINS = 14;

/**
 * The refresh request with autocannon's per-connection context. autocannon
 * clears a connection's context when it loops back to its first request, so a
 * response hands its chain to the very next setupRequest, which autocannon
 * calls synchronously for that same connection; a connection's first request
 * (built when the connection is created, before any response) takes a fresh chain.
 */
function refreshRequests(chains: Chain[], clientId: string, refused: string[]): Request[] {
  let handoff: Chain | null = null;
  let next = 0;
  return [
    {
      method: 'POST',
      path: '/token',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      setupRequest: (req, context) => {
        // Out of chains (a connection was re-opened after a timeout): an unknown
        // token, whose 400 fails the run instead of sharing a live chain.
        const chain = handoff ?? chains[next++] ?? { token: 'no-chain-left' };
        handoff = null;
        context.chain = chain;
        const body = new URLSearchParams({
          grant_type: 'refresh_token',
          refresh_token: chain.token,
          client_id: clientId,
        }).toString();
        return { ...req, body };
      },
      onResponse: (status, body, context) => {
        const chain = context.chain as Chain;
        if (status === 200) chain.token = (JSON.parse(body) as { refresh_token: string }).refresh_token;
        else if (refused.length < 3) refused.push(`${status} ${body.slice(0, 200)}`);
        handoff = chain;
      },
    },
  ];
}

/**
 * Runs a fixed number of refreshes: with a duration, autocannon would drop the
 * responses in flight at the end, and a chain whose newest token was lost is
 * dead (oidc-provider revokes the grant when the consumed token comes back).
 * A short run estimates the rate; the measured run is sized to last `seconds`.
 */
async function measureChains(b: Bench, server: Child, clientId: string, chains: Chain[]): Promise<Shot> {
  const n = b.settings.connections;
  const refused: string[] = [];
  const run = (amount: number) =>
    fire({
      url: server.url,
      server,
      connections: n,
      amount,
      requests: refreshRequests(chains, clientId, refused),
      expectStatus: 200,
    }).catch((err: Error) => {
      throw new Error(`${err.message}; first refusals: ${refused.join(' | ')}`);
    });
  // The first warm-up run is short and also measures the rate the others are sized by.
  const probe = await run(n * 4);
  if (!b.settings.quick) await run(Math.max(n * 4, Math.round(probe.rps * b.settings.warmup)));
  return run(Math.max(n * 4, Math.round(probe.rps * b.settings.seconds)));
}

interface Subject {
  label: string;
  /** A fresh set of chains on a running server. */
  prepare(): Promise<{ server: Child; clientId: string; chains: Chain[]; done(): Promise<void> }>;
}

/** Waxseal keeps its connections across rounds; each chain carries on from its newest token. */
function waxsealSubject(b: Bench, kind: 'sqlite' | 'postgres', variant: string): Subject {
  let made: { clientId: string; chains: Chain[] } | null = null;
  return {
    label: `Waxseal, ${kind === 'sqlite' ? 'SQLite' : 'PostgreSQL'}${variant === CURRENT ? '' : ` (${variant})`}`,
    prepare: async () => {
      const waxseal = await b.waxseal(kind, variant);
      if (!made) {
        const grants = await waxseal.connect(b.settings.connections + SPARE_CHAINS);
        made = {
          clientId: (grants[0] as Grant).clientId,
          chains: grants.map((g) => ({ token: g.refreshToken })),
        };
      }
      return { server: waxseal.instance, ...made, done: async () => undefined };
    },
  };
}

/** A fresh oidc-provider per round: its memory adapter's per-grant bookkeeping grows with every rotation. */
function oidcSubject(b: Bench): Subject {
  return {
    label: 'oidc-provider 9, memory adapter',
    prepare: async () => {
      const oidc: Child = await startScript('bench/servers/oidc.ts', {
        env: { CHAINS: String(b.settings.connections + SPARE_CHAINS) },
        nodeArgs: b.nodeArgs('oidc-provider'),
      });
      const tokens = oidc.ready.tokens as string[];
      return {
        server: oidc,
        clientId: oidc.ready.clientId as string,
        chains: tokens.map((token) => ({ token })),
        done: () => oidc.stop(),
      };
    },
  };
}

export async function b3(b: Bench): Promise<Row[]> {
  const pgSkip = await postgresSkip();
  const kinds: ('sqlite' | 'postgres')[] = pgSkip ? ['sqlite'] : ['sqlite', 'postgres'];
  const subjects = kinds.flatMap((kind) => b.variants().map((variant) => waxsealSubject(b, kind, variant)));
  const baseline = oidcSubject(b);
  const shots = new Map<string, Shot[]>();
  const record = (label: string, shot: Shot) => shots.set(label, [...(shots.get(label) ?? []), shot]);
  for (let r = 0; r < b.settings.rounds; r++) {
    for (const subject of r % 2 ? [...subjects, baseline] : [baseline, ...subjects]) {
      const target = await subject.prepare();
      try {
        record(subject.label, await measureChains(b, target.server, target.clientId, target.chains));
      } catch (err) {
        throw new Error(`${subject.label}: ${(err as Error).message}`);
      } finally {
        await target.done();
      }
    }
  }
  const base = shots.get(baseline.label) as Shot[];
  const rows: Row[] = subjects.map((subject) => {
    const mine = shots.get(subject.label) as Shot[];
    const ratio = median(mine.map((s, i) => s.rps / (base[i] as Shot).rps));
    return {
      id: 'B3',
      what: `refresh grant, rotated token every request, ${b.settings.connections} connections, ${subject.label}`,
      p50: median(mine.map((s) => s.p50)),
      p99: median(mine.map((s) => s.p99)),
      rps: median(mine.map((s) => s.rps)),
      cpuUs: median(mine.map((s) => s.cpuUs)),
      baseline: {
        what: baseline.label,
        p50: median(base.map((s) => s.p50)),
        p99: median(base.map((s) => s.p99)),
        rps: median(base.map((s) => s.rps)),
        cpuUs: median(base.map((s) => s.cpuUs)),
      },
      ratio: `${ratio.toFixed(2)}× req/s`,
      target: '≥ 1.0× oidc-provider',
      met: ratio >= 1,
    };
  });
  if (pgSkip) {
    rows.push({
      id: 'B3',
      what: 'refresh grant, PostgreSQL',
      target: '≥ 1.0× oidc-provider',
      met: null,
      note: pgSkip,
    });
  }
  return rows;
}
