import { Router } from 'express';
import { sql } from 'kysely';
import client from 'prom-client';
import { outboxStats } from '../services/audit-outbox.js';
import type { Services } from '../services/context.js';
import type { UpstreamReport } from '../upstreams/health.js';

/** Each upstream's state (issue #7), or null when there are none. */
export type UpstreamsReport = () => Promise<Record<string, UpstreamReport>> | null;

/**
 * SPEC §8: /healthz (process up), /readyz (database reachable), /metrics (Prometheus).
 * With upstreams, /readyz also reports each one; an upstream down makes it
 * `degraded`, still 200: Waxseal itself is serving (issue #7).
 */
export function healthRouter(s: Services, registry: client.Registry, upstreams?: UpstreamsReport): Router {
  const router = Router();
  router.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  router.get('/readyz', async (_req, res) => {
    const started = Date.now();
    const report = upstreams?.() ?? null;
    try {
      await Promise.race([
        sql`select 1`.execute(s.store.db),
        new Promise((_, reject) => setTimeout(() => reject(new Error('timeout')), 2000).unref()),
      ]);
      const database = { status: 'up', latencyMs: Date.now() - started };
      if (!report) return void res.json({ status: 'ready', database });
      const byName = await report;
      const degraded = Object.values(byName).some((u) => u.status === 'down');
      res.json({ status: degraded ? 'degraded' : 'ready', database, upstreams: byName });
    } catch {
      res.status(503).json({
        status: 'unavailable',
        database: { status: 'down' },
        ...(report ? { upstreams: await report } : {}),
      });
    }
  });
  router.get('/metrics', async (_req, res) => {
    res.type(registry.contentType).send(await registry.metrics());
  });
  return router;
}

export function createMetrics(s: Services): {
  registry: client.Registry;
  requests: client.Histogram<'route' | 'method' | 'status'>;
} {
  const registry = new client.Registry();
  client.collectDefaultMetrics({ register: registry });
  auditOutboxMetrics(s, registry);
  const requests = new client.Histogram({
    name: 'waxseal_http_request_duration_seconds',
    help: 'HTTP request duration by route, method and status',
    labelNames: ['route', 'method', 'status'] as const,
    buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5],
    registers: [registry],
  });
  return { registry, requests };
}

/**
 * SPEC §13: the audit outbox's depth and the age of its oldest event, read at
 * scrape time with one query shared by both gauges. A database that does not
 * answer leaves the last values in place rather than failing the scrape.
 */
function auditOutboxMetrics(s: Services, registry: client.Registry): void {
  let scrape: { at: number; stats: ReturnType<typeof outboxStats> } | null = null;
  const stats = () => {
    if (!scrape || Date.now() - scrape.at > 100) scrape = { at: Date.now(), stats: outboxStats(s.store.db) };
    return scrape.stats.catch(() => null);
  };
  new client.Gauge({
    name: 'waxseal_audit_outbox_depth',
    help: 'Audit events written but not yet delivered to AUDIT_WEBHOOK_URL',
    registers: [registry],
    async collect() {
      const st = await stats();
      if (st) this.set(st.depth);
    },
  });
  new client.Gauge({
    name: 'waxseal_audit_outbox_oldest_age_seconds',
    help: 'Age of the oldest audit event not yet delivered to AUDIT_WEBHOOK_URL (0 when none)',
    registers: [registry],
    async collect() {
      const st = await stats();
      if (st) this.set(st.oldestAt === null ? 0 : Math.max(0, (s.clock.now() - st.oldestAt) / 1000));
    },
  });
}
