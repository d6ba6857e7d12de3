import pino from 'pino';
import { loadConfig } from '../config.js';
import { openServices } from '../server.js';
import type { Services } from '../services/context.js';

/** Who the CLI acts as in the audit log and in `revokedBy`: the operator, not a user. */
export const CLI_ACTOR = { label: 'CLI' };

/** Opens the database of DATABASE_URL (migrating it) for one command, and closes it after. */
export async function withServices<T>(fn: (s: Services) => Promise<T>): Promise<T> {
  const config = loadConfig();
  const s = await openServices(config, { log: pino({ level: 'silent' }) });
  try {
    return await fn(s);
  } finally {
    await s.store.close();
  }
}
