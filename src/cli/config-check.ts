import type { Command } from 'commander';
import { type Config, loadConfig } from '../config.js';
import { loadUpstreams, type UpstreamDefinition } from '../upstreams/config.js';

/**
 * `waxseal config check`: validates the environment and WAXSEAL_CONFIG the way
 * `serve` does at start-up, without opening the database or listening, and
 * prints what it found (never a secret) — or the one-line error, exit 1.
 */
export function registerConfig(program: Command): void {
  const config = program.command('config').description('inspect the configuration');
  config
    .command('check')
    .description('validate the environment variables and WAXSEAL_CONFIG; print what they configure')
    .option('--json', 'print JSON')
    .action((o: { json?: boolean }) => {
      const found = describe(loadConfig());
      if (o.json) {
        process.stdout.write(`${JSON.stringify(found, null, 2)}\n`);
        return;
      }
      const width = Math.max(...Object.keys(found).map((k) => k.length));
      for (const [key, value] of Object.entries(found)) {
        const text = Array.isArray(value) ? (value.length ? value.join(', ') : 'none') : String(value);
        process.stdout.write(`${key.padEnd(width)}  ${text}\n`);
      }
      process.stdout.write('the configuration is valid\n');
    });
}

function describe(config: Config): Record<string, string | string[]> {
  return {
    listen: `${config.host}:${config.port}`,
    publicUrl: config.publicUrl,
    mcpUrl: config.mcpUrl,
    database: redacted(config.databaseUrl),
    secret: config.secret ? 'WAXSEAL_SECRET' : `file ${config.secretFile}`,
    trustProxyHops: String(config.trustProxyHops),
    logLevel: config.logLevel,
    firstOwner: config.adminEmail ? `${config.adminEmail} (WAXSEAL_ADMIN_EMAIL)` : 'setup link in the log',
    upstreams: loadUpstreams(config).map(upstream),
    source: config.upstreamMcpUrl
      ? 'UPSTREAM_MCP_URL'
      : config.upstreamsFile
        ? `WAXSEAL_CONFIG ${config.upstreamsFile}`
        : 'none (only the built-in whoami tool)',
    auditStream: config.auditWebhook ? `${origin(config.auditWebhook.url)} (AUDIT_WEBHOOK_URL)` : 'off',
    connectionMaxAge: config.connectionMaxAgeMs ? `${config.connectionMaxAgeMs / 86_400_000} days` : 'off',
  };
}

function upstream(u: UpstreamDefinition): string {
  return u.kind === 'http' ? `${u.name} (${redacted(u.url)})` : `${u.name} (stdio: ${u.command})`;
}

/** Where the audit stream goes, without a path or query that may carry a token of the receiver's. */
function origin(url: string): string {
  return new URL(url).origin;
}

/** A URL without its password (postgres://user:secret@host/db). */
function redacted(url: string): string {
  try {
    const parsed = new URL(url);
    if (!parsed.password) return url;
    parsed.password = '***';
    return parsed.href;
  } catch {
    return url;
  }
}
