/**
 * Instructions per call (issue 13): what one proxied `tools/call echo` (G1) or
 * one `whoami` (B1) costs a server, in machine instructions counted by
 * valgrind's callgrind. On this shared two-core machine a process's CPU time
 * per call moves by 30 % or more from one round to the next (other tenants,
 * the upstream and the load generator on the same cores), more than most
 * single changes to the hot path save; an instruction count is the same
 * whatever else the machine does, so a change of a few per cent shows.
 *
 *   node --import tsx bench/instructions.ts [--only G1,B1] [--compare DIR] [--calls N] [--warm N] [--keep]
 *                                           [--node-args "--v8-flag …"]
 *
 * Each server runs under callgrind with its counting off while it serves
 * `warm` calls (start-up, sign-in and the JIT's warm-up: V8 still compiles
 * hot functions hundreds of calls in, and that compiling was half of what a
 * count after 300 calls held), then on for `calls` calls on the same
 * connections, then off: the count over `calls` is a call's cost in steady
 * state. The references run the same way: the thinnest proxy for G1
 * (bench/servers/thin-proxy.ts: what forwarding alone costs) and the SDK's
 * per-request server for B1 (bench/servers/mcp-baseline.ts, B1's baseline).
 * The upstream and the load generator run outside valgrind. A G1 subject takes some five minutes.
 * Needs valgrind (Debian's package); not part of `npm test`.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import autocannon, { type Result } from 'autocannon';
import { startEverythingHttp } from '../test/helpers/upstreams.js';
import { type Child, startScript } from './children.js';
import { ECHO_CALL, initialize } from './scenarios/gateway.js';
import { MCP_HEADERS, WHOAMI_CALL } from './scenarios/mcp.js';
import { deployWaxseal } from './waxseal.js';

const { values } = parseArgs({
  options: {
    only: { type: 'string', default: 'G1,B1' },
    compare: { type: 'string' },
    calls: { type: 'string', default: '1000' },
    warm: { type: 'string', default: '3000' },
    keep: { type: 'boolean', default: false },
    'node-args': { type: 'string', default: '' },
  },
});
const calls = Number(values.calls);
const warm = Number(values.warm);
const scenarios = (values.only ?? '').split(',').map((s) => s.trim().toUpperCase());
const compare = values.compare ? resolve(values.compare) : undefined;
const nodeArgs = (values['node-args'] ?? '').split(' ').filter(Boolean);

try {
  execFileSync('valgrind', ['--version'], { stdio: 'ignore' });
} catch {
  console.error('bench/instructions.ts needs valgrind (apt-get install valgrind)');
  process.exit(2);
}

const out = mkdtempSync(join(tmpdir(), 'waxseal-callgrind-'));
// --keep: the callgrind files stay, for callgrind_annotate (which functions the instructions went to).
if (values.keep) console.log(`callgrind files in ${out}`);
else process.once('exit', () => rmSync(out, { recursive: true, force: true }));
let runs = 0;

/**
 * The user and host valgrind and callgrind_control name their shared files
 * after: the same on both sides (a server's environment has neither).
 */
const VGDB_NAMES = { LOGNAME: 'waxseal-bench', HOST: 'localhost' };

/** A callgrind run of its own: the wrapper command and where its total will be. */
function callgrind(): { wrapper: string[]; total: () => number } {
  const file = join(out, `run-${++runs}.out`);
  return {
    wrapper: [
      'env',
      ...Object.entries(VGDB_NAMES).map(([name, value]) => `${name}=${value}`),
      'valgrind',
      '--tool=callgrind',
      '--smc-check=all', // V8 writes and rewrites its machine code
      '--cache-sim=no',
      '--dump-instr=no',
      '--instr-atstart=no', // counted only between `counting(pid, true)` and `counting(pid, false)`
      `--callgrind-out-file=${file}`,
    ],
    total: () => {
      // `totals`, what was counted; `summary` reads 0 once counting was turned off before the end.
      const totals = /^totals: (\d+)/m.exec(readFileSync(file, 'utf8'))?.[1];
      if (!totals) throw new Error(`no callgrind totals in ${file}`);
      return Number(totals);
    },
  };
}

/** Turns callgrind's counting in process `pid` on or off. */
function counting(pid: number, on: boolean): void {
  execFileSync('callgrind_control', [`--instr=${on ? 'on' : 'off'}`, String(pid)], {
    stdio: 'ignore',
    env: { ...process.env, ...VGDB_NAMES },
  });
}

/** A server started under callgrind, made ready to be called, and stopped. */
interface Started {
  pid: number;
  url: string;
  headers: Record<string, string>;
  body: string;
  stop(): Promise<void>;
}

/**
 * One call checked for the expected answer, then `warm` + `calls` calls four at
 * a time on the same four connections, counted only for the last `calls`:
 * counting is turned on when the `warm`-th answer arrives and off with the
 * last. One run of the load generator, so that the counted calls open no
 * connection: a new client socket makes V8 deoptimize Node's HTTP code
 * ("wrong map") and compile it again, which a server with long-lived clients
 * does not do per call. Counting starts with up to three calls already sent,
 * so `calls` is exact within three.
 */
async function load(s: Started, expect: string): Promise<void> {
  // Under valgrind the upstream's keep-alive (5 s) may close a socket just as Waxseal reuses it,
  // after the slow sign-in: the first call is tried again then (a call not sent twice otherwise).
  let check: Response | undefined;
  let text = '';
  for (let attempt = 0; attempt < 3 && !text.includes(expect); attempt++) {
    check = await fetch(s.url, { method: 'POST', headers: s.headers, body: s.body });
    text = await check.text();
  }
  if (check?.status !== 200 || !text.includes(expect)) {
    throw new Error(`${s.url} answered ${check?.status}: ${text.slice(0, 300)}`);
  }
  let answered = 0;
  // With no warm-up the first call of the run is counted too (no answer is the 0th).
  if (warm === 0) counting(s.pid, true);
  const result = await new Promise<Result>((resolve, reject) => {
    const run = autocannon(
      {
        url: s.url,
        connections: 4,
        amount: warm + calls,
        method: 'POST',
        headers: s.headers,
        body: s.body,
      },
      (err, r) => (err ? reject(err) : resolve(r)),
    );
    run.on('response', () => {
      answered++;
      if (answered === warm) counting(s.pid, true);
      if (answered === warm + calls) counting(s.pid, false);
    });
  });
  if (result.non2xx > 0 || result.errors > 0 || answered !== warm + calls) {
    throw new Error(
      `${s.url}: ${result.non2xx} answers not 2xx, ${result.errors} errors, ${answered} answers`,
    );
  }
}

/** Instructions per call of one subject: `calls` calls counted after `warm` uncounted ones. */
async function perCall(start: (wrapper: string[]) => Promise<Started>, expect: string): Promise<number> {
  const run = callgrind();
  const s = await start(run.wrapper);
  try {
    await load(s, expect);
  } finally {
    await s.stop();
  }
  return run.total() / calls;
}

/** Waxseal (this checkout, or `cwd`), signed in through the real flow; in gateway mode with `upstream`. */
function waxseal(cwd: string | undefined, upstream: string | undefined, body: string) {
  return async (wrapper: string[]): Promise<Started> => {
    const d = await deployWaxseal('sqlite', {
      cwd,
      wrapper,
      nodeArgs,
      env: upstream ? { UPSTREAM_MCP_URL: upstream } : {},
    });
    const [grant] = await d.connect(1);
    const url = `${d.instance.url}/mcp`;
    const bearer = { authorization: `Bearer ${grant?.accessToken as string}` };
    const headers = { ...MCP_HEADERS, ...(upstream ? await initialize(url, bearer) : bearer) };
    return { pid: d.instance.pid, url, headers, body, stop: () => d.stop() };
  };
}

/** A bench server script (thin proxy, SDK baseline) under callgrind. */
function script(path: string, env: Record<string, string>, body: string, session: boolean, at = '') {
  return async (wrapper: string[]): Promise<Started> => {
    const child: Child = await startScript(path, { env, wrapper, nodeArgs });
    const url = `${child.url}${at}`;
    const headers = { ...MCP_HEADERS, ...(session ? await initialize(url, {}) : {}) };
    return { pid: child.pid, url, headers, body, stop: () => child.stop() };
  };
}

interface Line {
  scenario: string;
  subject: string;
  instructions: number;
}
const lines: Line[] = [];
const note = (scenario: string, subject: string, instructions: number) => {
  lines.push({ scenario, subject, instructions });
  console.log(
    `${scenario} ${subject}: ${Math.round(instructions).toLocaleString('en')} instructions per call`,
  );
};
const variants: [string, string | undefined][] = [
  ['this checkout', undefined],
  ...(compare ? ([[basename(compare), compare]] as [string, string][]) : []),
];

if (scenarios.includes('G1')) {
  const everything = await startEverythingHttp();
  try {
    for (const [name, cwd] of variants) {
      note('G1', `Waxseal (${name})`, await perCall(waxseal(cwd, everything.url, ECHO_CALL), 'Echo: hello'));
    }
    const thin = script('bench/servers/thin-proxy.ts', { UPSTREAM_URL: everything.url }, ECHO_CALL, true);
    note('G1', 'thinnest proxy (reference)', await perCall(thin, 'Echo: hello'));
  } finally {
    everything.kill();
  }
}
if (scenarios.includes('B1')) {
  for (const [name, cwd] of variants) {
    note('B1', `Waxseal (${name})`, await perCall(waxseal(cwd, undefined, WHOAMI_CALL), 'connectionId'));
  }
  const sdk = script('bench/servers/mcp-baseline.ts', {}, WHOAMI_CALL, false, '/mcp');
  note('B1', 'MCP SDK per-request server (reference)', await perCall(sdk, 'connectionId'));
}

console.log(
  `\n| scenario | server | instructions per call (callgrind, ${calls} calls counted after ${warm}) |`,
);
console.log('|---|---|---|');
for (const l of lines) {
  console.log(`| ${l.scenario} | ${l.subject} | ${Math.round(l.instructions).toLocaleString('en')} |`);
}
process.exit(0);
