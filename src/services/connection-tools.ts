import { NotFound } from '../domain/errors.js';
import { decodeToolAllow, type ToolAllow } from '../domain/tool-allow.js';
import { audit } from './audit.js';
import type { Services } from './context.js';
import { type Actor, setToolAllow } from './transitions.js';

/** SPEC §12: a connection's allow-list; null means every tool its role may use. 404 for an unknown id. */
export async function toolAllowOf(s: Services, id: string): Promise<ToolAllow> {
  const row = await s.store.db
    .selectFrom('connections')
    .select('tool_allow')
    .where('id', '=', id)
    .executeTakeFirst();
  if (!row) throw new NotFound(`No connection with id ${id}`);
  return decodeToolAllow(row.tool_allow);
}

/**
 * SPEC §12 `PUT /api/mcp-connections/{id}/tools`: one transaction, one audit
 * row; in force on every instance from the connection's next request.
 */
export async function setConnectionTools(
  s: Services,
  id: string,
  allow: ToolAllow,
  actor: Actor,
): Promise<ToolAllow> {
  return s.store.transact(async (tx) => {
    await setToolAllow(tx, id, allow);
    const stored = decodeToolAllow(
      (await tx.selectFrom('connections').select('tool_allow').where('id', '=', id).executeTakeFirstOrThrow())
        .tool_allow,
    );
    await audit(tx, s.clock.now(), actor.label, 'connection.tools_changed', id, { allow: stored });
    return stored;
  });
}
