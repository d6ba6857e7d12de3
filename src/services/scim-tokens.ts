import { MINUTE } from '../domain/clock.js';
import { BadInput, Conflict, NotFound } from '../domain/errors.js';
import { base62, newToken, sha256, TOKEN_PREFIX } from '../domain/secrets.js';
import { audit } from './audit.js';
import type { Services } from './context.js';

/** A SCIM bearer token as `waxseal scim-token list` shows it: never the token itself. */
export interface ScimToken {
  id: string;
  name: string;
  createdAt: string;
  lastUsedAt: string | null;
  revokedAt: string | null;
}

const iso = (t: number | null) => (t === null ? null : new Date(t).toISOString());

function checkName(name: string): string {
  const n = name.trim();
  if (!/^[\w .@-]{1,64}$/.test(n)) {
    throw new BadInput('name: 1-64 characters of letters, digits, space, _ . @ -');
  }
  return n;
}

/**
 * SPEC §10: a new SCIM token, returned once; only its SHA-256 is stored, like
 * every other bearer secret (docs/architecture.md, Secrets at rest). Names are
 * unique among the tokens not revoked, so `revoke <name>` means one token.
 */
export async function createScimToken(
  s: Services,
  nameInput: string | undefined,
  actor: string,
): Promise<{ token: string; id: string; name: string }> {
  const token = newToken(TOKEN_PREFIX.scim, s.random);
  // Letters and digits only: an id is a CLI argument, and one starting with '-' would read as an option.
  const id = base62(s.random(12));
  const at = s.clock.now();
  const name = checkName(nameInput ?? `scim-${new Date(at).toISOString().slice(0, 10)}-${id.slice(0, 4)}`);
  await s.store.transact(async (tx) => {
    const taken = await tx
      .selectFrom('scim_tokens')
      .select('id')
      .where('name', '=', name)
      .where('revoked_at', 'is', null)
      .executeTakeFirst();
    if (taken) throw new Conflict(`A SCIM token named ${name} already exists`);
    await tx
      .insertInto('scim_tokens')
      .values({ id, name, token_hash: sha256(token), created_at: at, last_used_at: null, revoked_at: null })
      .execute();
    await audit(tx, at, actor, 'scim_token.created', null, { id, name });
  });
  return { token, id, name };
}

export async function listScimTokens(s: Services): Promise<ScimToken[]> {
  const rows = await s.store.db.selectFrom('scim_tokens').selectAll().orderBy('created_at').execute();
  return rows.map((r) => ({
    id: r.id,
    name: r.name,
    createdAt: new Date(r.created_at).toISOString(),
    lastUsedAt: iso(r.last_used_at),
    revokedAt: iso(r.revoked_at),
  }));
}

/** Revokes the live token with this id or name: from the next SCIM request on, it gets 401. */
export async function revokeScimToken(s: Services, idOrName: string, actor: string): Promise<ScimToken> {
  return s.store.transact(async (tx) => {
    const row = await tx
      .selectFrom('scim_tokens')
      .selectAll()
      .where('revoked_at', 'is', null)
      .where((eb) => eb.or([eb('id', '=', idOrName), eb('name', '=', idOrName)]))
      .executeTakeFirst();
    if (!row) throw new NotFound(`No SCIM token with id or name ${idOrName} (or it is already revoked)`);
    const at = s.clock.now();
    await tx.updateTable('scim_tokens').set({ revoked_at: at }).where('id', '=', row.id).execute();
    await audit(tx, at, actor, 'scim_token.revoked', null, { id: row.id, name: row.name });
    return {
      id: row.id,
      name: row.name,
      createdAt: new Date(row.created_at).toISOString(),
      lastUsedAt: iso(row.last_used_at),
      revokedAt: iso(at),
    };
  });
}

/**
 * The SCIM bearer check: found by hash among the tokens not revoked, so a
 * revoked token fails on every instance at the next request (no cache: SCIM is
 * not the hot path). Notes when it was last used, at most once a minute.
 */
export async function verifyScimToken(s: Services, presented: string): Promise<boolean> {
  if (!presented.startsWith(TOKEN_PREFIX.scim) || presented.length > 200) return false;
  const row = await s.store.db
    .selectFrom('scim_tokens')
    .select(['id', 'last_used_at'])
    .where('token_hash', '=', sha256(presented))
    .where('revoked_at', 'is', null)
    .executeTakeFirst();
  if (!row) return false;
  const at = s.clock.now();
  if (row.last_used_at === null || row.last_used_at < at - MINUTE) {
    await s.store.db.updateTable('scim_tokens').set({ last_used_at: at }).where('id', '=', row.id).execute();
  }
  return true;
}
