#!/usr/bin/env node
import { parseArgs } from 'node:util';
import pino from 'pino';
import { ConfigError, loadConfig } from '../config.js';
import { WaxsealError } from '../domain/errors.js';
import { openServices, startServer } from '../server.js';
import { getConnection, listConnections, regenerateKey, revokeConnection } from '../services/connections.js';
import type { Services } from '../services/context.js';
import { unlock } from '../services/lockouts.js';
import { createUser, enableTotp, listUsers, setRole } from '../services/users.js';
import { migrate, openStore } from '../store/db.js';

const USAGE = `Usage: waxseal <command>
  serve                                   run the server (what npm start runs)
  migrate                                 apply database migrations
  users add --email E --password P --role R
  users list
  users set-role --email E --role R
  users enable-totp --email E             print an otpauth:// URI to scan
  users unlock --email E                  lift a sign-in lock-out
  connections list [--status active|revoked] [--json]
  connections revoke ID
  connections regenerate-key ID`;

class UsageError extends Error {}

const CLI_ACTOR = { label: 'CLI' };

function options(
  args: string[],
  names: string[],
  booleans: string[] = [],
): { values: Record<string, string | boolean | undefined>; positionals: string[] } {
  const spec = Object.fromEntries([
    ...names.map((n) => [n, { type: 'string' as const }]),
    ...booleans.map((n) => [n, { type: 'boolean' as const }]),
  ]);
  try {
    const { values, positionals } = parseArgs({ args, options: spec, allowPositionals: true, strict: true });
    return { values: values as Record<string, string | boolean | undefined>, positionals };
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

function need(values: Record<string, unknown>, name: string): string {
  const v = values[name];
  if (typeof v !== 'string' || v === '') throw new UsageError(`--${name} is required`);
  return v;
}

function onePositional(positionals: string[], what: string): string {
  if (positionals.length !== 1) throw new UsageError(`expected exactly one ${what}`);
  return positionals[0] as string;
}

async function withServices<T>(fn: (s: Services) => Promise<T>): Promise<T> {
  const config = loadConfig();
  const s = await openServices(config, { log: pino({ level: 'silent' }) });
  try {
    return await fn(s);
  } finally {
    await s.store.close();
  }
}

async function serve(): Promise<void> {
  const config = loadConfig();
  const running = await startServer(config);
  const stop = async (signal: string) => {
    running.services.log.info({ signal }, 'shutting down');
    const force = setTimeout(() => process.exit(1), 10_000);
    force.unref();
    await running.close();
    process.exit(0);
  };
  process.once('SIGTERM', () => void stop('SIGTERM'));
  process.once('SIGINT', () => void stop('SIGINT'));
}

async function users(args: string[]): Promise<void> {
  const [sub, ...rest] = args;
  if (sub === 'add') {
    const { values } = options(rest, ['email', 'password', 'role']);
    const user = await withServices((s) =>
      createUser(
        s,
        { email: need(values, 'email'), password: need(values, 'password'), role: need(values, 'role') },
        'CLI',
      ),
    );
    console.log(`added ${user.email} as ${user.role}`);
  } else if (sub === 'list') {
    options(rest, []);
    const all = await withServices(listUsers);
    for (const u of all) console.log(`${u.email}\t${u.role}${u.totpEnabled ? '\ttotp' : ''}`);
  } else if (sub === 'set-role') {
    const { values } = options(rest, ['email', 'role']);
    const user = await withServices((s) => setRole(s, need(values, 'email'), need(values, 'role'), 'CLI'));
    console.log(`${user.email} is now ${user.role}`);
  } else if (sub === 'unlock') {
    const { values } = options(rest, ['email']);
    const email = need(values, 'email');
    const lifted = await withServices((s) => unlock(s, { email }, 'CLI'));
    console.log(
      lifted ? `lifted the lock-out of ${email.toLowerCase()}` : `${email.toLowerCase()} was not locked out`,
    );
  } else if (sub === 'enable-totp') {
    const { values } = options(rest, ['email']);
    console.log(await withServices((s) => enableTotp(s, need(values, 'email'))));
  } else {
    throw new UsageError(`unknown users command ${sub ?? ''}`.trim());
  }
}

async function connections(args: string[]): Promise<void> {
  const [sub, ...rest] = args;
  if (sub === 'list') {
    const { values } = options(rest, ['status'], ['json']);
    const status = values.status;
    if (status !== undefined && status !== 'active' && status !== 'revoked') {
      throw new UsageError('--status must be active or revoked');
    }
    const items = await withServices(async (s) => {
      const all = [];
      let cursor: { connectedAt: number; id: string } | undefined;
      do {
        const page = await listConnections(s, { status, limit: 500, cursor });
        all.push(...page.items);
        cursor = page.nextCursor ?? undefined;
      } while (cursor);
      return all;
    });
    if (values.json) {
      console.log(JSON.stringify(items, null, 2));
      return;
    }
    for (const c of items) {
      console.log([c.id, c.status, c.clientName, c.userEmail, c.apiKeyPrefix, c.connectedAt].join('\t'));
    }
  } else if (sub === 'revoke') {
    const { positionals } = options(rest, []);
    const id = onePositional(positionals, 'connection id');
    const c = await withServices(async (s) => {
      await getConnection(s, id);
      return revokeConnection(s, id, CLI_ACTOR);
    });
    console.log(`revoked ${c.id} (${c.clientName}, ${c.userEmail})`);
  } else if (sub === 'regenerate-key') {
    const { positionals } = options(rest, []);
    const id = onePositional(positionals, 'connection id');
    const c = await withServices((s) => regenerateKey(s, id, CLI_ACTOR));
    console.log(`regenerated the API key of ${c.id}: now ${c.apiKeyPrefix}…`);
  } else {
    throw new UsageError(`unknown connections command ${sub ?? ''}`.trim());
  }
}

async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'serve':
      return serve();
    case 'migrate': {
      options(rest, []);
      // Not openServices: it migrates on open, and this command reports what it applied.
      const store = openStore(loadConfig().databaseUrl);
      let applied: string[];
      try {
        applied = await migrate(store);
      } finally {
        await store.close();
      }
      console.log(applied.length ? `applied ${applied.join(', ')}` : 'database is up to date');
      return;
    }
    case 'users':
      return users(rest);
    case 'connections':
      return connections(rest);
    case undefined:
    case 'help':
    case '--help':
      console.log(USAGE);
      return;
    default:
      throw new UsageError(`unknown command ${command}`);
  }
}

main(process.argv.slice(2)).catch((err: unknown) => {
  if (err instanceof UsageError) {
    // SPEC §1: one clear line; the usage is one command away.
    console.error(`waxseal: ${err.message} (run "waxseal help" for usage)`);
    process.exit(2);
  }
  if (err instanceof ConfigError || err instanceof WaxsealError) {
    console.error(`waxseal: ${err.message}`);
    process.exit(1);
  }
  console.error(`waxseal: ${(err as Error)?.message ?? String(err)}`);
  process.exit(1);
});
