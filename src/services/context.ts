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
}

export function newId(random: Random): string {
  return random(16).toString('base64url');
}
