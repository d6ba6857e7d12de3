/**
 * The benchmark table, for the console and for docs/benchmarks.md, where it
 * replaces only the section between the bench markers; every other section of
 * that file (e.g. the findings written by hand) is kept as it is.
 */
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, platform, release, totalmem } from 'node:os';
import type { Row, Settings } from './context.js';
import { markdownTable } from './report.js';

export const DOC = new URL('../docs/benchmarks.md', import.meta.url).pathname;
const START = '<!-- bench:start -->';
const END = '<!-- bench:end -->';

const HEADER = [
  '#',
  'scenario',
  'p50 ms',
  'p99 ms',
  'req/s (B6: RSS)',
  'server CPU µs/req',
  'baseline (same run)',
  'baseline p50 / p99 ms',
  'baseline req/s',
  'baseline CPU µs/req',
  'ratio',
  'target',
  'met',
];

function ms(n: number | undefined): string {
  if (n === undefined || Number.isNaN(n)) return '—';
  return n < 10 ? n.toFixed(2) : n.toFixed(1);
}

function count(n: number | undefined): string {
  return n === undefined || Number.isNaN(n) ? '—' : Math.round(n).toLocaleString('en-US');
}

/** Server CPU per request, with the upstream's own beside it where there is one. */
function cpu(own: number | undefined, upstream: number | undefined): string {
  if (upstream === undefined || Number.isNaN(upstream)) return count(own);
  return `${count(own)} (+ upstream ${count(upstream)})`;
}

function verdict(row: Row): string {
  if (row.met === null) return '—';
  return row.met ? 'met' : '**missed**';
}

export function tableOf(rows: Row[]): string {
  return markdownTable(
    HEADER,
    rows.map((r) => [
      r.id,
      r.note ? `${r.what} _(${r.note})_` : r.what,
      ms(r.p50),
      ms(r.p99),
      r.value ?? count(r.rps),
      cpu(r.cpuUs, r.upstreamCpuUs),
      r.baseline?.what ?? '—',
      r.baseline ? `${ms(r.baseline.p50)} / ${ms(r.baseline.p99)}` : '—',
      count(r.baseline?.rps),
      cpu(r.baseline?.cpuUs, r.baseline?.upstreamCpuUs),
      r.ratio ?? '—',
      r.target,
      verdict(r),
    ]),
  );
}

/** Cores, memory, Node and CPU, and how busy the machine was when the run began. */
export function machine(): string {
  const cpu = cpus();
  const load = loadavg().map((l) => l.toFixed(2));
  return [
    `${cpu.length} cores (${cpu[0]?.model.trim() ?? 'unknown CPU'})`,
    `${(totalmem() / 2 ** 30).toFixed(1)} GiB memory`,
    `Node ${process.version}`,
    `${platform()} ${release()}`,
    `load average at start ${load.join(' / ')}`,
  ].join(', ');
}

export function section(
  rows: Row[],
  settings: Settings,
  command: string,
  started: Date,
  machineLine: string,
): string {
  const mode = settings.quick ? 'quick' : 'full';
  return [
    START,
    `## Results (${mode} run, ${started.toISOString().slice(0, 16).replace('T', ' ')} UTC)`,
    '',
    `Command: \`${command}\` — ${settings.rounds} round(s) of ${settings.warmup} s warm-up + ${settings.seconds} s measured per load run; every figure is the median over the rounds; each baseline is measured in the same run, alternating with its subject.`,
    '',
    `Machine: ${machineLine}.`,
    '',
    tableOf(rows),
    END,
  ].join('\n');
}

/** Replaces this runner's section in docs/benchmarks.md, keeping the rest. */
export function writeSection(text: string): void {
  const old = existsSync(DOC) ? readFileSync(DOC, 'utf8') : '# Benchmarks\n\n';
  const from = old.indexOf(START);
  const to = old.indexOf(END);
  const next =
    from >= 0 && to > from
      ? `${old.slice(0, from)}${text}${old.slice(to + END.length)}`
      : `${old.trimEnd()}\n\n${text}\n`;
  writeFileSync(`${DOC}.tmp`, next);
  renameSync(`${DOC}.tmp`, DOC);
}
