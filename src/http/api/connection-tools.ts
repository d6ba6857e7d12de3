import express, { type Request, Router } from 'express';
import { z } from 'zod';
import { NotFound } from '../../domain/errors.js';
import { PERMISSIONS } from '../../domain/permissions.js';
import { MAX_ALLOWED_TOOLS, MAX_TOOL_NAME } from '../../domain/tool-allow.js';
import { setConnectionTools, toolAllowOf } from '../../services/connection-tools.js';
import type { Services } from '../../services/context.js';
import type { ToolCatalog } from '../mcp/tool-catalog.js';
import { type ApiRequest, allowed, authenticated, parse, sameOrigin, signedInUser } from './guards.js';

const ID = /^[A-Za-z0-9_-]{1,64}$/;

const toolName = z
  .string({ error: 'must be a list of tool names' })
  .min(1, 'must not be empty')
  .max(MAX_TOOL_NAME, `must be at most ${MAX_TOOL_NAME} characters`)
  // biome-ignore lint/suspicious/noControlCharactersInRegex: refusing control characters is the point
  .regex(/^[^\u0000-\u001f\u007f]+$/, 'must not contain control characters');

const allowBody = z.object(
  {
    allow: z
      .array(toolName, {
        error: (issue) =>
          issue.input === undefined ? 'is required' : 'must be a list of tool names or null',
      })
      .max(MAX_ALLOWED_TOOLS, `must name at most ${MAX_ALLOWED_TOOLS} tools`)
      .nullable(),
  },
  { error: 'must be a JSON object sent with Content-Type: application/json' },
);

/**
 * SPEC §12 tools per connection: `GET /api/mcp-connections/{id}/tools` →
 * `{ allow, available }` (available: what the connection's role may use), and
 * `PUT` with `{ allow: [...] | null }` (api-keys:revoke, same origin).
 */
export function connectionToolsRouter(s: Services, catalog: ToolCatalog): Router {
  const router = Router();
  const connectionId = (req: Request): string => {
    const id = String(req.params.id);
    if (!ID.test(id)) throw new NotFound(`No connection with id ${id.slice(0, 64)}`);
    return id;
  };

  router.get(
    '/api/mcp-connections/:id/tools',
    authenticated(s),
    allowed(PERMISSIONS.MCP_CONNECTIONS_READ),
    async (req: ApiRequest, res) => {
      const id = connectionId(req);
      const allow = await toolAllowOf(s, id);
      res.json({ allow, available: await catalog(id) });
    },
  );

  router.put(
    '/api/mcp-connections/:id/tools',
    sameOrigin(s),
    authenticated(s),
    allowed(PERMISSIONS.MCP_CONNECTIONS_REVOKE),
    express.json({ limit: '64kb' }),
    async (req: ApiRequest, res) => {
      const id = connectionId(req);
      const { allow } = parse(allowBody, req.body);
      res.json({ allow: await setConnectionTools(s, id, allow, { label: signedInUser(req).email }) });
    },
  );
  return router;
}
