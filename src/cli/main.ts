#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import { Command, type CommanderError } from 'commander';
import { registerConfig } from './config-check.js';
import { registerConnections } from './connections.js';
import { EXIT, UsageError } from './errors.js';
import { registerScimTokens } from './scim-tokens.js';
import { registerServe } from './serve.js';
import { registerUsers } from './users.js';

/**
 * The version of the package this file belongs to: the nearest package.json
 * above it named waxseal (src/cli and dist/cli sit two levels below it; the
 * benchmarks run a copy of dist/ from further down).
 */
function ownVersion(): string {
  for (let dir = new URL('./', import.meta.url); dir.pathname !== '/'; dir = new URL('../', dir)) {
    try {
      const pkg = JSON.parse(readFileSync(new URL('package.json', dir), 'utf8')) as {
        name?: string;
        version?: string;
      };
      if (pkg.name === 'waxseal' && pkg.version) return pkg.version;
    } catch {
      // no package.json here: look one level up
    }
  }
  return 'unknown';
}
const version = ownVersion();

/** Commander's own parse errors, with the (sub)command they came from: a usage error. */
class CommandLineError extends Error {
  constructor(
    readonly commander: CommanderError,
    readonly command: Command,
  ) {
    super(commander.message);
  }
}

function program(): Command {
  const root = new Command('waxseal')
    .description('A self-hosted OAuth 2.1 front door for remote MCP servers.')
    .version(version, '-V, --version', 'print the version')
    .helpOption('-h, --help', 'show help for a command')
    .addHelpText(
      'after',
      `
Every command reads the same environment as the server (DATABASE_URL, WAXSEAL_SECRET, ...).
Exit codes: 0 done, 1 the command failed, 2 the command line is wrong.
Run "waxseal <command> --help" for a command's options.`,
    )
    // Errors are printed once, as one line, by run() below.
    .configureOutput({ outputError: () => undefined });
  registerServe(root);
  registerUsers(root);
  registerConnections(root);
  registerScimTokens(root);
  registerConfig(root);
  const everyCommand = (c: Command): Command[] => [c, ...c.commands.flatMap(everyCommand)];
  for (const c of everyCommand(root)) {
    c.exitOverride((err) => {
      throw new CommandLineError(err, c);
    });
  }
  return root;
}

/** The one line a usage error prints: what is wrong and where the help is. */
function usageLine(err: CommandLineError): string {
  const { commander: cause, command } = err;
  const args = command.registeredArguments;
  let message = cause.message.replace(/^error: /, '').replace(/\s*\n\s*/g, ' ');
  if (
    (cause.code === 'commander.missingArgument' || cause.code === 'commander.excessArguments') &&
    args.length === 1
  ) {
    message = `expected exactly one ${args[0]?.description || args[0]?.name()}`;
  }
  if (cause.code === 'commander.unknownCommand') message = message.replace(/'([^']*)'/, '$1');
  const path: string[] = [];
  for (let c: Command | null = command; c; c = c.parent) path.unshift(c.name());
  return `${message} (run "${path.join(' ')} --help" for usage)`;
}

async function run(argv: string[]): Promise<number> {
  const cli = program();
  if (argv.length === 0) {
    cli.outputHelp();
    return EXIT.ok;
  }
  try {
    await cli.parseAsync(argv, { from: 'user' });
    return EXIT.ok;
  } catch (err) {
    if (err instanceof CommandLineError) {
      // --help, --version and "help" end parsing with exit code 0; "waxseal users" alone shows help on stderr.
      if (err.commander.exitCode === 0) return EXIT.ok;
      if (err.commander.code === 'commander.help') return EXIT.usage;
      console.error(`waxseal: ${usageLine(err)}`);
      return EXIT.usage;
    }
    if (err instanceof UsageError) {
      console.error(`waxseal: ${err.message}`);
      return EXIT.usage;
    }
    // SPEC §1: one clear line, no stack (a ConfigError, a WaxsealError, or the database's own message).
    console.error(`waxseal: ${err instanceof Error ? err.message : String(err)}`);
    return EXIT.failed;
  }
}

const code = await run(process.argv.slice(2));
// serve keeps running: its listening server holds the process open; every other command is done.
if (code !== EXIT.ok) process.exit(code);
