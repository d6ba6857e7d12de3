import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { ConfigError, loadConfig } from '../../src/config.js';
import { loadUpstreams, mayUseTool, parseUpstreams } from '../../src/upstreams/config.js';
import { startTestServer } from '../helpers/server.js';
import { writeUpstreamsFile } from '../helpers/upstreams.js';

const ROOT = new URL('../..', import.meta.url).pathname;

function problem(raw: unknown): string {
  try {
    parseUpstreams(raw, 'WAXSEAL_CONFIG (test.yaml)');
  } catch (err) {
    assert.ok(err instanceof ConfigError);
    assert.ok(!err.message.includes('\n'), 'one line');
    return err.message;
  }
  assert.fail('expected a ConfigError');
}

describe('SPEC §9 configuration: UPSTREAM_MCP_URL, WAXSEAL_CONFIG, INTROSPECTION_SECRET', () => {
  test('a YAML file with an HTTP and a stdio upstream, defaults filled in', () => {
    const path = writeUpstreamsFile({
      upstreams: {
        github: {
          url: 'https://mcp.internal/github',
          headers: { 'X-Team': 'platform' },
          timeoutMs: 5000,
          tools: { delete_repo: ['owner'], '*': ['owner', 'admin', 'member'] },
        },
        files: { command: 'npx', args: ['-y', 'some-server'], env: { ROOT_DIR: '/srv' } },
      },
    });
    const [github, files] = loadUpstreams(loadConfig({ WAXSEAL_CONFIG: path }));
    assert.deepEqual(github, {
      name: 'github',
      kind: 'http',
      url: 'https://mcp.internal/github',
      headers: { 'X-Team': 'platform' },
      credentialHeader: 'Authorization',
      timeoutMs: 5000,
      tools: { delete_repo: ['owner'], '*': ['owner', 'admin', 'member'] },
      prompts: {},
      resources: {},
    });
    assert.equal(files?.kind, 'stdio');
    assert.equal(files?.kind === 'stdio' && files.credentialEnv, 'WAXSEAL_API_KEY');
    assert.equal(files?.timeoutMs, 30_000);
    assert.ok(github && mayUseTool(github, 'owner', 'delete_repo'));
    assert.ok(github && !mayUseTool(github, 'admin', 'delete_repo'));
    assert.ok(github && mayUseTool(github, 'member', 'list_repos'));
    assert.ok(github && !mayUseTool(github, 'viewer', 'list_repos'));
    assert.ok(files && mayUseTool(files, 'viewer', 'anything'));
  });

  test('UPSTREAM_MCP_URL is one upstream named "upstream"; nothing configured is no gateway', () => {
    const [only, ...rest] = loadUpstreams(loadConfig({ UPSTREAM_MCP_URL: 'https://internal/mcp' }));
    assert.equal(rest.length, 0);
    assert.equal(only?.name, 'upstream');
    assert.equal(only?.kind === 'http' && only.url, 'https://internal/mcp');
    assert.deepEqual(loadUpstreams(loadConfig({})), []);
  });

  test('each mistake in the file is one line naming where it is', () => {
    assert.equal(
      problem({ upstreams: { a: { url: 'https://x/mcp', command: 'node' } } }),
      'WAXSEAL_CONFIG (test.yaml): upstreams.a: needs either url or command (not both)',
    );
    assert.match(problem({ upstreams: { a: { url: 'ftp://x' } } }), /upstreams\.a\.url: must be an http/);
    assert.match(
      problem({ upstreams: { a: { url: 'https://x', env: {} } } }),
      /upstreams\.a\.env: only applies to stdio/,
    );
    assert.match(
      problem({ upstreams: { a: { url: 'https://x', headers: { Authorization: 'Bearer t' } } } }),
      /upstreams\.a\.headers\.Authorization: is set by Waxseal/,
    );
    assert.match(
      problem({ upstreams: { a: { url: 'https://x', headers: { Connection: 'close' } } } }),
      /upstreams\.a\.headers\.Connection: belongs to the HTTP connection and cannot be configured/,
    );
    assert.match(
      problem({ upstreams: { a: { url: 'https://x', credentialHeader: 'Transfer-Encoding' } } }),
      /upstreams\.a\.credentialHeader: cannot carry the credential/,
    );
    assert.match(
      problem({ upstreams: { a: { url: 'https://x', tools: { t: ['superuser'] } } } }),
      /upstreams\.a\.tools\.t\.0: must be one of owner, admin, viewer, member/,
    );
    assert.match(
      problem({ upstreams: { 'a b': { url: 'https://x' } } }),
      /upstream names are 1-32 characters/,
    );
    assert.match(
      problem({ upstreams: { a: { url: 'https://x', timeout: 5 } } }),
      /upstreams\.a: Unrecognized key/,
    );
    assert.match(problem({ servers: {} }), /upstreams: must map upstream names to their settings/);
  });

  test("an upstream's introspectionSecret: at least 32 characters, its own, and never echoed", async () => {
    const secret = 'a-secret-of-upstream-a-0123456789abcdef';
    const short = problem({ upstreams: { a: { url: 'https://x', introspectionSecret: 'short-secret' } } });
    assert.match(short, /upstreams\.a\.introspectionSecret: must be at least 32 characters/);
    assert.ok(!short.includes('short-secret'));
    const shared = problem({
      upstreams: {
        a: { url: 'https://x', introspectionSecret: secret },
        b: { url: 'https://y', introspectionSecret: secret },
      },
    });
    assert.equal(
      shared,
      'WAXSEAL_CONFIG (test.yaml): upstreams.b.introspectionSecret: must differ from the introspectionSecret of a',
    );
    const [a] = parseUpstreams({ upstreams: { a: { url: 'https://x', introspectionSecret: secret } } }, 't');
    assert.equal(a?.introspectionSecret, secret);
    const file = writeUpstreamsFile({ upstreams: { a: { url: 'https://x', introspectionSecret: secret } } });
    await assert.rejects(
      startTestServer('sqlite', { env: { WAXSEAL_CONFIG: file, INTROSPECTION_SECRET: secret } }),
      (err: Error) =>
        err instanceof ConfigError &&
        err.message === 'upstreams.a.introspectionSecret: must differ from INTROSPECTION_SECRET',
    );
  });

  test('an unreadable or malformed file is named with the reason', () => {
    assert.throws(
      () => loadUpstreams(loadConfig({ WAXSEAL_CONFIG: '/nonexistent/waxseal.yaml' })),
      (err: Error) =>
        err instanceof ConfigError &&
        err.message === 'WAXSEAL_CONFIG (/nonexistent/waxseal.yaml): cannot be read (ENOENT)',
    );
    const broken = writeUpstreamsFile({}, 'broken.json');
    writeFileSync(broken, '{ "upstreams": ');
    assert.throws(() => loadUpstreams(loadConfig({ WAXSEAL_CONFIG: broken })), /is not valid JSON/);
  });

  test('environment: a bad URL, both ways at once, and a short secret (never echoed)', () => {
    assert.throws(
      () => loadConfig({ UPSTREAM_MCP_URL: 'internal/mcp' }),
      (err: Error) => err instanceof ConfigError && /^UPSTREAM_MCP_URL: must be an http/.test(err.message),
    );
    assert.throws(
      () => loadConfig({ UPSTREAM_MCP_URL: 'https://a/mcp', WAXSEAL_CONFIG: './x.yaml' }),
      /UPSTREAM_MCP_URL and WAXSEAL_CONFIG: set one of them/,
    );
    assert.throws(
      () => loadConfig({ INTROSPECTION_SECRET: 'hunter2' }),
      (err: Error) =>
        /^INTROSPECTION_SECRET: must be at least 32 characters \(value hidden\)$/.test(err.message) &&
        !err.message.includes('hunter2'),
    );
  });

  test('`waxseal serve` with a bad upstreams file prints one line and exits non-zero', () => {
    const run = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'serve'], {
      cwd: ROOT,
      env: {
        PATH: process.env.PATH ?? '',
        WAXSEAL_CONFIG: '/nonexistent/waxseal.yaml',
        DATABASE_URL: 'sqlite::memory:',
      },
      encoding: 'utf8',
      timeout: 20_000,
    });
    assert.notEqual(run.status, 0);
    assert.match(
      run.stderr.trim(),
      /^[^\n]*WAXSEAL_CONFIG \(\/nonexistent\/waxseal.yaml\): cannot be read \(ENOENT\)$/,
    );
  });
});
