import type { UpstreamDefinition } from './config.js';

/** One upstream as GET /readyz reports it. */
export interface UpstreamReport {
  transport: 'http' | 'stdio';
  /** up: reachable / last request worked; down: unreachable / last request failed; unknown: not used yet. */
  status: 'up' | 'down' | 'unknown';
  latencyMs?: number;
  error?: string;
  lastOkAt?: string;
  lastErrorAt?: string;
  /** stdio: processes running on this instance (one per connection that used it lately). */
  processes?: number;
}

interface Observed {
  ok: boolean;
  at: number;
  error?: string;
  lastOkAt?: number;
}

const PROBE_LIMIT_MS = 2000;

/**
 * What Waxseal knows of each upstream: the outcome of real traffic, plus for
 * HTTP upstreams a probe at /readyz time. A probe is a plain GET without
 * credentials: any HTTP answer below 500 means the server is there; it opens no
 * MCP session and reveals no key.
 */
export class UpstreamHealth {
  private readonly observed = new Map<string, Observed>();

  constructor(
    private readonly upstreams: readonly UpstreamDefinition[],
    private readonly processes: (upstream: string) => number,
  ) {}

  succeeded(upstream: string): void {
    const at = Date.now();
    this.observed.set(upstream, { ok: true, at, lastOkAt: at });
  }

  failed(upstream: string, error: string): void {
    const previous = this.observed.get(upstream);
    this.observed.set(upstream, { ok: false, at: Date.now(), error, lastOkAt: previous?.lastOkAt });
  }

  async report(): Promise<Record<string, UpstreamReport>> {
    const entries = await Promise.all(
      this.upstreams.map(async (u): Promise<[string, UpstreamReport]> => {
        const seen = this.observed.get(u.name);
        const history: Partial<UpstreamReport> = {
          ...(seen?.lastOkAt ? { lastOkAt: new Date(seen.lastOkAt).toISOString() } : {}),
          ...(seen && !seen.ok ? { lastErrorAt: new Date(seen.at).toISOString() } : {}),
        };
        if (u.kind === 'stdio') {
          const status = seen ? (seen.ok ? 'up' : 'down') : 'unknown';
          return [
            u.name,
            {
              transport: 'stdio',
              status,
              processes: this.processes(u.name),
              ...(seen && !seen.ok ? { error: seen.error } : {}),
              ...history,
            },
          ];
        }
        const probe = await probeHttp(u.url, Math.min(u.timeoutMs, PROBE_LIMIT_MS));
        return [u.name, { transport: 'http', ...probe, ...history }];
      }),
    );
    return Object.fromEntries(entries);
  }
}

async function probeHttp(
  url: string,
  limitMs: number,
): Promise<Pick<UpstreamReport, 'status' | 'latencyMs' | 'error'>> {
  const started = Date.now();
  try {
    const res = await fetch(url, {
      method: 'GET',
      headers: { accept: 'text/event-stream' },
      signal: AbortSignal.timeout(limitMs),
      redirect: 'manual',
    });
    await res.body?.cancel().catch(() => undefined);
    const latencyMs = Date.now() - started;
    return res.status < 500
      ? { status: 'up', latencyMs }
      : { status: 'down', latencyMs, error: `HTTP ${res.status}` };
  } catch (err) {
    const e = err as { name?: string; cause?: { code?: string } };
    const error =
      e.name === 'TimeoutError' ? `no answer within ${limitMs} ms` : (e.cause?.code ?? 'unreachable');
    return { status: 'down', error };
  }
}
