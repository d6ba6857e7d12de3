import type { Logger } from 'pino';
import type { Clock } from '../domain/clock.js';
import type { Store } from '../store/db.js';
import type { LastUseBuffer } from './context.js';
import { writeLastUsed } from './transitions.js';

/** SPEC §12: a connection's last use is written at most this often (per instance). */
export const LAST_USED_EVERY_MS = 60_000;
/** How often the buffer looks for uses that are due; a use waits at most this long past its minute. */
const TICK_MS = 1000;

interface Use {
  at: number;
  ip: string;
}

/**
 * SPEC §12 last used, written behind the request. A /mcp request only notes
 * (connection id → latest time and IP) in memory; a timer writes the noted
 * uses in one transaction per batch, each connection at most once a
 * LAST_USED_EVERY_MS, and close() writes what is left at shutdown. So the hot
 * path never waits on, nor issues, a database write; a crash loses at most
 * the last minute of "last used", never anything that matters for security.
 */
export class LastUsed implements LastUseBuffer {
  private readonly pending = new Map<string, Use>();
  /** When this instance last wrote each connection (clock time); absent means due at once. */
  private readonly written = new Map<string, number>();
  private timer: NodeJS.Timeout | null = null;
  private flushing: Promise<void> | null = null;

  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
    private readonly log: Logger,
  ) {}

  /** The hot path: one Map write. */
  record(connectionId: string, ip: string): void {
    this.pending.set(connectionId, { at: this.clock.now(), ip });
  }

  start(tickMs = TICK_MS): void {
    this.timer ??= setInterval(() => void this.flush(false), tickMs);
    this.timer.unref();
  }

  /** Graceful shutdown: stop the timer and write every noted use. */
  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.flush(true);
  }

  /**
   * Writes the noted uses that are due (or all of them, `everything`), one
   * transaction for the batch. Noting nothing new costs no query.
   */
  async flush(everything = true): Promise<void> {
    while (this.flushing) await this.flushing;
    const now = this.clock.now();
    for (const [id, at] of this.written) if (now - at >= LAST_USED_EVERY_MS) this.written.delete(id);
    const batch: Array<Use & { id: string }> = [];
    for (const [id, use] of this.pending) {
      if (everything || !this.written.has(id)) batch.push({ id, ...use });
    }
    if (batch.length === 0) return;
    for (const use of batch) {
      this.pending.delete(use.id);
      this.written.set(use.id, now);
    }
    this.flushing = this.store
      .transact((tx) => writeLastUsed(tx, batch))
      .catch((err: unknown) => {
        // Kept for the next tick unless a newer use was noted meanwhile.
        for (const use of batch) if (!this.pending.has(use.id)) this.pending.set(use.id, use);
        for (const use of batch) this.written.delete(use.id);
        this.log.warn({ err: (err as Error).message, uses: batch.length }, 'could not write last used');
      })
      .finally(() => {
        this.flushing = null;
      });
    await this.flushing;
  }
}
