import type { Command } from 'commander';
import { createScimToken, listScimTokens, revokeScimToken } from '../services/scim-tokens.js';
import { printJson, printTable } from './output.js';
import { withServices } from './services.js';

/** `waxseal scim-token …`: the bearer tokens an IdP uses at PUBLIC_URL/scim/v2 (SPEC §10 SCIM). */
export function registerScimTokens(program: Command): void {
  const tokens = program
    .command('scim-token')
    .description('make, list and revoke the bearer tokens an IdP uses for SCIM provisioning');

  tokens
    .command('create')
    .description('make a SCIM token; it is printed once, alone on the last line, and stored hashed')
    .option('--name <name>', 'a name to find it by later (default: scim-<date>-<id>)')
    .action(async (o: { name?: string }) => {
      const made = await withServices((s) => createScimToken(s, o.name, 'CLI'));
      console.log(`made SCIM token ${made.name} (id ${made.id}); copy it now, it is not shown again:`);
      console.log(made.token);
    });

  tokens
    .command('list')
    .description('list SCIM tokens (never the tokens themselves)')
    .option('--json', 'print JSON: id, name, createdAt, lastUsedAt, revokedAt')
    .action(async (o: { json?: boolean }) => {
      const all = await withServices(listScimTokens);
      if (o.json) return printJson(all);
      printTable(
        ['ID', 'NAME', 'STATUS', 'CREATED', 'LAST USED'],
        all.map((t) => [
          t.id,
          t.name,
          t.revokedAt ? 'revoked' : 'active',
          t.createdAt,
          t.lastUsedAt ?? 'never',
        ]),
      );
    });

  tokens
    .command('revoke')
    .description('revoke a SCIM token: from the next request on it gets 401')
    .argument('<id-or-name>', 'SCIM token id or name')
    .action(async (idOrName: string) => {
      const t = await withServices((s) => revokeScimToken(s, idOrName, 'CLI'));
      console.log(`revoked SCIM token ${t.name} (id ${t.id})`);
    });
}
