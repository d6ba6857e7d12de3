import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { test } from 'node:test';

const ROOT = new URL('../..', import.meta.url).pathname;

/**
 * Issue #6: the soak's short form runs in CI. Timing is reported, not asserted
 * (CI machines vary); correctness is: not one failed request, and the report printed.
 */
test('issue #6 soak: 60 s of mixed SDK and raw HTTP load, zero errors, report printed', {
  timeout: 180_000,
}, async () => {
  const child = spawn(process.execPath, ['--import', 'tsx', 'bench/soak.ts', '--seconds', '60'], {
    cwd: ROOT,
    env: { ...process.env, LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (d) => {
    out += d;
  });
  child.stderr.on('data', (d) => {
    out += d;
  });
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  console.log(out);
  assert.equal(code, 0, out);
  assert.match(out, /\| window \(s\) \| requests \| errors \| p50 ms \| p99 ms \| server RSS MB \|/);
  assert.equal((out.match(/^\| \d+-\d+ \| \d+ \| \d+ \|/gm) ?? []).length, 6, 'six 10-second windows');
  assert.match(out, /^errors: 0 \(error rate 0\.000%\)$/m);
  assert.match(out, /^server RSS: .* linear fit [+-]\d+\.\d+ MB\/min/m);
});
