/**
 * The benchmark runner (issue #5): starts what each scenario needs, runs it
 * after a warm-up against its baseline in the same run, prints one table of
 * medians and writes it to docs/benchmarks.md.
 *
 *   npm run bench                      3 rounds, the table goes to docs/benchmarks.md
 *   npm run bench:quick                1 round, short runs; the doc is left alone
 *   node --import tsx bench/run.ts --only B1,B3 [--quick] [--seconds S] [--warmup S]
 *        [--rounds N] [--connections N] [--scale N] [--samples N] [--profile DIR]
 *        [--compare DIR] [--write | --no-write]
 *
 * --compare DIR: B1, B3, G1 and G2 also measure Waxseal run from DIR (a copy of the tree
 * before a change, or with a proposed one, with node_modules), alternating with
 * this one; its rows are named after the directory.
 */
import { mkdirSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { Bench, FULL, QUICK, type Row, type Settings } from './context.js';
import { DOC, machine, section, tableOf, writeSection } from './document.js';
import { b4, b5 } from './scenarios/external.js';
import { g1, g2 } from './scenarios/gateway.js';
import { b1, b2, b7 } from './scenarios/mcp.js';
import { b6 } from './scenarios/memory.js';
import { b3 } from './scenarios/refresh.js';

/** B6 measures the instance B1–B4 loaded, so it comes after them. */
const SCENARIOS: [string, (b: Bench) => Promise<Row[]>][] = [
  ['B1', b1],
  ['B2', b2],
  ['B7', b7],
  ['B3', b3],
  ['B4', b4],
  ['B5', b5],
  ['B6', b6],
  ['G1', g1],
  ['G2', g2],
];

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    only: { type: 'string' },
    rounds: { type: 'string' },
    seconds: { type: 'string' },
    warmup: { type: 'string' },
    connections: { type: 'string' },
    scale: { type: 'string' },
    samples: { type: 'string' },
    profile: { type: 'string' },
    compare: { type: 'string' },
    write: { type: 'boolean' },
  },
  allowNegative: true,
});

const defaults = values.quick ? QUICK : FULL;
const settings: Settings = {
  quick: values.quick ?? false,
  rounds: Number(values.rounds ?? defaults.rounds),
  warmup: Number(values.warmup ?? defaults.warmup),
  seconds: Number(values.seconds ?? defaults.seconds),
  connections: Number(values.connections ?? 50),
  scale: Number(values.scale ?? defaults.scale),
  samples: Number(values.samples ?? defaults.samples),
  profileDir: values.profile ? resolve(values.profile) : undefined,
  compare: values.compare
    ? { name: basename(resolve(values.compare)), dir: resolve(values.compare) }
    : undefined,
};
const known = SCENARIOS.map(([id]) => id);
const only = values.only?.split(',').map((s) => s.trim().toUpperCase());
const unknown = only?.filter((id) => !known.includes(id)) ?? [];
if (unknown.length) {
  console.error(`unknown scenario ${unknown.join(', ')}; choose from ${known.join(', ')}`);
  process.exit(2);
}
if (settings.profileDir) mkdirSync(settings.profileDir, { recursive: true });

// An interrupted run still stops its servers (children.ts kills them on exit).
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => process.exit(130));

const started = new Date();
const machineLine = machine();
const bench = new Bench(settings);
let failed = false;
try {
  for (const [id, scenario] of SCENARIOS) {
    if (only && !only.includes(id)) continue;
    const t0 = performance.now();
    console.error(`${id}: running…`);
    try {
      bench.rows.push(...(await scenario(bench)));
      bench.ran.add(id);
    } catch (err) {
      failed = true;
      console.error(`${id} failed:`, err);
      bench.rows.push({
        id,
        what: 'failed',
        target: '—',
        met: null,
        note: String((err as Error).message)
          .replace(/\s+/g, ' ')
          .slice(0, 200),
      });
    }
    console.error(`${id}: ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  }
  // B2 and B7 are relative to B1: when B1 was measured only for them, show it too.
  if (only && !only.includes('B1') && bench.memo.has('B1')) bench.rows.unshift(...(await b1(bench)));
} finally {
  await bench.close();
}

const command =
  process.env.npm_lifecycle_event === 'bench' || process.env.npm_lifecycle_event === 'bench:quick'
    ? `npm run ${process.env.npm_lifecycle_event}`
    : `node --import tsx bench/run.ts ${process.argv.slice(2).join(' ')}`.trim();
console.log(`\n### Waxseal benchmarks (${settings.quick ? 'quick' : 'full'})\n`);
console.log(`Machine: ${machineLine}\n`);
console.log(tableOf(bench.rows));

const write = values.write ?? (!settings.quick && !only && !failed);
if (write) {
  writeSection(section(bench.rows, settings, command, started, machineLine));
  console.log(`\nWritten to ${DOC}`);
} else {
  console.log(`\n${DOC} left as it was (a quick, partial or failed run; --write writes it anyway).`);
}
process.exit(failed ? 1 : 0);
