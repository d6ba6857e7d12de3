import type { Logger } from 'pino';
import type { TokenCache } from '../cache/token-cache.js';
import type { Config } from '../config.js';
import type { Clock } from '../domain/clock.js';
import type { Random } from '../domain/secrets.js';
import type { Store } from '../store/db.js';
import type { Idp } from './oidc-client.js';

/** Everything a use case needs, passed in rather than imported (STYLE §6). */
export interface Services {
  config: Config;
  store: Store;
  clock: Clock;
  random: Random;
  /** The server secret API keys are derived from (domain/secrets.ts). */
  secret: Buffer;
  cache: TokenCache;
  log: Logger;
  /** Issue #12: the team's OpenID provider, discovered at start-up; absent without OIDC_ISSUER. */
  idp?: Idp;
  /** SPEC §12 last used: the write-behind buffer /mcp notes each request in. */
  lastUsed: LastUseBuffer;
  /** SPEC §12 rate limit per connection; null when MCP_REQUESTS_PER_MINUTE_PER_CONNECTION is unset. */
  budgets: RequestBudget | null;
}

/** SPEC §12 last used (services/last-used.ts LastUsed). */
export interface LastUseBuffer {
  /** The hot path: notes a request in memory. */
  record(connectionId: string, ip: string): void;
  /** Writes every noted use now (tests, shutdown). */
  flush(): Promise<void>;
  start(): void;
  close(): Promise<void>;
}

/** SPEC §12 rate limit per connection (services/request-budget.ts RequestBudgets). */
export interface RequestBudget {
  readonly limit: number;
  /** 0 when the request may go on, otherwise the seconds until the window ends. */
  take(connectionId: string): number | Promise<number>;
}

/**
 * A new random id: 22 base64url characters, never beginning with `-`, so that
 * it can be passed to the CLI as an argument (`waxseal connections revoke ID`)
 * without being read as an option. An id made before that may: pass it after
 * `--` (`waxseal connections revoke -- -Eeb…`).
 */
export function newId(random: Random): string {
  const id = random(16).toString('base64url');
  return id.startsWith('-') ? `A${id.slice(1)}` : id;
}
