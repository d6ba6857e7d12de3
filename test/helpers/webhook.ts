import { type ChildProcess, spawn } from 'node:child_process';
import { createHmac, timingSafeEqual } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';

const SCRIPT = new URL('./webhook-receiver.mjs', import.meta.url).pathname;

/** What the receiver process recorded: one request each. */
export interface Received {
  at: number;
  /** What the receiver answered: 200, or 503 while it refuses. */
  status: number;
  method: string;
  url: string;
  headers: Record<string, string>;
  body: string;
}

/**
 * A real webhook receiver process (SPEC §13 audit stream) on a fixed port, so it
 * can be stopped and started again at the same URL; every request it gets is in `file`.
 */
export class WebhookReceiver {
  private child: ChildProcess | null = null;
  constructor(
    readonly port: number,
    readonly file: string,
  ) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}/audit`;
  }

  /** `refuse`: answer the first that many requests with 503. */
  async start(refuse = 0): Promise<void> {
    const child = spawn(process.execPath, [SCRIPT, String(this.port), this.file, String(refuse)], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    this.child = child;
    await new Promise<void>((resolve, reject) => {
      child.stdout?.once('data', () => resolve());
      child.once('exit', (code) => reject(new Error(`webhook receiver exited with ${code}`)));
    });
  }

  async stop(): Promise<void> {
    const child = this.child;
    this.child = null;
    if (!child || child.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      child.once('exit', () => resolve());
      child.kill('SIGKILL');
    });
  }

  /** Every request recorded, refused ones included. */
  requests(): Received[] {
    if (!existsSync(this.file)) return [];
    return readFileSync(this.file, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as Received);
  }

  /** The requests it accepted (200): what a SIEM would have stored. */
  received(): Received[] {
    return this.requests().filter((r) => r.status === 200);
  }
}

/** The receiver's check of X-Waxseal-Signature: HMAC-SHA256 of the exact body, recomputed. */
export function signatureValid(secret: string, r: Received): boolean {
  const header = r.headers['x-waxseal-signature'] ?? '';
  const expected = `sha256=${createHmac('sha256', secret).update(r.body).digest('hex')}`;
  return header.length === expected.length && timingSafeEqual(Buffer.from(header), Buffer.from(expected));
}
