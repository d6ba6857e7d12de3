import { type Command, Option } from 'commander';
import {
  type ConnectionView,
  getConnection,
  listConnections,
  regenerateKey,
  revokeAllOfUser,
  revokeConnection,
} from '../services/connections.js';
import { required, UsageError } from './errors.js';
import { printJson, printTable } from './output.js';
import { CLI_ACTOR, withServices } from './services.js';

/** `waxseal connections …`: SPEC §4, the same actions as the dashboard, audited with actor CLI. */
export function registerConnections(program: Command): void {
  const connections = program.command('connections').description('list, revoke and re-key MCP connections');

  connections
    .command('list')
    .description('list connections, newest first')
    .addOption(
      new Option('--status <status>', 'only active or only revoked ones').choices(['active', 'revoked']),
    )
    .option('--json', 'print JSON, one object per connection as the admin API shows it')
    .action(async (o: { status?: 'active' | 'revoked'; json?: boolean }) => {
      const items = await withServices(async (s) => {
        const all: ConnectionView[] = [];
        let cursor: { connectedAt: number; id: string } | undefined;
        do {
          const page = await listConnections(s, { status: o.status, limit: 500, cursor });
          all.push(...page.items);
          cursor = page.nextCursor ?? undefined;
        } while (cursor);
        return all;
      });
      if (o.json) return printJson(items);
      printTable(
        ['ID', 'STATUS', 'CLIENT', 'USER', 'API KEY', 'CONNECTED'],
        items.map((c) => [c.id, c.status, c.clientName, c.userEmail, c.apiKeyPrefix, c.connectedAt]),
      );
    });

  connections
    .command('revoke')
    .description('revoke a connection: its API key and every token stop working at once')
    .argument('[id]', "connection id (an old one beginning with '-' goes after '--')")
    .option('--user <email>', 'revoke every active connection of this user instead (SPEC §10 Revoke all)')
    .action(async (id: string | undefined, o: { user?: string }) => {
      if ((id === undefined) === (o.user === undefined)) {
        throw new UsageError('give a connection id or --user EMAIL, not both');
      }
      if (o.user !== undefined) {
        const email = required(o.user, 'user');
        const n = await withServices((s) => revokeAllOfUser(s, email, CLI_ACTOR));
        console.log(`revoked ${n} connection${n === 1 ? '' : 's'} of ${email.trim().toLowerCase()}`);
        return;
      }
      const connectionId = id as string;
      const c = await withServices(async (s) => {
        await getConnection(s, connectionId);
        return revokeConnection(s, connectionId, CLI_ACTOR);
      });
      console.log(`revoked ${c.id} (${c.clientName}, ${c.userEmail})`);
    });

  connections
    .command('regenerate-key')
    .description(
      "replace a connection's API key; the old one stops working at once, the client notices nothing",
    )
    .argument('<id>', "connection id (an old one beginning with '-' goes after '--')")
    .action(async (id: string) => {
      const c = await withServices((s) => regenerateKey(s, id, CLI_ACTOR));
      console.log(`regenerated the API key of ${c.id}: now ${c.apiKeyPrefix}…`);
    });
}
