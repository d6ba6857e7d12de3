import { onStop, Stop, type Stoppable } from './stop.js';

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
  /**
   * What stops the operation: a Stop (stop.ts), cheap on the hot path and
   * accepted by undici as a request's signal. `signal` is the same as an
   * AbortSignal, for what wants one (the SDK), made only when asked for.
   */
  readonly halt = new Stop();
  private timer: NodeJS.Timeout | undefined;
  private paused = 0;

  constructor(
    private readonly ms: number,
    downstream?: Stoppable,
  ) {
    const cancelled = () => this.stop(new DownstreamCancelled('the client cancelled the request'));
    if (downstream?.aborted) cancelled();
    else if (downstream) onStop(downstream, cancelled);
    this.arm();
  }

  get signal(): AbortSignal {
    return this.halt.signal;
  }

  private arm(): void {
    clearTimeout(this.timer);
    if (this.paused === 0 && !this.halt.aborted) {
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
    this.halt.abort(reason);
  }

  /**
   * Settles with the operation, or rejects as soon as the guard stops it.
   * `late` receives what the operation yields after that (a lease nobody
   * will end otherwise), so it can be given back.
   */
  race<T>(operation: Promise<T>, late?: (value: T) => void): Promise<T> {
    const { halt } = this;
    if (halt.aborted) {
      if (late) operation.then(late, () => undefined);
      return Promise.reject(halt.reason);
    }
    // One promise for the race (issue 13: a promise for the stop, Promise.race's and the async
    // function's were three per call). The caller owns what the race returned; only what it
    // never saw goes to `late`.
    return new Promise<T>((resolve, reject) => {
      let settled = false;
      // A stop settles the race a microtask later, as Promise.race did: an operation that had
      // already resolved then wins, and its value is the caller's.
      const off = halt.listen(() =>
        queueMicrotask(() => {
          if (settled) return;
          settled = true;
          reject(halt.reason);
        }),
      );
      operation.then(
        (value) => {
          off();
          if (settled) {
            late?.(value);
            return;
          }
          settled = true;
          resolve(value);
        },
        (err) => {
          off();
          if (settled) return;
          settled = true;
          reject(err);
        },
      );
    });
  }

  done(): void {
    clearTimeout(this.timer);
  }
}
