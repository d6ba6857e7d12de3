/**
 * Bulk-loads connections for the list benchmark and the dashboard's pagination
 * test: users, connections and their current API keys, inserted through Kysely
 * in transactions of a few thousand rows. The rows look like real ones (keys are
 * random, only hashes stored) but no OAuth flow ran for them.
 */
import { randomBytes } from 'node:crypto';
import { DAY, MINUTE } from '../src/domain/clock.js';
import { DUMMY_PASSWORD_HASH } from '../src/domain/secrets.js';
import type { Store } from '../src/store/db.js';

const CLIENTS = [
  'Claude Desktop',
  'Claude Code',
  'Cursor',
  'mcp-remote',
  'Zed',
  'Windsurf',
  'VS Code',
  'MCP Client',
];
const ROWS_PER_INSERT = 1000;
const ROWS_PER_TRANSACTION = 10_000;

const id = () => randomBytes(16).toString('base64url');
const base62 = (n: number) => {
  const alphabet = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
  return [...randomBytes(n)].map((b) => alphabet[b % 62]).join('');
};

export interface SeedOptions {
  connections: number;
  users: number;
  /** The newest connection's time; each older one is a minute earlier. */
  now: number;
  /** Email local part of the seeded users: `${emailPrefix}0001@example.com`. */
  emailPrefix?: string;
  apiKeyPrefix?: string;
  /** Every n-th connection is revoked. */
  revokedEvery?: number;
  clientNames?: string[];
}

export async function seedConnections(store: Store, o: SeedOptions): Promise<void> {
  const emailPrefix = o.emailPrefix ?? 'user';
  const keyPrefix = o.apiKeyPrefix ?? 'wax_sk_';
  const names = o.clientNames ?? CLIENTS;
  const users = Array.from({ length: o.users }, (_, i) => ({
    id: id(),
    email: `${emailPrefix}${String(i + 1).padStart(4, '0')}@example.com`,
    password_hash: DUMMY_PASSWORD_HASH,
    role: 'member',
    totp_sealed: null,
    created_at: o.now - 400 * DAY,
  }));
  await store.transact(async (tx) => {
    for (let i = 0; i < users.length; i += ROWS_PER_INSERT) {
      await tx
        .insertInto('users')
        .values(users.slice(i, i + ROWS_PER_INSERT))
        .execute();
    }
  });

  for (let start = 0; start < o.connections; start += ROWS_PER_TRANSACTION) {
    const end = Math.min(o.connections, start + ROWS_PER_TRANSACTION);
    await store.transact(async (tx) => {
      for (let from = start; from < end; from += ROWS_PER_INSERT) {
        const connections = [];
        const keys = [];
        for (let n = from; n < Math.min(end, from + ROWS_PER_INSERT); n++) {
          const connectedAt = o.now - n * MINUTE;
          const revoked = o.revokedEvery !== undefined && n % o.revokedEvery === o.revokedEvery - 1;
          const connectionId = id();
          const keyId = id();
          connections.push({
            id: connectionId,
            user_id: (users[n % users.length] as { id: string }).id,
            client_id: id(),
            client_name: names[n % names.length] as string,
            status: revoked ? 'revoked' : 'active',
            scopes: 'mcp',
            resource: 'http://localhost/mcp',
            connected_at: connectedAt,
            last_token_at: n % 3 === 0 ? null : connectedAt + 30 * MINUTE,
            revoked_at: revoked ? Math.min(o.now, connectedAt + DAY) : null,
            revoked_by: revoked ? 'seed@example.com' : null,
            current_api_key_id: keyId,
          });
          keys.push({
            id: keyId,
            connection_id: connectionId,
            key_hash: randomBytes(32).toString('hex'),
            key_prefix: keyPrefix + base62(6),
            key_ref: randomBytes(32).toString('base64url'),
            created_at: connectedAt,
            deactivated_at: revoked ? Math.min(o.now, connectedAt + DAY) : null,
          });
        }
        await tx.insertInto('connections').values(connections).execute();
        await tx.insertInto('api_keys').values(keys).execute();
      }
    });
  }
}
