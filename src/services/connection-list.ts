import { type Expression, type RawBuilder, type SqlBool, sql } from 'kysely';
import type { Db, Dialect } from '../store/db.js';

/**
 * How the connections list stays fast at 100,000 rows (SPEC §6).
 *
 * `total` without a search is read from `connection_counts` (exact, kept by
 * triggers). A search on client name or user email first resolves to the
 * distinct client names and the users it matches — a few of each, found
 * through an index and the small users table — so counting and paging touch
 * only the matching connections instead of testing every row with LIKE.
 */

/** Past this many distinct client names the name side of a search falls back to LIKE on every row. */
const MAX_CLIENT_NAMES = 1000;

type Status = 'active' | 'revoked';

export interface Search {
  dialect: Dialect;
  /** `%q%`, lower case, with LIKE's wildcards escaped by `\`. */
  pattern: string;
  /** The distinct client names containing q, or null when there are too many names to list. */
  names: string[] | null;
  /**
   * PostgreSQL: the ids of the users whose email contains q, passed as an
   * array so that the planner sees how many connections they have (for a
   * `lower(email) like` subquery it guesses one user and may read every row).
   */
  userIds?: string[];
}

export async function resolveSearch(db: Db, dialect: Dialect, q: string): Promise<Search> {
  const needle = q.toLowerCase();
  const pattern = `%${needle.replace(/[\\%_]/g, (m) => `\\${m}`)}%`;
  const names = await distinctClientNames(db);
  const search: Search = {
    dialect,
    pattern,
    names: names ? names.filter((n) => n.toLowerCase().includes(needle)) : null,
  };
  if (dialect === 'postgres') {
    const users = await db.selectFrom('users').select('id').where(matchingEmail(pattern)).execute();
    search.userIds = users.map((u) => u.id);
  }
  return search;
}

const matchingEmail = (pattern: string) => sql<SqlBool>`lower(email) like ${pattern} escape '\\'`;

/** The distinct client names, one index seek each (a loose index scan), or null when there are too many. */
async function distinctClientNames(db: Db): Promise<string[] | null> {
  const { rows } = await sql<{ v: string }>`
    with recursive names(v, k) as (
      select min(client_name), 1 from connections
      union all
      select (select min(client_name) from connections where client_name > names.v), k + 1
      from names where names.v is not null and k <= ${MAX_CLIENT_NAMES}
    )
    select v from names where v is not null`.execute(db);
  return rows.length > MAX_CLIENT_NAMES ? null : rows.map((r) => r.v);
}

/**
 * `c.client_name` or `c.user_id`; on SQLite, `+column` when the page should be
 * read newest-first along the time index rather than through these columns' indexes.
 */
function column(name: 'c.client_name' | 'c.user_id', useIndex: boolean): RawBuilder<unknown> {
  return useIndex ? sql`${sql.ref(name)}` : sql`+${sql.ref(name)}`;
}

/** The client-name side of a search; null when no name matches (so that an OR of indexed terms stays indexed). */
function nameTerm(search: Search, useIndex: boolean): RawBuilder<SqlBool> | null {
  if (search.names === null) return sql<SqlBool>`lower(c.client_name) like ${search.pattern} escape '\\'`;
  if (search.names.length === 0) return null;
  return sql<SqlBool>`${column('c.client_name', useIndex)} in (${sql.join(search.names)})`;
}

function userTerm(search: Search, useIndex: boolean): RawBuilder<SqlBool> {
  if (search.userIds) return sql<SqlBool>`c.user_id = any(${search.userIds})`;
  return sql<SqlBool>`${column('c.user_id', useIndex)} in (select id from users where ${matchingEmail(search.pattern)})`;
}

/** The search as a condition on `connections as c`. */
export function searchCondition(search: Search, useIndex: boolean): Expression<SqlBool> {
  const indexed = useIndex || search.dialect === 'postgres'; // PostgreSQL's planner chooses well by itself
  const byName = nameTerm(search, indexed);
  const byUser = userTerm(search, indexed);
  return byName ? sql<SqlBool>`(${byName} or ${byUser})` : byUser;
}

async function countWhere(db: Db, status: Status | undefined, where: Expression<SqlBool>): Promise<number> {
  let query = db
    .selectFrom('connections as c')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where(where);
  if (status) query = query.where('c.status', '=', status);
  return Number((await query.executeTakeFirstOrThrow()).n);
}

/** Every connection, or every one with a status: one row read, whatever the size. */
export async function countAll(db: Db, status: Status | undefined): Promise<number> {
  const rows = await db.selectFrom('connection_counts').select(['status', 'n']).execute();
  return rows.filter((r) => !status || r.status === status).reduce((sum, r) => sum + Number(r.n), 0);
}

/**
 * Connections matching a search: those of matching client names plus those of
 * matching users, less those counted twice; each part is counted in an index.
 */
export async function countMatching(db: Db, search: Search, status: Status | undefined): Promise<number> {
  if (search.names === null) return countWhere(db, status, searchCondition(search, true));
  const byUser = await countWhere(db, status, userTerm(search, true));
  const names = nameTerm(search, true);
  if (!names) return byUser;
  const byName = await countWhere(db, status, names);
  if (byUser === 0 || byName === 0) return byUser + byName;
  // A broad search (every user, or every name, matches) needs no overlap count.
  const all = await countAll(db, status);
  if (byUser === all || byName === all) return all;
  const both = await countWhere(db, status, sql<SqlBool>`${names} and ${userTerm(search, true)}`);
  return byName + byUser - both;
}

/**
 * Whether to read a search's page newest-first along the time index (about
 * (limit+1)·all/matching rows visited) rather than gather every match through
 * the name and user indexes and sort them (`matching` rows).
 */
export function readAlongTime(limit: number, all: number, matching: number): boolean {
  return ((limit + 1) * all) / Math.max(matching, 1) < matching;
}
