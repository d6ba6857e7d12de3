import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';

const ROOT = new URL('../..', import.meta.url).pathname;
const DOC = `${ROOT}docs/benchmarks.md`;
const read = (path: string) => {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return null;
  }
};

/**
 * Issue #5: the benchmark code must not rot. Every scenario runs in --quick
 * mode with tiny runs and must finish and print its row of the table. Timings
 * are never asserted: they depend on the machine, not on the code.
 */
describe('issue #5 benchmarks', () => {
  test('npm run bench:quick runs every scenario to completion and prints one table', {
    timeout: 15 * 60_000,
  }, () => {
    const docBefore = read(DOC);
    const run = spawnSync(
      process.execPath,
      [
        '--import',
        'tsx',
        'bench/run.ts',
        '--quick',
        '--warmup',
        '0.5',
        '--seconds',
        '1',
        '--connections',
        '8',
        '--scale',
        '2000',
        '--samples',
        '5',
        '--no-write',
      ],
      { cwd: ROOT, encoding: 'utf8', timeout: 14 * 60_000 },
    );
    assert.equal(run.status, 0, `bench/run.ts failed:\n${run.stdout}\n${run.stderr}`);
    assert.match(run.stdout, /\| # \| scenario \| p50 ms \| p99 ms \|/);
    for (const id of ['B1', 'B2', 'B3', 'B4', 'B5', 'B6', 'B7', 'G1', 'G2']) {
      assert.match(run.stdout, new RegExp(`^\\| ${id} \\| `, 'm'), `no ${id} row in:\n${run.stdout}`);
    }
    assert.doesNotMatch(run.stdout, /\| failed/);
    assert.equal(read(DOC), docBefore, '--no-write must leave docs/benchmarks.md alone');
  });
});
