import { Router } from 'express';
import type { Services } from '../../services/context.js';
import { authenticated } from './guards.js';

/** What the dashboard needs to know about this server: the MCP URL clients connect to (SPEC §6 help). */
export function configRouter(s: Services): Router {
  const router = Router();
  router.get('/api/config', authenticated(s), (_req, res) => {
    res.json({ publicUrl: s.config.publicUrl, mcpUrl: s.config.mcpUrl });
  });
  return router;
}
