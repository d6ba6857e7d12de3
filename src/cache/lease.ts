import type { Clock } from '../domain/clock.js';

/**
 * How long the cache may answer without asking the database. A watcher that
 * can vouch for every change committed before time S grants the cache a lease
 * until S + length; when proofs stop coming, the lease runs out by itself, and
 * an unproven cache is never trusted for longer than `length` (issue #4).
 */
export class Lease {
  private until: number;

  constructor(
    private readonly clock: Clock,
    private readonly length: number,
    /** Whether the lease starts valid: SQLite's watcher needs no proofs, PostgreSQL's must earn them. */
    forever: boolean,
  ) {
    this.until = forever ? Number.POSITIVE_INFINITY : 0;
  }

  /** Every change committed before `provenAt` has been applied. */
  prove(provenAt: number): void {
    this.until = Math.max(this.until, provenAt + this.length);
  }

  revoke(): void {
    this.until = 0;
  }

  valid(): boolean {
    return this.clock.now() < this.until;
  }
}
