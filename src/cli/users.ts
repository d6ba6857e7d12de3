import type { Command } from 'commander';
import { unlock } from '../services/lockouts.js';
import { createUser, disableUser, enableTotp, enableUser, listUsers, setRole } from '../services/users.js';
import { required } from './errors.js';
import { printJson, printTable } from './output.js';
import { readPassword } from './password.js';
import { withServices } from './services.js';

const ROLE_HELP = 'owner, admin, viewer or member';

/** `waxseal users …`: the accounts that sign in to the dashboard and authorize MCP clients. */
export function registerUsers(program: Command): void {
  const users = program.command('users').description('add, list and change users');

  users
    .command('add')
    .description('add a user who can sign in')
    .requiredOption('--email <email>', 'their email address (the sign-in name)')
    .option('--password <password>', 'their password (visible in the process list; prefer --password-stdin)')
    .option('--password-stdin', 'read the password from the first line of stdin')
    .requiredOption('--role <role>', ROLE_HELP)
    .addHelpText(
      'after',
      '\nWith neither --password nor --password-stdin, asks for the password on the terminal.',
    )
    .action(async (o: { email: string; password?: string; passwordStdin?: boolean; role: string }) => {
      const email = required(o.email, 'email');
      const password = await readPassword(o);
      const user = await withServices((s) => createUser(s, { email, password, role: o.role }, 'CLI'));
      console.log(`added ${user.email} as ${user.role}`);
    });

  users
    .command('list')
    .description('list every user with their role')
    .option('--json', 'print JSON: email, role, status, source, totpEnabled, createdAt')
    .action(async (o: { json?: boolean }) => {
      const all = await withServices(listUsers);
      if (o.json) {
        return printJson(
          all.map((u) => ({
            email: u.email,
            role: u.role,
            status: u.status,
            source: u.source,
            totpEnabled: u.totpEnabled,
            createdAt: u.createdAt,
          })),
        );
      }
      printTable(
        ['EMAIL', 'ROLE', 'TOTP'],
        all.map((u) => (u.totpEnabled ? [u.email, u.role, 'totp'] : [u.email, u.role])),
      );
    });

  users
    .command('set-role')
    .description("change a user's role (honoured by running servers at once)")
    .requiredOption('--email <email>', 'the user')
    .requiredOption('--role <role>', ROLE_HELP)
    .action(async (o: { email: string; role: string }) => {
      const email = required(o.email, 'email');
      const user = await withServices((s) => setRole(s, email, o.role, 'CLI'));
      console.log(`${user.email} is now ${user.role}`);
    });

  users
    .command('disable')
    .description(
      'disable a user (SPEC §10): every connection revoked, every session ended, sign-in refused; on every instance at once',
    )
    .requiredOption('--email <email>', 'the user')
    .action(async (o: { email: string }) => {
      const email = required(o.email, 'email');
      const user = await withServices((s) => disableUser(s, email, 'CLI'));
      console.log(`disabled ${user.email}`);
    });

  users
    .command('enable')
    .description('enable a disabled user: sign-in works again; revoked connections stay revoked')
    .requiredOption('--email <email>', 'the user')
    .action(async (o: { email: string }) => {
      const email = required(o.email, 'email');
      const user = await withServices((s) => enableUser(s, email, 'CLI'));
      console.log(`enabled ${user.email}`);
    });

  users
    .command('enable-totp')
    .description('turn on two-step sign-in; prints an otpauth:// URI to scan')
    .requiredOption('--email <email>', 'the user')
    .action(async (o: { email: string }) => {
      const email = required(o.email, 'email');
      console.log(await withServices((s) => enableTotp(s, email)));
    });

  users
    .command('unlock')
    .description('lift a sign-in lock-out after too many failures')
    .requiredOption('--email <email>', 'the user')
    .action(async (o: { email: string }) => {
      const email = required(o.email, 'email');
      const lifted = await withServices((s) => unlock(s, { email }, 'CLI'));
      const who = email.toLowerCase();
      console.log(lifted ? `lifted the lock-out of ${who}` : `${who} was not locked out`);
    });
}
