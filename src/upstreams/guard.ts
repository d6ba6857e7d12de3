/** Why an upstream operation was stopped by Waxseal rather than answered by the upstream. */
export class UpstreamTimeout extends Error {
  constructor(readonly ms: number) {
    super(`no answer within ${ms} ms`);
  }
}
export class UpstreamLost extends Error {}
export class DownstreamCancelled extends Error {}

/**
 * The time limit of one upstream operation (issue #7: a slow upstream gives its
 * caller an error within `timeoutMs`). Progress restarts the clock; it stops
 * while the upstream waits for the client to answer a sampling or elicitation
 * request, since then the person, not the upstream, is slow. The signal also
 * fires when the downstream request is cancelled or the upstream connection is lost.
 */
export class Guard {
  private readonly controller = new AbortController();
  private timer: NodeJS.Timeout | undefined;
  private paused = 0;
  readonly signal = this.controller.signal;

  constructor(
    private readonly ms: number,
    downstream?: AbortSignal,
  ) {
    if (downstream?.aborted) this.stop(new DownstreamCancelled('the client cancelled the request'));
    downstream?.addEventListener(
      'abort',
      () => this.stop(new DownstreamCancelled('the client cancelled the request')),
      {
        once: true,
      },
    );
    this.arm();
  }

  private arm(): void {
    clearTimeout(this.timer);
    if (this.paused === 0 && !this.signal.aborted) {
      this.timer = setTimeout(() => this.stop(new UpstreamTimeout(this.ms)), this.ms);
    }
  }

  /** The upstream showed progress: it has another `ms` from now. */
  progressed(): void {
    this.arm();
  }

  pause(): void {
    this.paused++;
    clearTimeout(this.timer);
  }

  resume(): void {
    this.paused = Math.max(0, this.paused - 1);
    this.arm();
  }

  stop(reason: Error): void {
    clearTimeout(this.timer);
    if (!this.signal.aborted) this.controller.abort(reason);
  }

  /**
   * Settles with the operation, or rejects as soon as the guard stops it.
   * `late` receives what the operation yields after that (a lease nobody
   * will end otherwise), so it can be given back.
   */
  async race<T>(operation: Promise<T>, late?: (value: T) => void): Promise<T> {
    if (this.signal.aborted) {
      if (late) operation.then(late, () => undefined);
      throw this.signal.reason;
    }
    let onAbort: () => void = () => undefined;
    const stopped = new Promise<never>((_, reject) => {
      onAbort = () => reject(this.signal.reason);
      this.signal.addEventListener('abort', onAbort, { once: true });
    });
    // The caller owns what the race returned; only what it never saw goes to `late`.
    let delivered = false;
    try {
      const value = await Promise.race([operation, stopped]);
      delivered = true;
      return value;
    } finally {
      this.signal.removeEventListener('abort', onAbort);
      if (!delivered && late) operation.then(late, () => undefined);
    }
  }

  done(): void {
    clearTimeout(this.timer);
  }
}
