import type { Command } from 'commander';
import { loadConfig } from '../config.js';
import { startServer } from '../server.js';
import { migrate, openStore } from '../store/db.js';

/** `waxseal serve` (what `npm start` runs) and `waxseal migrate`. */
export function registerServe(program: Command): void {
  program
    .command('serve')
    .description('run the server (what npm start runs); configured by environment variables')
    .addHelpText(
      'after',
      '\nSee README, Configuration, for the variables; "waxseal config check" validates them.',
    )
    .action(serve);

  program
    .command('migrate')
    .description('apply pending database migrations (serve also does this at start)')
    .action(async () => {
      // Not openServices: it migrates on open, and this command reports what it applied.
      const store = openStore(loadConfig().databaseUrl);
      let applied: string[];
      try {
        applied = await migrate(store);
      } finally {
        await store.close();
      }
      console.log(applied.length ? `applied ${applied.join(', ')}` : 'database is up to date');
    });
}

async function serve(): Promise<void> {
  const config = loadConfig();
  const running = await startServer(config);
  // The JSON log on stdout is for machines; a person at a terminal also gets one plain line.
  if (process.stderr.isTTY) {
    const next = running.setupUrl
      ? `open ${running.setupUrl} to create the first owner`
      : `sign in at ${config.publicUrl}/settings/mcp-connections`;
    process.stderr.write(`Waxseal is running at ${config.publicUrl} — ${next}\n`);
  }
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
