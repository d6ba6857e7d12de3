/**
 * B4 (connections list, bench/list.ts) and B5 (revocation propagation,
 * bench/propagation.ts) are their own scripts; the runner calls them as child
 * processes and reads the Markdown table each prints.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { postgresSkip } from '../../test/helpers/server.js';
import { killOnExit } from '../children.js';
import type { Bench, Row } from '../context.js';

const ROOT = new URL('../..', import.meta.url).pathname;

/** Runs `node --import tsx <script> ...args`; its progress (stderr) passes through, its stdout is returned. */
function runScript(script: string, args: string[], timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', script, ...args], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    killOnExit(child);
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
    });
    const timer = setTimeout(() => child.kill('SIGTERM'), timeoutMs);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve(out);
      else reject(new Error(`${script} ${args.join(' ')} ended with ${signal ?? code}:\n${out}`));
    });
  });
}

/** The data rows of the Markdown tables in `text`, as trimmed cells. */
export function tableRows(text: string): string[][] {
  return text
    .split('\n')
    .filter((line) => line.startsWith('|') && !line.startsWith('|---'))
    .map((line) =>
      line
        .slice(1, -1)
        .split('|')
        .map((c) => c.trim()),
    );
}

const LIST_SCRIPT = 'bench/list.ts';

export function sizeOf(n: number): string {
  return n >= 1000 ? `${(n / 1000).toFixed(0)}k` : String(n);
}

export async function b4(b: Bench): Promise<Row[]> {
  const target = 'p50 < 50 ms at 100k; growth 1k→100k ≤ 2×';
  if (!existsSync(`${ROOT}${LIST_SCRIPT}`)) {
    return [
      {
        id: 'B4',
        what: 'connections list',
        target,
        met: null,
        note: `${LIST_SCRIPT} is not there yet: skipped`,
      },
    ];
  }
  const large = b.settings.scale;
  const requests = b.settings.quick ? '5' : '100';
  const list = async (n: number) =>
    tableRows(
      await runScript(LIST_SCRIPT, ['--connections', String(n), '--requests', requests], 20 * 60_000),
    ).filter((cells) => cells[0] === 'sqlite' || cells[0] === 'postgres');
  const small = await list(1000);
  const big = await list(large);
  const p50 = (cells: string[] | undefined) => Number(cells?.[3]);
  const rows: Row[] = [];
  for (const cells of big) {
    const [database, request] = cells;
    if (!(request === 'first page' || request?.startsWith('search'))) continue;
    const at1k = small.find((c) => c[0] === database && c[1] === request);
    const growth = p50(cells) / p50(at1k);
    rows.push({
      id: 'B4',
      what: `list ${request} at ${sizeOf(large)} connections, ${database === 'sqlite' ? 'SQLite' : 'PostgreSQL'}`,
      p50: p50(cells),
      p99: Number(cells[4]),
      baseline: { what: 'itself at 1k', p50: p50(at1k), p99: Number(at1k?.[4]) },
      ratio: `${growth.toFixed(2)}× p50`,
      target,
      met: p50(cells) < 50 && growth <= 2,
      note: large < 100_000 ? `${sizeOf(large)}, not 100k` : undefined,
    });
  }
  if (rows.length === 0) {
    return [
      { id: 'B4', what: 'connections list', target, met: null, note: `no table read from ${LIST_SCRIPT}` },
    ];
  }
  return rows;
}

export async function b5(b: Bench): Promise<Row[]> {
  const target = 'p99 < 100 ms';
  const skip = await postgresSkip();
  if (skip) return [{ id: 'B5', what: 'revocation propagation', target, met: null, note: skip }];
  const samples = b.settings.samples;
  const out = await runScript('bench/propagation.ts', ['--samples', String(samples)], 10 * 60_000);
  const row = tableRows(out).find((cells) => cells[0] === String(samples));
  if (!row) throw new Error(`no B5 table in the output of bench/propagation.ts:\n${out}`);
  const p99 = Number(row[2]);
  return [
    {
      id: 'B5',
      what: `revocation propagation, revoke on A → first 401 on B, PostgreSQL, ${samples} samples`,
      p50: Number(row[1]),
      p99,
      target,
      met: p99 < 100,
      note: `max ${row[3]} ms`,
    },
  ];
}
