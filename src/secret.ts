import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Config } from './config.js';
import { ConfigError } from './config.js';
import { systemRandom } from './domain/secrets.js';

/**
 * The server secret: WAXSEAL_SECRET, or a file created on first run beside the
 * data (mode 0600). Every instance and CLI sharing a database must share it.
 */
export function loadSecret(config: Config): Buffer {
  if (config.secret) return Buffer.from(config.secret, 'utf8');
  const path = config.secretFile;
  if (!existsSync(path)) {
    mkdirSync(dirname(path), { recursive: true });
    try {
      writeFileSync(path, systemRandom(32).toString('base64url'), { mode: 0o600, flag: 'wx' });
    } catch (err) {
      if ((err as { code?: string }).code !== 'EEXIST') throw err;
    }
  }
  const text = readFileSync(path, 'utf8').trim();
  if (text.length < 32)
    throw new ConfigError(`WAXSEAL_SECRET_FILE: ${path} must hold at least 32 characters`);
  return Buffer.from(text, 'utf8');
}
