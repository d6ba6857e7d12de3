/**
 * What the scenarios share in one run: the settings, the result rows, and the
 * servers, started on first use and stopped at the end, so that B1–B3 and B6
 * load one and the same Waxseal instance.
 */
import { basename } from 'node:path';
import { type Child, startScript } from './children.js';
import { type Deployment, deployWaxseal } from './waxseal.js';

export interface Settings {
  quick: boolean;
  rounds: number;
  /** Warm-up and measured seconds of each load run. */
  warmup: number;
  seconds: number;
  connections: number;
  /** Connections in the database for B4's large list and for B6 (100k; 2k in --quick). */
  scale: number;
  /** B5 revocations to time (200; 30 in --quick). */
  samples: number;
  /** Directory for --cpu-prof profiles of the server children, if profiling. */
  profileDir?: string;
  /**
   * Another checkout of Waxseal (the tree before a change, or with a proposed
   * one), named after its directory: B1 and B3 measure it too, alternating.
   */
  compare?: { name: string; dir: string };
}

/** This checkout, as opposed to a --compare one. */
export const CURRENT = 'current';

export const FULL = { rounds: 3, warmup: 3, seconds: 10, scale: 100_000, samples: 200 };
export const QUICK = { rounds: 1, warmup: 1, seconds: 2, scale: 2_000, samples: 30 };

/** One line of the table. Figures are medians over the rounds. */
export interface Row {
  id: string;
  what: string;
  p50?: number;
  p99?: number;
  rps?: number;
  /** Server CPU time per request, µs (see load.ts). */
  cpuUs?: number;
  /** The upstream's own CPU time per request, µs, apart from the server's (gateway scenarios). */
  upstreamCpuUs?: number;
  /** A figure that is not a latency or a rate (B6 memory). */
  value?: string;
  baseline?: {
    what: string;
    p50?: number;
    p99?: number;
    rps?: number;
    cpuUs?: number;
    upstreamCpuUs?: number;
  };
  ratio?: string;
  target: string;
  /** null: nothing to judge (context rows, or the scenario could not run). */
  met: boolean | null;
  note?: string;
}

export class Bench {
  readonly rows: Row[] = [];
  /** Scenarios that have completed in this run. */
  readonly ran = new Set<string>();
  /** Scenario results other scenarios depend on (B2 and B7 on B1). */
  readonly memo = new Map<string, Promise<unknown>>();
  private readonly deployments = new Map<string, Promise<Deployment>>();
  private readonly children = new Map<string, Promise<Child>>();
  /** Anything else a scenario started, stopped at the end. */
  readonly stops: (() => Promise<void>)[] = [];

  constructor(readonly settings: Settings) {}

  /** The Waxseal variants to measure: this checkout, and the --compare one if given. */
  variants(): string[] {
    return [CURRENT, ...(this.settings.compare ? [this.settings.compare.name] : [])];
  }

  /**
   * The Waxseal deployment on `kind` (of `variant`: see variants()), started once per run;
   * `extra` names a deployment with more settings (gateway mode: its upstreams).
   */
  waxseal(
    kind: 'sqlite' | 'postgres',
    variant = CURRENT,
    extra?: { name: string; env: Record<string, string> },
  ): Promise<Deployment> {
    const key = `${kind}-${variant}${extra ? `-${extra.name}` : ''}`;
    let d = this.deployments.get(key);
    if (!d) {
      const cwd = variant === CURRENT ? undefined : this.settings.compare?.dir;
      d = deployWaxseal(kind, { nodeArgs: this.nodeArgs(`waxseal-${key}`), cwd, env: extra?.env });
      this.deployments.set(key, d);
    }
    return d;
  }

  /**
   * Node flags for a server child: with --profile, a CPU profile in a directory
   * of its own (node writes one per thread, and the tsx loader has its own thread).
   */
  nodeArgs(name: string): string[] {
    const dir = this.settings.profileDir;
    return dir ? ['--cpu-prof', `--cpu-prof-dir=${dir}/${name}`] : [];
  }

  /** A bench server script, started once per run (with `env` added to its environment). */
  script(path: string, env?: Record<string, string>): Promise<Child> {
    let c = this.children.get(path);
    if (!c) {
      c = startScript(path, { env, nodeArgs: this.nodeArgs(basename(path, '.ts')) });
      this.children.set(path, c);
    }
    return c;
  }

  /** Runs `fn` once per run under `key`, whoever asks first. */
  once<T>(key: string, fn: () => Promise<T>): Promise<T> {
    let p = this.memo.get(key) as Promise<T> | undefined;
    if (!p) {
      p = fn();
      this.memo.set(key, p);
    }
    return p;
  }

  async close(): Promise<void> {
    const settle = async <T>(p: Promise<T>, stop: (v: T) => Promise<void>) => {
      try {
        await stop(await p);
      } catch {
        // it never started; nothing to stop
      }
    };
    await Promise.all([
      ...[...this.deployments.values()].map((d) => settle(d, (x) => x.stop())),
      ...[...this.children.values()].map((c) => settle(c, (x) => x.stop())),
      ...this.stops.map((stop) => stop().catch(() => undefined)),
    ]);
  }
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}
