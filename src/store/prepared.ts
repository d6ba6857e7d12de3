import type { Compilable, CompiledQuery, QueryResult } from 'kysely';
import type { Db } from './db.js';

/** What a placeholder looks like while the query is compiled; never sent to the database. */
const MARK = '\u0000waxseal-parameter:';
const END = ':\u0000';

type Slot = { name: string } | { value: unknown };

interface Compiled<R> {
  query: CompiledQuery<R>;
  slots: Slot[];
}

/**
 * A query Kysely builds and compiles once per dialect and then runs with new
 * values. On the refresh grant, building and compiling a statement cost more
 * than SQLite takes to run it (issue #5, B3), and the grant runs a dozen.
 *
 * `build` gets placeholders in place of the values and must pass each one
 * through as a value (a bound parameter), never compute with it: a placeholder
 * that does not come out as a parameter is an error when the query is compiled.
 */
export function prepared<P extends Record<string, unknown>, R>(
  build: (db: Db, p: P) => Compilable<R>,
): (db: Db, values: P) => Promise<QueryResult<R>> {
  const byDialect = new Map<unknown, Compiled<R>>();
  return async (db, values) => {
    const dialect = db.getExecutor().adapter.constructor;
    let compiled = byDialect.get(dialect);
    if (!compiled) {
      compiled = compile(db, build);
      byDialect.set(dialect, compiled);
    }
    const parameters = compiled.slots.map((slot) => ('name' in slot ? values[slot.name] : slot.value));
    return db.executeQuery<R>({ ...compiled.query, parameters });
  };
}

function compile<P extends Record<string, unknown>, R>(
  db: Db,
  build: (db: Db, p: P) => Compilable<R>,
): Compiled<R> {
  const placeholders = new Proxy({} as P, {
    get: (_target, name) => `${MARK}${String(name)}${END}`,
  });
  const query = build(db, placeholders).compile();
  const slots = query.parameters.map((value): Slot => {
    const name = typeof value === 'string' ? placeholderName(value) : undefined;
    return name === undefined ? { value } : { name };
  });
  if (query.sql.includes(MARK) || slots.some((s) => 'value' in s && String(s.value).includes(MARK))) {
    throw new Error(`A placeholder was not bound as a parameter in: ${query.sql}`);
  }
  return { query, slots };
}

/** The parameter a value stands for, if it is exactly one placeholder. */
function placeholderName(value: string): string | undefined {
  if (!value.startsWith(MARK) || !value.endsWith(END)) return undefined;
  const name = value.slice(MARK.length, -END.length);
  return name.includes(MARK) || name.includes(END) ? undefined : name;
}
