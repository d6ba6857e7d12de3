/**
 * The servers under test run as child processes, each on its own event loop,
 * so the load generator (this process) never competes with them inside one loop.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { freePort } from '../test/helpers/server.js';
import { compiledCli } from './build.js';

const ROOT = new URL('..', import.meta.url).pathname;

export interface Child {
  url: string;
  port: number;
  pid: number;
  /** What the child reported when it became ready (IPC children only). */
  ready: Record<string, unknown>;
  output(): string;
  /** Resident set size in MB, read from the kernel. */
  rssMb(): number;
  /** CPU time (user + system) the process has used so far, in ms; NaN where /proc is missing. */
  cpuMs(): number;
  /** SIGTERM and wait: a graceful exit, which is also when --cpu-prof writes its profile. */
  stop(): Promise<void>;
}

export interface ChildOptions {
  env?: Record<string, string>;
  /** Extra flags for node, e.g. ['--cpu-prof', '--cpu-prof-dir=…'] (--profile). */
  nodeArgs?: string[];
  /** The port to listen on (when the environment must name it, e.g. in PUBLIC_URL); a free one otherwise. */
  port?: number;
  /** The checkout to run from (e.g. a copy of the tree before a change, for a before/after); this one by default. */
  cwd?: string;
  /** A command node runs under, e.g. ['valgrind', '--tool=callgrind', …] (bench/instructions.ts). */
  wrapper?: string[];
}

/** `waxseal serve` as `npm start` runs it (compiled: bench/build.ts), ready when /healthz answers. */
export function startWaxseal(env: Record<string, string>, options: ChildOptions = {}): Promise<Child> {
  return startChild(
    [compiledCli(options.cwd), 'serve'],
    { ...options, env: { LOG_LEVEL: 'warn', ...env } },
    'healthz',
  );
}

/** A bench server script (bench/servers/*.ts, through tsx), ready when it sends its first IPC message. */
export function startScript(script: string, options: ChildOptions = {}): Promise<Child> {
  return startChild(['--import', 'tsx', script], options, 'ipc');
}

/** Children still running: killed when this process exits, however it exits (a crash included). */
const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of running) child.kill('SIGTERM');
});

export function killOnExit(child: ChildProcess): void {
  running.add(child);
  child.once('exit', () => running.delete(child));
}

async function startChild(
  args: string[],
  options: ChildOptions,
  readiness: 'healthz' | 'ipc',
): Promise<Child> {
  const port = options.port ?? (await freePort());
  const node = [process.execPath, ...(options.nodeArgs ?? []), ...args];
  const [command, ...rest] = [...(options.wrapper ?? []), ...node] as [string, ...string[]];
  const child: ChildProcess = spawn(command, rest, {
    cwd: options.cwd ?? ROOT,
    env: {
      PATH: process.env.PATH ?? '',
      NODE_ENV: 'production',
      ...options.env,
      PORT: String(port),
      HOST: '127.0.0.1',
    },
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  killOnExit(child);
  let out = '';
  child.stdout?.on('data', (d) => {
    out += d;
  });
  child.stderr?.on('data', (d) => {
    out += d;
  });
  const url = `http://127.0.0.1:${port}`;
  const exited = new Promise<never>((_, reject) =>
    child.once('exit', (code) => reject(new Error(`${args.join(' ')} exited with ${code}: ${out}`))),
  );
  exited.catch(() => undefined);
  const ready =
    readiness === 'ipc'
      ? await Promise.race([
          new Promise<Record<string, unknown>>((resolve) =>
            child.once('message', (m) => resolve(m as Record<string, unknown>)),
          ),
          exited,
          timeout(60_000, () => `${args.join(' ')} did not start: ${out}`),
        ])
      : await Promise.race([
          waitForHealth(url, child, () => out, options.wrapper ? 300_000 : 90_000),
          exited,
        ]);
  const pid = child.pid as number;
  return {
    url,
    port,
    pid,
    ready,
    output: () => out,
    rssMb: () => rssMb(pid),
    cpuMs: () => cpuMs(pid),
    stop: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

async function waitForHealth(
  url: string,
  child: ChildProcess,
  out: () => string,
  /** Under a wrapper (valgrind runs a server some 50 times slower) start-up takes longer. */
  ms: number,
): Promise<Record<string, unknown>> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline && child.exitCode === null) {
    try {
      if ((await fetch(`${url}/healthz`)).ok) return {};
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`waxseal did not start: ${out()}`);
}

function timeout(ms: number, why: () => string): Promise<never> {
  return new Promise((_, reject) => setTimeout(() => reject(new Error(why())), ms).unref());
}

function rssMb(pid: number): number {
  if (process.platform === 'linux') {
    const line = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    if (line) return Number(line[1]) / 1024;
  }
  return Number(execFileSync('ps', ['-o', 'rss=', '-p', String(pid)], { encoding: 'utf8' }).trim()) / 1024;
}

/** Clock ticks per second for /proc/<pid>/stat; 100 on every Linux Node supports. */
const TICKS_PER_SECOND = 100;

export function cpuMs(pid: number): number {
  if (process.platform !== 'linux') return Number.NaN;
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name (which may hold spaces): utime and stime are the 12th and 13th.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / TICKS_PER_SECOND;
}

/** The processes `pid` started, and theirs (e.g. the stdio upstreams a Waxseal runs); Linux only. */
export function descendants(pid: number): number[] {
  if (process.platform !== 'linux') return [];
  let direct: number[] = [];
  try {
    direct = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8')
      .trim()
      .split(/\s+/)
      .filter(Boolean)
      .map(Number);
  } catch {
    return [];
  }
  return direct.flatMap((child) => [child, ...descendants(child)]);
}
