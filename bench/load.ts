/**
 * One load run with autocannon from this process: a closed loop of N keep-alive
 * connections. Latencies are kept at full precision (autocannon's own histogram
 * rounds to whole milliseconds, too coarse for "added latency < 1 ms").
 */
import autocannon, { type Client, type Request } from 'autocannon';
import { percentile } from './report.js';

export interface LoadSpec {
  /** Base URL of the server; the path comes from `path` or from each request. */
  url: string;
  path?: string;
  connections: number;
  method?: string;
  headers?: Record<string, string>;
  body?: string;
  /** Dynamic requests (per-connection state); overrides method, headers and body. */
  requests?: Request[];
  setupClient?: (client: Client) => void;
  /**
   * Load for this long first, uncounted, on the same connections (issue 13:
   * new client sockets make V8 deoptimize and compile Node's socket and HTTP
   * code again, in whichever process they reach; clients keep their connections).
   */
  warmup?: number;
  /** Run for this long (after the warm-up)... */
  seconds?: number;
  /** ...or until this many responses, each connection stopping after its share. */
  amount?: number;
  /** Every response must have this status, or the run is not a measurement of what it claims. */
  expectStatus: number;
  /** The server process, whose CPU time per response is reported. */
  server?: { cpuMs(): number };
  /** Other processes whose CPU time per response is reported apart (an upstream behind the server). */
  upstream?: { cpuMs(): number };
}

export interface Shot {
  requests: number;
  /** Responses per second. */
  rps: number;
  p50: number;
  p99: number;
  /** Server CPU time per response in µs: what a request costs, whatever else the machine is doing. */
  cpuUs: number;
  /** The upstream's CPU time per response in µs (NaN without one). */
  upstreamCpuUs: number;
  statuses: Record<string, number>;
}

export function fire(spec: LoadSpec): Promise<Shot> {
  const latencies: number[] = [];
  const statuses: Record<string, number> = {};
  let last = 0;
  let started = 0;
  let cpuBefore = Number.NaN;
  let upstreamBefore = Number.NaN;
  let counting = false;
  /** From now on responses, time and CPU count. */
  const count = () => {
    counting = true;
    started = performance.now();
    cpuBefore = spec.server?.cpuMs() ?? Number.NaN;
    upstreamBefore = spec.upstream?.cpuMs() ?? Number.NaN;
  };
  const warmup = spec.amount ? 0 : (spec.warmup ?? 0);
  if (warmup > 0) setTimeout(count, warmup * 1000);
  else count();
  return new Promise((resolve, reject) => {
    const instance = autocannon(
      {
        url: `${spec.url}${spec.path ?? ''}`,
        connections: spec.connections,
        pipelining: 1,
        timeout: 30,
        ...(spec.amount ? { amount: spec.amount } : { duration: warmup + (spec.seconds ?? 1) }),
        ...(spec.requests
          ? { requests: spec.requests }
          : { method: spec.method ?? 'GET', headers: spec.headers, body: spec.body }),
        ...(spec.setupClient ? { setupClient: spec.setupClient } : {}),
      },
      (err, result) => {
        if (err) return reject(err);
        const seconds = (last - started) / 1000;
        const cpuUs = (((spec.server?.cpuMs() ?? Number.NaN) - cpuBefore) * 1000) / latencies.length;
        const upstreamCpuUs =
          (((spec.upstream?.cpuMs() ?? Number.NaN) - upstreamBefore) * 1000) / latencies.length;
        const unexpected = Object.keys(statuses).filter((s) => Number(s) !== spec.expectStatus);
        if (result.errors > 0 || unexpected.length > 0) {
          return reject(
            new Error(
              `load on ${spec.path ?? spec.url}: ${result.errors} errors (${result.timeouts} timeouts), statuses ${JSON.stringify(statuses)}, expected only ${spec.expectStatus}`,
            ),
          );
        }
        latencies.sort((a, b) => a - b);
        resolve({
          requests: latencies.length,
          rps: latencies.length / seconds,
          p50: percentile(latencies, 50),
          p99: percentile(latencies, 99),
          cpuUs,
          upstreamCpuUs,
          statuses,
        });
      },
    );
    instance.on('response', (_client: Client, status: number, _bytes: number, ms: number) => {
      if (!counting) {
        statuses[status] = (statuses[status] ?? 0) + 1;
        return;
      }
      latencies.push(ms);
      statuses[status] = (statuses[status] ?? 0) + 1;
      last = performance.now();
    });
  });
}
