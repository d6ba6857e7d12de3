/**
 * SPEC §10 `waxseal scim-token create | list | revoke`, run as the real CLI
 * (a child process) against a running server's database, in the style of
 * test/integration/cli.test.ts: the token is printed once, alone on the last
 * line; it works at /scim/v2 at once; revoked, it gets 401 at the next request.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { sha256 } from '../../src/domain/secrets.js';
import { ScimClient } from '../helpers/scim.js';
import { postgresSkip, startTestServer, type TestServer } from '../helpers/server.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const MAIN = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function cli(env: Record<string, string>, ...args: string[]): Promise<Run> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', MAIN, ...args],
      { cwd: ROOT, env: { PATH: process.env.PATH ?? '', ...env }, timeout: 180_000 },
      (err, stdout, stderr) => {
        if (err && typeof err.code !== 'number') return reject(err);
        resolve({ code: err ? (err.code as number) : 0, stdout, stderr });
      },
    );
  });
}

function ok(run: Run, what: string): string {
  assert.equal(run.code, 0, `${what} exits 0 (stderr: ${run.stderr})`);
  assert.equal(run.stderr, '', `${what} writes nothing to stderr`);
  return run.stdout;
}

function fails(run: Run, code: number, pattern: RegExp, what: string): void {
  assert.equal(run.code, code, `${what} exits ${code}`);
  assert.equal(run.stdout, '', `${what} prints nothing on stdout`);
  assert.match(run.stderr, /^waxseal: [^\n]+\n$/, `${what} prints one line`);
  assert.match(run.stderr, pattern, what);
}

/** The token of `scim-token create`: the last line, alone. */
function lastLine(out: string): string {
  const lines = out.trimEnd().split('\n');
  return lines[lines.length - 1] as string;
}

for (const kind of ['sqlite', 'postgres'] as const) {
  describe(`SPEC §10 waxseal scim-token (${kind})`, async () => {
    const skip = kind === 'postgres' ? await postgresSkip() : false;
    let server: TestServer;
    before(async () => {
      if (!skip) server = await startTestServer(kind);
    });
    after(async () => server?.stop());

    test('create prints the token alone on its last line; it works; list shows it; revoke stops it', {
      skip,
    }, async () => {
      const out = ok(await cli(server.env, 'scim-token', 'create', '--name', 'entra'), 'create');
      const token = lastLine(out);
      assert.match(token, /^wax_scim_[0-9A-Za-z]{43}$/);
      assert.ok(out.split('\n').length >= 2, 'an explanation comes first');
      // Stored hashed: the token itself is nowhere in the database.
      const row = await server.services.store.db
        .selectFrom('scim_tokens')
        .selectAll()
        .where('name', '=', 'entra')
        .executeTakeFirstOrThrow();
      assert.equal(row.token_hash, sha256(token));
      assert.ok(!JSON.stringify(row).includes(token));

      const scim = new ScimClient(server.base, token);
      assert.equal((await scim.get('/Users')).status, 200);

      const unnamed = lastLine(ok(await cli(server.env, 'scim-token', 'create'), 'create without --name'));
      assert.notEqual(unnamed, token);
      fails(
        await cli(server.env, 'scim-token', 'create', '--name', 'entra'),
        1,
        /already exists/,
        'same name twice',
      );

      const list = JSON.parse(
        ok(await cli(server.env, 'scim-token', 'list', '--json'), 'list --json'),
      ) as Array<Record<string, unknown>>;
      assert.equal(list.length, 2);
      const entra = list.find((t) => t.name === 'entra') as Record<string, unknown>;
      assert.deepEqual(Object.keys(entra).sort(), ['createdAt', 'id', 'lastUsedAt', 'name', 'revokedAt']);
      assert.ok(entra.lastUsedAt, 'the SCIM request was noted');
      assert.equal(entra.revokedAt, null);
      assert.ok(!JSON.stringify(list).includes('wax_scim_'), 'list never shows a token');
      const table = ok(await cli(server.env, 'scim-token', 'list'), 'list');
      assert.match(table, /\tentra\tactive\t/);

      assert.match(
        ok(await cli(server.env, 'scim-token', 'revoke', 'entra'), 'revoke'),
        /^revoked SCIM token entra/,
      );
      assert.equal((await scim.get('/Users')).status, 401, 'revoked: the next request is refused');
      assert.equal(
        (await new ScimClient(server.base, unnamed).get('/Users')).status,
        200,
        'the other token still works',
      );
      fails(await cli(server.env, 'scim-token', 'revoke', 'entra'), 1, /No SCIM token/, 'revoked twice');
      fails(
        await cli(server.env, 'scim-token', 'revoke'),
        2,
        /expected exactly one SCIM token id or name/,
        'no argument',
      );
      const id = list.find((t) => t.name !== 'entra')?.id as string;
      ok(await cli(server.env, 'scim-token', 'revoke', id), 'revoke by id');
      assert.equal((await new ScimClient(server.base, unnamed).get('/Users')).status, 401);
    });
  });
}
