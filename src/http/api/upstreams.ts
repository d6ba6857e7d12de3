import { Router } from 'express';
import { PERMISSIONS } from '../../domain/permissions.js';
import type { Services } from '../../services/context.js';
import type { UpstreamReport } from '../../upstreams/health.js';
import type { UpstreamsReport } from '../health.js';
import { allowed, authenticated } from './guards.js';

/** One upstream as the dashboard shows it. */
export interface UpstreamView {
  name: string;
  transport: UpstreamReport['transport'];
  /** degraded: answering now, but the last real request through it failed. */
  status: 'up' | 'down' | 'degraded' | 'unknown';
  latencyMs?: number;
  error?: string;
  lastOkAt?: string;
  lastErrorAt?: string;
}

export function upstreamView(name: string, u: UpstreamReport): UpstreamView {
  const failedLast = u.lastErrorAt !== undefined && (u.lastOkAt === undefined || u.lastErrorAt > u.lastOkAt);
  const status = u.status === 'up' && failedLast ? 'degraded' : u.status;
  return {
    name,
    transport: u.transport,
    status,
    ...(u.latencyMs === undefined ? {} : { latencyMs: u.latencyMs }),
    ...(u.error === undefined ? {} : { error: u.error }),
    ...(u.lastOkAt === undefined ? {} : { lastOkAt: u.lastOkAt }),
    ...(u.lastErrorAt === undefined ? {} : { lastErrorAt: u.lastErrorAt }),
  };
}

/**
 * GET /api/upstreams: each configured upstream and its state, from the same
 * report /readyz gives; an empty list when no upstreams are configured.
 */
export function upstreamsRouter(s: Services, report?: UpstreamsReport): Router {
  const router = Router();
  router.get(
    '/api/upstreams',
    authenticated(s),
    allowed(PERMISSIONS.MCP_CONNECTIONS_READ),
    async (_req, res) => {
      const pending = report?.() ?? null;
      const byName = pending ? await pending : {};
      res.json({ items: Object.entries(byName).map(([name, u]) => upstreamView(name, u)) });
    },
  );
  return router;
}
